"""analyze, summary and predict against the CLI: the same columns and the
same numbers, exactly (the same engine computes both, and floats are
handed over as f64, never through decimal text), from a path and from
the same tensors already in memory."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest

import specscope
from specscope import _source
from specscope import _specscope as engine

from conftest import assert_rows_match, cli_json, load_safetensors, run_cli, same


@pytest.fixture(scope="module")
def minilm_json(minilm):
    return cli_json("analyze", str(minilm), "--backend", "cpu")


def test_minilm_path_matches_cli(minilm, minilm_json):
    df = specscope.analyze(minilm, backend="cpu")
    rows = minilm_json["layers"]
    assert len(rows) == 40  # MiniLM-L6: 6 layers × 6 matrices, 3 embeddings, the pooler
    n = assert_rows_match(df, rows)
    assert n == len(rows) * len(df.columns)
    header = next(
        csv.reader(
            io.StringIO(
                run_cli(
                    "analyze",
                    str(minilm),
                    "--backend",
                    "cpu",
                    "--format",
                    "csv",
                    "--quiet",
                ).stdout
            )
        )
    )
    assert list(df.columns) == header


def test_minilm_in_memory_matches_cli(minilm, minilm_json):
    tensors = load_safetensors(minilm)
    df = specscope.analyze(tensors, backend="cpu")
    # Every column but the file's name: in memory there is no file.
    assert_rows_match(df, minilm_json["layers"], skip={"file"})
    assert set(df["file"]) == {"<memory>"}
    s = specscope.summary(df)
    for k, v in minilm_json["summary"].items():
        assert s.iloc[0][k] == v or (v is None and np.isnan(s.iloc[0][k])), k


def test_in_memory_tensors_are_read_in_place(minilm):
    tensors = load_safetensors(minilm)
    items = _source.resolve(tensors)
    # Every float tensor (the int64 position ids are skipped, as in a file).
    want = {
        name: arr.__array_interface__["data"][0]
        for name, arr, _ in items
        if arr.dtype == np.float32
    }
    assert len(want) == 103
    got = dict(engine.buffer_addresses(items))
    assert got == want  # the engine reads each array's own bytes


def test_summary_matches_cli(minilm, minilm_json):
    s = specscope.summary(minilm, backend="cpu")
    assert len(s) == 1
    assert s.iloc[0]["analysed"] == minilm_json["summary"]["analysed"] == 40
    assert s.iloc[0]["alpha"] == minilm_json["summary"]["alpha"]


def test_predict_matches_cli(minilm):
    want = cli_json(
        "predict",
        str(minilm),
        "--rank",
        "64",
        "--bits",
        "4",
        "--backend",
        "cpu",
        "--include",
        "layer\\.0\\.",
    )
    df = specscope.predict(
        load_safetensors(minilm), rank=64, bits=4, backend="cpu", include=r"layer\.0\."
    )
    assert len(df) == 6
    assert_rows_match(df, want["rows"])
    assert df.attrs["report"]["compression"] == want["compression"]


def test_predict_rejects_what_the_cli_rejects():
    w = {"w": np.ones((4, 4), np.float32)}
    with pytest.raises(specscope.SpecscopeError, match="rank, sparsity or bits"):
        specscope.predict(w)
    with pytest.raises(specscope.SpecscopeError, match="sparsity=1.5"):
        specscope.predict(w, sparsity=1.5)
    with pytest.raises(specscope.SpecscopeError, match="bits"):
        specscope.predict(w, bits=1)
    with pytest.raises(specscope.SpecscopeError, match="granularity"):
        specscope.predict(w, bits=4, granularity="row")


def test_predict_losses_match_cli(minilm, tmp_path):
    """``losses=`` reads the loss curve as ``--losses`` does: ΔL in the
    loss's units, the same numbers."""
    losses = tmp_path / "losses.csv"
    losses.write_text("step,train_loss,val_loss\n0,9.5,9.9\n100,3.1,3.4\n200,2.2,2.6\n")
    common = ["--rank", "64", "--backend", "cpu", "--include", "embeddings"]
    want = cli_json("predict", str(minilm), *common, "--losses", str(losses))
    df = specscope.predict(
        minilm, rank=64, backend="cpu", include="embeddings", losses=losses
    )
    assert_rows_match(df, want["rows"])
    assert df["dl_loss"].notna().any()  # position_embeddings: the one valid prediction
    got = df.attrs["report"]
    assert got["losses"] == want["losses"]
    for k in ("loss", "loss_drop", "dl_loss"):
        assert same(got["summary"][k], want["summary"][k]), k
    assert got["summary"]["loss"] == 2.6  # val_loss comes first, its last value

    want = cli_json(
        "predict",
        str(minilm),
        *common,
        "--losses",
        str(losses),
        "--loss-column",
        "train_loss",
    )
    df = specscope.predict(
        minilm,
        rank=64,
        backend="cpu",
        include="embeddings",
        losses=losses,
        loss_column="train_loss",
    )
    assert_rows_match(df, want["rows"])
    assert df.attrs["report"]["summary"]["loss"] == 2.2

    w = {"w": np.ones((4, 4), np.float32)}
    with pytest.raises(specscope.SpecscopeError, match="loss_column needs losses"):
        specscope.predict(w, rank=2, loss_column="loss")
    with pytest.raises(
        specscope.SpecscopeError, match="no column `nope`; columns: step"
    ):
        specscope.predict(w, rank=2, losses=losses, loss_column="nope")
