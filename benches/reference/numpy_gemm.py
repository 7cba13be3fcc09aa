"""numpy's f64 matrix products, timed for benches/kernels.rs.

Times, on the 4096x2048 matrix X that benches/kernels.rs builds (X[i, j] =
((7i + 13j) mod 101)/101 - 0.5), the products that bench times for
specscope: X @ X.T written to a fresh array (OpenBLAS dsyrk when numpy
sees the transpose, dgemm otherwise) and X @ Y with Y a contiguous copy of
X.T (dgemm). One untimed warm-up each, then the median of ROUNDS runs.
Prints one line:

    numpy_gemm_gflops threads <t> syrk <useful GFLOP/s> gemm <GFLOP/s>

where syrk counts the useful work of the lower triangle (4096^2 * 2048
multiply-adds) and gemm the full product (twice that). The thread count
is what OpenBLAS was told through the environment.

Command (as benches/kernels.rs runs it, once per thread count):

    OPENBLAS_NUM_THREADS=T $PEER_PYTHON benches/reference/numpy_gemm.py ROUNDS
"""
import os
import sys
import time

import numpy as np


def median(v):
    v = sorted(v)
    return v[len(v) // 2]


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    m, k = 4096, 2048
    i = np.arange(m)[:, None]
    j = np.arange(k)[None, :]
    x = ((i * 7 + j * 13) % 101) / 101.0 - 0.5
    y = np.ascontiguousarray(x.T)
    flops = 2.0 * m * m * k
    syrk, gemm = [], []
    x @ x.T
    x @ y
    for _ in range(rounds):
        t0 = time.perf_counter()
        x @ x.T
        syrk.append(flops / 2 / (time.perf_counter() - t0) / 1e9)
        t0 = time.perf_counter()
        x @ y
        gemm.append(flops / (time.perf_counter() - t0) / 1e9)
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"numpy_gemm_gflops threads {threads} syrk {median(syrk):.1f} gemm {median(gemm):.1f}")


if __name__ == "__main__":
    main()
