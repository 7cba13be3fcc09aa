"""Sources other than a path: float16 and bfloat16 arrays, buffer-protocol
objects, bad input, options, progress, and the interpreter released while
the engine runs. Reference numbers come from the same arrays written to a
safetensors file by the library's writer and analysed by the CLI."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import specscope
from specscope import _source
from specscope import _specscope as engine

from conftest import assert_rows_match, cli_json


def seeded(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(dtype)


# Awkward sizes: square, tall, wide, a single row, odd.
SHAPES = {
    "a.weight": (64, 64),
    "b.weight": (65, 33),
    "c.weight": (17, 129),
    "d.weight": (1, 40),
}


def test_float16_dict_matches_the_cli_on_the_same_file(tmp_path):
    arrays = {k: seeded(s, np.float16, i) for i, (k, s) in enumerate(SHAPES.items())}
    path = tmp_path / "f16.safetensors"
    engine.write_snapshot(str(path), _source.resolve(arrays), {})
    want = cli_json("analyze", str(path), "--backend", "cpu")
    df = specscope.analyze(arrays, backend="cpu")
    assert list(df["dtype"]) == ["F16"] * 4
    assert_rows_match(df, want["layers"], skip={"file"})


def test_bfloat16_pair_is_read_as_bfloat16(tmp_path):
    f32 = seeded((48, 80), np.float32, 3)
    # bfloat16 = the high 16 bits of the f32 (truncation; any rounding does).
    words = (f32.view(np.uint32) >> 16).astype(np.uint16)
    arrays = {"w": (words, "bfloat16")}
    path = tmp_path / "bf16.safetensors"
    engine.write_snapshot(str(path), _source.resolve(arrays), {})
    want = cli_json("analyze", str(path), "--backend", "cpu")
    df = specscope.analyze(arrays, backend="cpu")
    assert df.iloc[0]["dtype"] == "BF16"
    assert_rows_match(df, want["layers"], skip={"file"})
    # The bfloat16 values are the f32 ones to 3 significant digits: the
    # spectral norm agrees to the format's 2^-8 relative precision.
    f32_norm = np.linalg.norm(f32.astype(np.float64), 2) ** 2
    assert abs(df.iloc[0]["lambda_max"] / f32_norm - 1) < 2**-6


def test_buffer_protocol_and_noncontiguous_inputs():
    base = seeded((40, 30), np.float32, 5)
    ref = specscope.analyze({"w": base}, backend="cpu")
    import array

    flat = array.array("f", base.ravel().tolist())
    as_buffer = specscope.analyze(
        {"w": np.asarray(memoryview(flat)).reshape(40, 30)}, backend="cpu"
    )
    transposed = specscope.analyze({"w": np.asfortranarray(base)}, backend="cpu")
    for df in (as_buffer, transposed):
        assert df.iloc[0]["alpha"] == ref.iloc[0]["alpha"]
        assert df.iloc[0]["lambda_max"] == ref.iloc[0]["lambda_max"]


def test_bad_input_names_the_tensor():
    good = seeded((16, 16), np.float32, 1)
    with pytest.raises(
        specscope.SpecscopeError, match="tensor `layer.bad`: str is not an array"
    ):
        specscope.analyze({"ok": good, "layer.bad": "abc"})
    with pytest.raises(specscope.SpecscopeError, match="tensor `obj`: numpy type \\|O"):
        specscope.analyze({"ok": good, "obj": np.array([[1, "x"]], dtype=object)})
    with pytest.raises(specscope.SpecscopeError, match="tensor `big`: big-endian"):
        specscope.analyze({"big": good.astype(">f4")})
    with pytest.raises(
        specscope.SpecscopeError,
        match="tensor `p`: given as BF16, but its elements have 4 bytes",
    ):
        specscope.analyze({"p": (good, "bfloat16")})
    nan = good.copy()
    nan[3, 4] = np.nan
    with pytest.warns(specscope.SpecscopeWarning, match="`nan.weight`"):
        df = specscope.analyze({"ok": good, "nan.weight": nan}, backend="cpu")
    assert df.set_index("name").loc["nan", "error"]  # the row says why
    with pytest.raises(
        specscope.SpecscopeError,
        match="<memory>: tensor `nan.weight`: 1 non-finite values",
    ):
        specscope.analyze(
            {"ok": good, "nan.weight": nan}, backend="cpu", errors="raise"
        )
    with pytest.raises(specscope.SpecscopeError, match="no weight matrix"):
        specscope.analyze({"bias": np.ones(8, np.float32)})
    with pytest.raises(specscope.SpecscopeError, match="no such file"):
        specscope.analyze("/nonexistent/model.safetensors")


def test_options_are_checked():
    w = {"w": seeded((8, 8), np.float32, 0)}
    with pytest.raises(TypeError, match="unexpected option.*topk"):
        specscope.analyze(w, topk=3)
    with pytest.raises(specscope.SpecscopeError, match="include=.*not a valid regex"):
        specscope.analyze(w, include="(")
    with pytest.raises(
        specscope.SpecscopeError, match='method="fast": expected one of auto, exact'
    ):
        specscope.analyze(w, method="fast")
    with pytest.raises(specscope.SpecscopeError, match="threads=0"):
        specscope.analyze(w, threads=0)
    df = specscope.analyze(
        {"x.weight": w["w"], "y.weight": w["w"]}, include="^x", backend="cpu"
    )
    assert list(df["name"]) == ["x"]


def test_progress_callback_sees_every_matrix():
    arrays = {k: seeded(s, np.float32, i) for i, (k, s) in enumerate(SHAPES.items())}
    events = []
    specscope.analyze(arrays, backend="cpu", progress=lambda *e: events.append(e))
    assert events[0][0] == "start" and events[0][1] == 4
    assert sorted(e[1] for e in events if e[0] == "done") == ["a", "b", "c", "d"]
    assert events[-1] == ("finish",)


def test_the_interpreter_runs_while_the_engine_does():
    # Enough work for a few hundred milliseconds on one core.
    arrays = {f"m{i}.weight": seeded((700, 700), np.float32, i) for i in range(4)}
    done = threading.Event()

    def run():
        specscope.analyze(arrays, backend="cpu", threads=1)
        done.set()

    t = threading.Thread(target=run)
    t.start()
    ticks = 0
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    t.join()
    # Held interpreter: the loop could not run until the call returned
    # (a tick or two). Released: it ran throughout.
    assert ticks > 20, ticks
