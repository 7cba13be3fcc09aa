#!/usr/bin/env bash
# Runs specscope's benchmarks and the named baselines side by side on this
# machine and prints the ratios that go in the README's performance table:
#   - end-to-end `specscope analyze` on MiniLM vs WeightWatcher's analyze() alone;
#   - exact spectrum of a 768×3072 f32 matrix vs numpy.linalg.eigvalsh on its Gram;
#   - peak RSS of analyze on a 1.7 GB checkpoint vs the bound (largest tensor in f32 + 512 MiB).
# Needs a Python with weightwatcher, torch and numpy (default /work/venv-ww/bin/python, or $PEER_PYTHON):
#   python3 -m venv /work/venv-ww && /work/venv-ww/bin/pip install weightwatcher torch numpy threadpoolctl
set -euo pipefail
cd "$(dirname "$0")/.."
py="${PEER_PYTHON:-/work/venv-ww/bin/python}"
ckpt="${SPECSCOPE_CHECKPOINTS:-.cache/checkpoints}"
scripts/fetch-checkpoints.sh "$ckpt" >/dev/null
cargo build --release --quiet
# The peers run with OpenBLAS's own CPU detection (the machine may pin an old core type).
peer() { env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE "$py" "$@"; }

echo "== WeightWatcher analyze() on MiniLM (peer baseline)"
ww=$(peer benches/reference/ww_analyze_bench.py "$ckpt/minilm" | awk '/ww_analyze_median_s/ {print $2}')
echo "== specscope analyze on MiniLM (whole process)"
cargo bench --quiet --bench e2e 2>/dev/null | tee /tmp/e2e-bench.txt
ours=$(sed -n 's/.*--backend cpu .*[2-9] thread(s): median \([0-9.]*\) s.*/\1/p' /tmp/e2e-bench.txt | tail -n 1)
ours_auto=$(sed -n 's/.*--backend auto.*thread(s): median \([0-9.]*\) s.*/\1/p' /tmp/e2e-bench.txt | tail -n 1)
echo "== numpy eigvalsh (baseline)"
peer benches/reference/numpy_eigvalsh_bench.py | tee /tmp/numpy-bench.txt
np_eig=$(awk -F'eigvalsh alone median ' '/768x768/ {split($2, a, " "); print a[1]}' /tmp/numpy-bench.txt)
np_all=$(awk -F'cast\\+Gram\\+eigvalsh median ' '/768x768/ {split($2, a, " "); print a[1]}' /tmp/numpy-bench.txt)
echo "== specscope exact spectrum kernels"
cargo bench --quiet --bench spectrum 2>/dev/null | tee /tmp/spectrum-bench.txt
s768=$(awk '$1 == "768×3072" && $2 == "all" {print $5}' /tmp/spectrum-bench.txt)
echo "== peak memory"
mem=$(cargo test --release --quiet --test memory -- --nocapture 2>&1 | grep -o 'peak RSS [0-9]* MiB' | awk '{print $3}')

echo
echo "| benchmark | specscope | baseline | ratio |"
echo "|---|---|---|---|"
awk -v o="$ours" -v a="$ours_auto" -v w="$ww" 'BEGIN {printf "| analyze MiniLM end to end (median of 5), --backend cpu (auto) | %.3f s (%.3f s) | WeightWatcher analyze() alone %.3f s | %.1f× (%.1f×) faster |\n", o, a, w, w / o, w / a}'
awk -v s="$s768" -v e="$np_eig" -v a="$np_all" 'BEGIN {printf "| exact spectrum of a 768×3072 f32 matrix (Gram + eigenvalues) | %.1f ms | numpy eigvalsh on the 768×768 Gram %.1f ms (Gram + eigvalsh %.1f ms) | %.2f× (%.2f×) |\n", s, e, a, e / s, a / s}'
awk -v m="$mem" 'BEGIN {printf "| peak RSS, analyze of a 1.7 GB checkpoint | %d MiB | bound: largest tensor in f32 + 512 MiB = 1152 MiB | %.0f%% of the bound |\n", m, 100 * m / 1152}'
