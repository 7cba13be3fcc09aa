"""The tracker on a small numpy-driven training run: gradient descent on
a low-rank teacher, the weights updated in place, snapshots every 10
steps analysed in the background and handed to compare; and the drop
policy of a full queue."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import specscope

from conftest import assert_rows_match, cli_json


def train(tracker, weights, steps=41, lr=0.3, seed=0):
    """Full-batch gradient descent of W (in place) towards a rank-4
    teacher: its top modes grow, as in THEORY.md's linear model."""
    rng = np.random.default_rng(seed)
    n, m = weights["layer.weight"].shape
    teacher = (rng.standard_normal((n, 4)) @ rng.standard_normal((4, m))) / np.sqrt(m)
    x = rng.standard_normal((m, 256)) / np.sqrt(m)
    for step in range(steps):
        w = weights["layer.weight"]
        grad = ((w - teacher) @ x) @ x.T
        w -= (lr * grad).astype(w.dtype)  # in place: the tracker must copy
        tracker.step(step)


def test_tracker_history_and_compare(tmp_path):
    rng = np.random.default_rng(1)
    weights = {
        "layer.weight": (0.01 * rng.standard_normal((96, 48))).astype(np.float32)
    }
    with specscope.Tracker(
        weights, every=10, directory=str(tmp_path), backend="cpu"
    ) as tr:
        train(tr, weights)
        history = tr.history()
        dynamics = tr.compare(modes=False)
    assert tr.steps == [0, 10, 20, 30, 40]
    assert list(history["step"]) == [0, 10, 20, 30, 40]
    # The teacher's four modes emerge from the noise: λ_max grows.
    lam = history["lambda_max"].to_numpy()
    assert np.all(np.diff(lam) > 0), lam
    assert sorted(set(dynamics["t"])) == [0.0, 10.0, 20.0, 30.0, 40.0]
    # The snapshots written are what the CLI compares: same numbers.
    want = cli_json("compare", str(tmp_path), "--no-modes", "--backend", "cpu")
    assert_rows_match(dynamics, want["series"])
    # A given directory is kept.
    assert len(list(tmp_path.glob("step-*.safetensors"))) == 5


def test_tracker_removes_its_own_directory():
    weights = {"w": np.eye(8, dtype=np.float32)}
    tr = specscope.Tracker(weights, every=1, history=False, backend="cpu")
    tr.step()
    tr.wait()
    d = tr.directory
    import os

    assert len(os.listdir(d)) == 1
    tr.close()
    assert not os.path.exists(d)


def test_drop_policy_bounds_the_queue():
    weights = {"w": np.eye(8, dtype=np.float32)}
    tr = specscope.Tracker(weights, every=1, queue_size=1, policy="drop", backend="cpu")
    started, release = threading.Event(), threading.Event()
    processed = []

    def slow(step, arrays):
        started.set()
        release.wait()
        processed.append(step)

    tr._process = slow
    assert tr.snapshot(0)  # taken by the worker, which blocks
    assert started.wait(10)
    assert tr.snapshot(1)  # fills the queue (size 1)
    with pytest.warns(specscope.SpecscopeWarning, match="step 2 dropped"):
        assert not tr.snapshot(2)
    assert tr.dropped == 1
    release.set()
    tr.close()
    assert processed == [0, 1]
    assert tr.steps == [0, 1]


def test_worker_errors_reach_the_loop():
    tr = specscope.Tracker(lambda: {"w": "not an array"}, every=1, backend="cpu")
    with pytest.raises(specscope.SpecscopeError, match="tensor `w`"):
        tr.step()
    tr.close()


def test_tracker_checks_its_options():
    with pytest.raises(TypeError, match="unexpected option"):
        specscope.Tracker({}, every=1, bakend="cpu")
    with pytest.raises(ValueError, match="policy"):
        specscope.Tracker({}, every=1, policy="wait")
