#!/usr/bin/env bash
# GPU benchmark for a session lent a datacenter GPU (the `device` tool).
#
# Two steps, because the device machine has no Rust toolchain and no
# network:
#   here:    scripts/gpu-bench.sh prepare   # builds x86-64 binaries and
#            fetches the Vulkan loader debs into .gpu-bench/ and .gl/
#            (both git-ignored)
#   device:  run(command="bash scripts/gpu-bench.sh run",
#                carry=[".gpu-bench", ".gl"], timeout_s=600)
#
# `run` sets up the Vulkan loader as /work/.library/device/README.md says,
# runs the GPU tests on the real adapter (SPECSCOPE_REQUIRE_GPU=1), the
# kernel benchmarks (Gram GFLOP/s, apply GB/s), generates a 7B-decoder-shaped
# bf16 checkpoint (32 blocks: q,k,v,o 4096×4096; gate, up 11008×4096; down
# 4096×11008; 224 matrices, 12.9 GB), times `specscope analyze --backend
# gpu` on it, and prints one table at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"
B=.gpu-bench

prepare() {
    [ "$(uname -m)" = x86_64 ] || { echo "build on x86-64: the device machine is x86-64" >&2; exit 2; }
    cargo build --release --bin specscope --example make_7b
    mkdir -p "$B"
    cp target/release/specscope target/release/examples/make_7b "$B/"
    # test and bench executables (cargo prints their paths)
    for t in gpu gpu_cli; do
        exe=$(cargo test --release --test "$t" --no-run --message-format=json 2>/dev/null \
            | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
        cp "$exe" "$B/test-$t"
    done
    exe=$(cargo bench --bench gpu --no-run --message-format=json 2>/dev/null \
        | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
    cp "$exe" "$B/bench-gpu"
    mkdir -p .gl /tmp/amd64/partial
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    apt-get $o update -qq
    (cd .gl && apt-get $o download libvulkan1)
    du -sh "$B" .gl
}

run() {
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
    icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    [ -f "$icd" ] && export VK_DRIVER_FILES="$icd"
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    export SPECSCOPE_REQUIRE_GPU=1
    # test-gpu needs no fixture (its matrices are generated).
    "$B/test-gpu" --test-threads=1 2>&1 | grep -v XDG_RUNTIME_DIR | tail -25
    SPECSCOPE_BIN="$B/specscope" "$B/bench-gpu" 2>&1 | grep -v XDG_RUNTIME_DIR | tee /tmp/bench.txt
    ck=/tmp/ck7b
    t0=$(date +%s.%N)
    "$B/make_7b" "$ck" 32 4096 11008 2>/dev/null
    t1=$(date +%s.%N)
    /usr/bin/time -v "$B/specscope" analyze "$ck" --backend gpu -q --format json -o /tmp/7b.json 2> /tmp/7b.time || true
    t2=$(date +%s.%N)
    python3 - "$t0" "$t1" "$t2" <<'PY'
import json, sys, re
t0, t1, t2 = map(float, sys.argv[1:4])
r = json.load(open('/tmp/7b.json'))
rss = re.search(r'Maximum resident set size \(kbytes\): (\d+)', open('/tmp/7b.time').read())
b = r['backend']
print()
print('| what | value |')
print('|---|---|')
print(f"| adapter | {b['api']}/{b['adapter']} ({b['driver']}) |")
print(f"| method / precision | {b['method']} / {b['precision']} |")
print(f"| 7B checkpoint generated | {t1 - t0:.1f} s |")
print(f"| analyze --backend gpu, 224 matrices | {t2 - t1:.1f} s |")
print(f"| matrices analysed / failed | {r['summary']['analysed']} / {r['summary']['failed']} |")
if rss: print(f"| peak RSS | {int(rss.group(1)) / 1e6:.2f} GB |")
for line in open('/tmp/bench.txt'):
    if '×' in line or 'backend' in line: print('| bench |', line.strip(), '|')
PY
}

case "$mode" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
