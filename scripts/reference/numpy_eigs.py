"""Reference eigenvalues of W^T W / W W^T for a few checkpoint tensors, computed with plain numpy in float64.

Commands used (run from the repo root, 2-core x86_64 machine):

    /work/venv-ww/bin/python scripts/reference/numpy_eigs.py minilm
    /work/venv-ww/bin/python scripts/reference/numpy_eigs.py wordllama

Versions: numpy 2.4.6 (bundled scipy-openblas 0.3.31), safetensors 0.8.0, python 3.11.7. No torch.

Each tensor is read with the safetensors numpy backend, cast to float64 (F16 and F32 convert
exactly), and the eigenvalues of the smaller Gram matrix (W^T W if rows >= cols, else W W^T)
are computed with numpy.linalg.eigvalsh and sorted descending.  Output:
fixtures/<model>/numpy_eigs.json = {"<tensor name>": [eigenvalues, JSON floats with repr()
round-trip precision], ..., "command": "...", "numpy_version": "..."}.
Note: these are raw eigvalsh outputs; the tiniest ones may be slightly negative (rounding).
"""
import json, os, sys

import numpy as np
from safetensors import safe_open

CHECKPOINTS = os.environ.get("SPECSCOPE_CHECKPOINTS", ".cache/checkpoints")
MODELS = {
    "minilm": ("minilm/model.safetensors", [
        "encoder.layer.0.attention.self.query.weight",   # 384 x 384
        "encoder.layer.3.intermediate.dense.weight",     # 1536 x 384
        "encoder.layer.5.output.dense.weight",           # 384 x 1536
        "embeddings.position_embeddings.weight",         # 512 x 384
    ]),
    "wordllama": ("wordllama/l2_supercat_256.safetensors", None),  # None: every tensor (just one, F16)
}


def gram_eigs(W):
    W = W.astype(np.float64)
    G = W.T @ W if W.shape[0] >= W.shape[1] else W @ W.T
    return np.sort(np.linalg.eigvalsh(G))[::-1]


def main(model):
    rel_path, names = MODELS[model]
    out = {}
    with safe_open(os.path.join(CHECKPOINTS, rel_path), framework="np") as f:
        for name in names or list(f.keys()):
            W = f.get_tensor(name)
            out[name] = [float(x) for x in gram_eigs(W)]
            print(f"{name}: {W.dtype} {W.shape} -> {len(out[name])} eigenvalues, max {out[name][0]!r}")
    out["command"] = f"python scripts/reference/numpy_eigs.py {model}"
    out["numpy_version"] = np.__version__
    os.makedirs(os.path.join("fixtures", model), exist_ok=True)
    with open(os.path.join("fixtures", model, "numpy_eigs.json"), "w") as fh:
        json.dump(out, fh)
        fh.write("\n")


if __name__ == "__main__":
    for m in sys.argv[1:] or list(MODELS):
        main(m)
