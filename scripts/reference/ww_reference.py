"""Reference output of WeightWatcher's analyze() (all defaults) on a safetensors model directory.

Command used for fixtures/minilm (run from the repo root, 2-core x86_64 machine, no GPU):

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
      /work/venv-ww/bin/python scripts/reference/ww_reference.py \
      .cache/checkpoints/minilm fixtures/minilm

Versions: weightwatcher 0.7.7, torch 2.15.0+cu132 (CUDA not available -> WW uses SciPy SVD),
numpy 2.4.6, scipy 1.17.1, pandas 3.1.1, safetensors 0.8.0, python 3.11.7.
(Virtualenv: python3 -m venv /work/venv-ww && /work/venv-ww/bin/pip install weightwatcher torch numpy)

WeightWatcher only reads a *directory* holding files named model*.safetensors; it is used the way
a user would: ww.WeightWatcher(model=DIR).analyze().  Writes to OUT_DIR:
  ww_details.csv            details DataFrame, all columns, index=False, float_format='%.17g'
  ww_summary.json           get_summary() (means over all rows of details)
  ww_evals_<layer>.json     the exact eigenvalues analyze() fitted (ww_layer.evals, ascending)
                            for the layers named with --evals (default: the numpy_eigs.py tensors)
and prints the median wall time of --runs analyze() calls (import and model load excluded).
"""
import argparse, json, logging, os, statistics, sys, time

import numpy as np
import weightwatcher as ww

DEFAULT_EVALS = ["encoder.layer.0.attention.self.query", "encoder.layer.3.intermediate.dense",
                 "encoder.layer.5.output.dense", "embeddings.position_embeddings"]

ap = argparse.ArgumentParser()
ap.add_argument("model_dir")
ap.add_argument("out_dir")
ap.add_argument("--evals", nargs="*", default=DEFAULT_EVALS, help="layer names whose eigenvalues to dump")
ap.add_argument("--runs", type=int, default=5, help="timed analyze() runs (0: no timing)")
args = ap.parse_args()
logging.disable(logging.WARNING)  # WW logs INFO/WARNING chatter through the root logger
os.makedirs(args.out_dir, exist_ok=True)

watcher = ww.WeightWatcher(model=args.model_dir)

# Untimed run that also records the eigenvalues each layer was fitted on (apply_esd sets ww_layer.evals).
captured = {}
orig_apply_esd = watcher.apply_esd
def recording_apply_esd(ww_layer, params=None):
    out = orig_apply_esd(ww_layer, params)
    if ww_layer.name in args.evals:
        captured[ww_layer.name] = (int(ww_layer.layer_id), np.array(ww_layer.evals, dtype=np.float64))
    return out
watcher.apply_esd = recording_apply_esd
details = watcher.analyze()
watcher.apply_esd = orig_apply_esd

times = []
for _ in range(args.runs):
    t0 = time.perf_counter()
    again = watcher.analyze()
    times.append(time.perf_counter() - t0)
    assert again.equals(details), "analyze() is not deterministic"

details.to_csv(os.path.join(args.out_dir, "ww_details.csv"), index=False, float_format="%.17g")
summary = {k: float(v) for k, v in watcher.get_summary(details).items()}
with open(os.path.join(args.out_dir, "ww_summary.json"), "w") as f:
    json.dump(summary, f, indent=1)
    f.write("\n")
for name, (layer_id, evals) in captured.items():
    with open(os.path.join(args.out_dir, f"ww_evals_{name}.json"), "w") as f:
        json.dump({"layer": name, "layer_id": layer_id, "order": "ascending",
                   "source": "ww_layer.evals after WeightWatcher.apply_esd inside analyze()",
                   "evals": evals.tolist()}, f)
        f.write("\n")

print(f"{len(details)} layers; summary {summary}")
if times:
    print(f"analyze() wall time over {len(times)} runs: median {statistics.median(times):.3f} s "
          f"(min {min(times):.3f}, max {max(times):.3f}); all: {[round(t, 3) for t in times]}")
import pandas, scipy, safetensors, torch
print(f"python {sys.version.split()[0]}, weightwatcher {ww.__version__}, torch {torch.__version__} "
      f"(cuda {torch.cuda.is_available()}), numpy {np.__version__}, scipy {scipy.__version__}, "
      f"pandas {pandas.__version__}, safetensors {safetensors.__version__}")
