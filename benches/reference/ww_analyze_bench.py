"""Peer baseline: WeightWatcher's analyze() alone (import and model load excluded), median of 5
after one untimed warm-up call, on a safetensors model directory.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
      /work/venv-ww/bin/python benches/reference/ww_analyze_bench.py .cache/checkpoints/minilm

Set-up: python3 -m venv /work/venv-ww && /work/venv-ww/bin/pip install weightwatcher torch numpy
(weightwatcher 0.7.7, torch 2.15.0 with CUDA unavailable, so WeightWatcher uses SciPy's f64 SVD).
Prints one line: `ww_analyze_median_s <seconds>`.
"""
import logging, statistics, sys, time

import weightwatcher as ww

logging.disable(logging.WARNING)
watcher = ww.WeightWatcher(model=sys.argv[1])
watcher.analyze()  # warm-up: lazy tensor reads, BLAS threads
times = []
for _ in range(5):
    t0 = time.perf_counter()
    watcher.analyze()
    times.append(time.perf_counter() - t0)
print("ww_analyze_runs_s", [round(t, 3) for t in times], file=sys.stderr)
print(f"ww_analyze_median_s {statistics.median(times):.4f}")
