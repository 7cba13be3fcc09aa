"""numpy's exact spectrum of a large matrix, timed for benches/partial.rs.

Reads an n x m float32 matrix (raw little-endian, row-major) and times, once,
after one untimed warm-up of the same work: cast to float64, the Gram
A^T A (m x m, OpenBLAS dgemm/dsyrk through `@`), and numpy.linalg.eigvalsh
(LAPACK dsyevd without vectors: dsytrd + dsterf). Prints one line, the
total and then its two phases (the cast and the Gram; eigvalsh):

    numpy_exact_s <seconds> lambda_max <value> gram_s <seconds> eigvalsh_s <seconds>

Command (as benches/partial.rs runs it, once per round):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
      $PEER_PYTHON benches/reference/numpy_gram_eigvalsh.py FILE N M

Versions used for docs/performance.md: numpy 2.x with its bundled
scipy-openblas, python 3.11; threadpoolctl reports the BLAS and its threads
on stderr.
"""
import sys
import time

import numpy as np


def exact(a32):
    t0 = time.perf_counter()
    a = a32.astype(np.float64)
    g = a.T @ a
    t1 = time.perf_counter()
    ev = np.linalg.eigvalsh(g)
    return ev, t1 - t0, time.perf_counter() - t1


def main():
    path, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    a32 = np.fromfile(path, dtype="<f4", count=n * m).reshape(n, m)
    try:
        from threadpoolctl import threadpool_info

        for info in threadpool_info():
            print(f"threadpoolctl: {info.get('internal_api')} {info.get('version')} "
                  f"threads={info.get('num_threads')}", file=sys.stderr)
    except ImportError:
        pass
    exact(a32[: min(n, 2 * m), :])  # warm-up: BLAS threads, page faults
    t0 = time.perf_counter()
    ev, gram, eig = exact(a32)
    dt = time.perf_counter() - t0
    print(f"numpy_exact_s {dt:.4f} lambda_max {ev[-1]:.12e} gram_s {gram:.4f} eigvalsh_s {eig:.4f}")


if __name__ == "__main__":
    main()
