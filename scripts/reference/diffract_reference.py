"""Reference per-layer metrics from diffract-core 0.3.1, run through its own Python API.

Command used for fixtures/minilm/diffract_details.csv (run from the repo root, 2-core x86_64
machine, no GPU):

    ~/.pyenv/versions/3.12.1/bin/python -m venv /work/venvs/diffract
    /work/venvs/diffract/bin/pip install diffract-core==0.3.1
    /work/venvs/diffract/bin/python scripts/reference/diffract_reference.py \
      /work/main/.cache/checkpoints/minilm/model.safetensors fixtures/minilm/diffract_details.csv \
      --runs 3

Versions: diffract-core 0.3.1, python 3.12.1, numpy 2.5.5, scipy 1.18.1, powerlaw 1.5,
mpmath 1.4.1. diffract-core pulls in no torch and no taichi, so its SVD is numpy's
`linalg.svd` and its tail fits take its `powerlaw` library path (`fit_method="auto"` resolves
to "powerlaw" without taichi).

What it does:
  * reads every 2-D floating tensor of the safetensors file with numpy (header JSON + raw
    little-endian data; no safetensors package needed) and upcasts it to float64 (exact for
    F32/F16/BF16 values), so diffract's SVD runs in f64 like specscope's exact spectrum;
  * adds them as one model, `{name: array}`, to `Session(profile="ram")` (diffract's
    framework-free NumpyDictExtractor; each 2-D float array is one DENSE parameter);
  * `session.compute.apply(*FIELDS)` and `session.results.export_metrics(*FIELDS)`;
  * the truncated power law (`tpl_*`) costs minutes per 384-wide matrix in diffract (a
    Nelder-Mead fit with mpmath's incomplete gamma per candidate xmin), so it runs on the
    `--tpl` layers only (default: 4); other rows leave those columns empty;
  * writes one row per matrix: `name,rows,cols` and the fields, floats with repr() (17
    significant digits, round-trip exact);
  * with `--runs K`, times K fresh end-to-end runs of the default field set (weights already
    in memory, Session construction + apply + export included, tpl excluded) and prints the
    median; the tpl fit of each `--tpl` layer is timed once, as it runs for the CSV.

diffract's permutation null (`weights_rand`) is numpy `default_rng(42).shuffle` of the flat
index; its draw cannot be reproduced outside numpy, so the null-dependent columns (mp_*,
tw_*) are compared within a tolerance, see docs/diffract-compat.md.
"""
import argparse
import csv
import json
import statistics
import struct
import sys
import time

import numpy as np

import diffract
from diffract import Session

FIELDS = [
    "greater_dim", "lower_dim", "aspect_ratio", "weights_std", "esd_max", "esd_min",
    "effective_rank", "hard_rank", "stable_rank",
    "mp_bulk_std", "mp_esd_max", "mp_esd_min", "mp_num_spikes", "mp_soft_rank", "mp_ks",
    "mp_concentration", "mp_presence", "tw_esd_bound", "tw_num_spikes",
    "expon_lambda", "expon_esd_xmin", "expon_ks",
]
TPL_FIELDS = ["tpl_alpha", "tpl_lambda", "tpl_esd_xmin", "tpl_ks"]
DEFAULT_TPL = [
    "embeddings.position_embeddings.weight",
    "encoder.layer.0.attention.self.query.weight",
    "encoder.layer.3.intermediate.dense.weight",
    "encoder.layer.5.output.dense.weight",
]
DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2"}


def read_safetensors(path):
    """Every 2-D floating tensor of the file, as float64, by name."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or len(info["shape"]) != 2:
            continue
        lo, hi = info["data_offsets"]
        raw = data[lo:hi]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif info["dtype"] in DTYPES:
            arr = np.frombuffer(raw, dtype=DTYPES[info["dtype"]])
        else:
            continue
        out[name] = arr.reshape(info["shape"]).astype(np.float64)
    return out


def run(weights, fields):
    session = Session(profile="ram")
    session.models.add(weights, model_id="minilm")
    session.compute.apply(*fields)
    return session.results.export_metrics(*fields, export_format="dict")


def by_name(result):
    return {v["metadata"]["name"]: v["fields"] for v in result.values()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("safetensors")
    ap.add_argument("out_csv")
    ap.add_argument("--tpl", nargs="*", default=DEFAULT_TPL, help="tensors to fit tpl_* on")
    ap.add_argument("--runs", type=int, default=0, help="timed end-to-end runs (0: none)")
    args = ap.parse_args()

    weights = read_safetensors(args.safetensors)
    rows = by_name(run(weights, FIELDS))
    tpl, tpl_times = {}, {}
    for name in args.tpl:
        t0 = time.perf_counter()
        tpl.update(by_name(run({name: weights[name]}, TPL_FIELDS)))
        tpl_times[name] = time.perf_counter() - t0

    with open(args.out_csv, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["name", "rows", "cols"] + FIELDS + TPL_FIELDS)
        for name in sorted(rows):
            vals = [rows[name].get(k) for k in FIELDS] + [tpl.get(name, {}).get(k) for k in TPL_FIELDS]
            shape = weights[name].shape
            w.writerow([name, shape[0], shape[1]] + ["" if v is None else repr(float(v)) for v in vals])
    print(f"diffract {diffract.__version__}, numpy {np.__version__}: {len(rows)} rows -> {args.out_csv}")

    if args.runs > 0:
        times = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            run(weights, FIELDS)
            times.append(time.perf_counter() - t0)
        print(f"default fields, all {len(weights)} matrices: median {statistics.median(times):.2f} s "
              f"(runs: {', '.join(f'{t:.2f}' for t in times)})")
    for name, t in tpl_times.items():
        print(f"tpl fit {name} {weights[name].shape}: {t:.1f} s (one run)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
