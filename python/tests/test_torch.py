"""torch inputs: modules, bfloat16 tensors, no copy of CPU float tensors,
and the tracker on a real optimizer loop. Skipped, with the reason
printed, when torch is not installed."""

from __future__ import annotations

import numpy as np
import pytest

import specscope
from specscope import _source
from specscope import _specscope as engine

torch = pytest.importorskip("torch", reason="SKIPPED: torch is not installed")


def model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(33, 64), torch.nn.ReLU(), torch.nn.Linear(64, 17)
    )


def test_module_is_its_weight_matrices():
    m = model()
    df = specscope.analyze(m, backend="cpu")
    assert list(df["tensor"]) == ["0.weight", "2.weight"]
    state = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    ref = specscope.analyze(state, backend="cpu")
    assert list(df["alpha"]) == list(ref["alpha"])


def test_cpu_float_tensors_are_not_copied():
    m = model()
    items = _source.resolve(m)
    got = dict(engine.buffer_addresses(items))
    want = {n: p.data_ptr() for n, p in m.named_parameters() if p.dim() >= 2}
    assert got == want


def test_bfloat16_tensor_matches_its_words():
    t = torch.randn(40, 24, generator=torch.Generator().manual_seed(2)).to(
        torch.bfloat16
    )
    words = t.view(torch.int16).numpy().view(np.uint16)
    a = specscope.analyze({"w": t}, backend="cpu")
    b = specscope.analyze({"w": (words, "bfloat16")}, backend="cpu")
    assert a.iloc[0]["dtype"] == "BF16"
    assert a.iloc[0]["lambda_max"] == b.iloc[0]["lambda_max"]
    assert dict(engine.buffer_addresses(_source.resolve({"w": t}))) == {
        "w": t.data_ptr()
    }


def test_tracker_in_an_optimizer_loop():
    m = model()
    opt = torch.optim.SGD(m.parameters(), lr=0.1)
    x = torch.randn(128, 33, generator=torch.Generator().manual_seed(3))
    y = torch.randn(128, 17, generator=torch.Generator().manual_seed(4))
    with specscope.Tracker(m, every=5, backend="cpu") as tr:
        for step in range(11):
            opt.zero_grad()
            torch.nn.functional.mse_loss(m(x), y).backward()
            opt.step()
            tr.step(step)
        h = tr.history()
        c = tr.compare(modes=False)
    assert sorted(set(h["step"])) == [0, 5, 10]
    assert len(c) == 3 * 2
