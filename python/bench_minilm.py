"""MiniLM's tensors already in memory, analysed from Python, against the
CLI on the same file, run side by side (alternating, so both see the same
machine load); target: Python within 1.1x of the CLI. Also shows that no
f32 input is copied: the engine's read address of every tensor is the
array's own data pointer, and the process's peak RSS grows by less than
the tensors' bytes.

    python python/bench_minilm.py [--runs 7] [--cli PATH] [--threads N]

The CLI is --cli, else $SPECSCOPE_BIN, else target/release/specscope
(``cargo build --release``), else the ``specscope`` command on PATH (the
wheel's, which adds the interpreter's start-up to every run). The
checkpoint is $SPECSCOPE_CHECKPOINTS/minilm/model.safetensors
(scripts/fetch-checkpoints.sh).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

import specscope
from specscope import _source
from specscope import _specscope as engine

REPO = Path(__file__).resolve().parents[1]


def load(path: Path) -> dict:
    """The tensors of a safetensors file as numpy arrays over one bytes
    object (no engine involved)."""
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    kinds = {"F32": "<f4", "F16": "<f2", "I64": "<i8"}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        s, e = info["data_offsets"]
        dt = np.dtype(kinds[info["dtype"]])
        out[name] = np.frombuffer(data, dt, (e - s) // dt.itemsize, 8 + n + s).reshape(
            info["shape"]
        )
    return out


def find_cli(given: str | None) -> list:
    for c in (given, os.environ.get("SPECSCOPE_BIN")):
        if c:
            return [c]
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    if (target / "release" / "specscope").is_file():
        return [str(target / "release" / "specscope")]
    exe = shutil.which("specscope")
    if exe:
        return [exe]
    sys.exit("no CLI: build it (cargo build --release) or pass --cli")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--cli")
    ap.add_argument("--threads", type=int)
    a = ap.parse_args()
    root = Path(
        os.environ.get("SPECSCOPE_CHECKPOINTS", REPO / ".cache" / "checkpoints")
    )
    path = root / "minilm" / "model.safetensors"
    if not path.is_file():
        sys.exit(f"{path} is missing: run scripts/fetch-checkpoints.sh")
    cli = find_cli(a.cli)
    threads = [] if a.threads is None else ["--threads", str(a.threads)]
    opts = {} if a.threads is None else {"threads": a.threads}

    tensors = load(path)
    f32 = sum(v.nbytes for v in tensors.values() if v.dtype == np.float32)
    items = _source.resolve(tensors)
    # The float tensors (the int64 position ids are skipped, as in a file).
    same = dict(engine.buffer_addresses(items)) == {
        n: arr.__array_interface__["data"][0]
        for n, arr, _ in items
        if arr.dtype == np.float32
    }
    print(f"checkpoint: {path} ({f32 / 2**20:.1f} MiB of F32 tensors)")
    print(f"CLI: {' '.join(cli)}")
    print(f"engine reads every tensor at the array's own address: {same}")

    rss_before = peak_rss_mb()
    specscope.analyze(tensors, backend="cpu", **opts)  # warm-up (page cache, allocator)
    rss_after = peak_rss_mb()
    cmd = [
        *cli,
        "analyze",
        str(path),
        "--backend",
        "cpu",
        "--format",
        "csv",
        "-o",
        os.devnull,
        "--quiet",
        *threads,
    ]
    subprocess.run(cmd, check=True)

    py_times, cli_times = [], []
    for _ in range(a.runs):
        t = time.perf_counter()
        df = specscope.analyze(tensors, backend="cpu", **opts)
        py_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        cli_times.append(time.perf_counter() - t)
    py, cl = statistics.median(py_times), statistics.median(cli_times)
    print(f"matrices: {len(df)}; runs: {a.runs} each, alternating")
    print(
        f"python, in memory: median {py:.3f} s (min {min(py_times):.3f}, max {max(py_times):.3f})"
    )
    print(
        f"CLI, from the file: median {cl:.3f} s (min {min(cli_times):.3f}, max {max(cli_times):.3f})"
    )
    print(f"ratio python/CLI: {py / cl:.3f} (target <= 1.1)")
    print(
        f"peak RSS: {rss_before:.0f} MiB with the tensors loaded, {rss_after:.0f} MiB after "
        f"the first analysis: +{rss_after - rss_before:.0f} MiB for "
        f"{f32 / 2**20:.0f} MiB of F32 input"
    )


if __name__ == "__main__":
    main()
