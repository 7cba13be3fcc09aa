"""Baseline timing of numpy.linalg.eigvalsh on a Gram matrix, for comparison with specscope.

Command used (2-core x86_64 machine, numpy's default BLAS = its bundled OpenBLAS):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
      /work/venv-ww/bin/python benches/reference/numpy_eigvalsh_bench.py

Versions: numpy 2.4.6 (scipy-openblas 0.3.31), threadpoolctl 3.8.0, python 3.11.7.

W is a seeded random 768x3072 float32 matrix (numpy default_rng(0), standard normal).
Two Gram matrices are timed, each as median of 5:
  * "W^T W"  (3072x3072, as the benchmark was specified; rank 768)
  * "W W^T"  (768x768, the smaller Gram, which is what specscope/numpy_eigs.py use)
For each: (a) cast to f64 + Gram product + eigvalsh, and (b) eigvalsh alone on the prebuilt f64 Gram.

Recorded (3 invocations, medians of 5; threadpoolctl: openblas 0.3.31 SkylakeX kernel, 2 threads,
AMD EPYC 2 cores; the 3072 case is noisy on this shared host):
  W^T W 3072x3072: cast+Gram+eigvalsh 1604 / 1803 / 1600 ms; eigvalsh alone 2099 / 1637 / 1411 ms
  W W^T   768x768: cast+Gram+eigvalsh 46.5 / 45.5 / 46.3 ms; eigvalsh alone 23.0 / 23.1 / 22.9 ms
"""
import os, statistics, sys, time

import numpy as np
from threadpoolctl import threadpool_info

REPEATS = 5


def median_time(fn):
    fn()  # warm-up (page faults, BLAS thread start); not counted
    ts = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), ts


def main():
    W = np.random.default_rng(0).standard_normal((768, 3072), dtype=np.float32)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, cpus {os.cpu_count()}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}, "
          f"OPENBLAS_L2_SIZE={os.environ.get('OPENBLAS_L2_SIZE')}")
    for info in threadpool_info():
        print(f"threadpoolctl: {info.get('internal_api')} {info.get('version')} "
              f"architecture={info.get('architecture')} threads={info.get('num_threads')} "
              f"{os.path.basename(info.get('filepath', ''))}")
    for label, gram in [("W^T W (3072x3072)", lambda A: A.T @ A), ("W W^T (768x768)", lambda A: A @ A.T)]:
        G = gram(W.astype(np.float64))
        full, full_ts = median_time(lambda: np.linalg.eigvalsh(gram(W.astype(np.float64))))
        eig, eig_ts = median_time(lambda: np.linalg.eigvalsh(G))
        print(f"{label}: cast+Gram+eigvalsh median {full * 1e3:.1f} ms {[round(t * 1e3, 1) for t in full_ts]}; "
              f"eigvalsh alone median {eig * 1e3:.1f} ms {[round(t * 1e3, 1) for t in eig_ts]}")


if __name__ == "__main__":
    main()
