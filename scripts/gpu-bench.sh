#!/usr/bin/env bash
# GPU benchmark for a datacenter GPU (H100/H200).
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
# runs the GPU tests on the real adapter (SPECSCOPE_REQUIRE_GPU=1: the `gpu`
# and `gpu_cli` test binaries), the kernel benchmarks (Gram GFLOP/s, apply
# GB/s), generates a 7B-decoder-shaped bf16 checkpoint (32 blocks: q,k,v,o
# 4096×4096; gate, up 11008×4096; down 4096×11008; 224 matrices, 12.9 GB),
# times `specscope analyze --backend gpu` on it, and prints one table at the
# end: each step's status, the figures, and the GPU targets marked
# met or missed.
#
# A failing (or timed-out) step does not stop the run: every step's exit
# status is recorded and shown in the table. Each step has a time limit
# (seconds, overridable: T_TEST_GPU, T_TEST_GPU_CLI, T_BENCH, T_MAKE_7B,
# T_ANALYZE_7B) so that together they end inside the device's 600 s.
# Logs, the report and the table also go to $OUT when it is set.
set -uo pipefail
cd "$(dirname "$0")/.."
mode="${1:-}"
B=.gpu-bench

# The GPU speed targets (on an H200).
TARGET_GRAM_TFLOPS=20   # Gram ≥ 20 TFLOP/s
TARGET_APPLY_FRAC=0.5   # Gram apply ≥ 50 % of memory bandwidth
TARGET_7B_SECONDS=60    # exact spectra of all 224 matrices in ≤ 60 s
TARGET_7B_MATRICES=224

prepare() {
    set -e
    [ "$(uname -m)" = x86_64 ] || { echo "build on x86-64: the device machine is x86-64" >&2; exit 2; }
    cargo build --release --bin specscope --example make_7b
    mkdir -p "$B"
    cp target/release/specscope target/release/examples/make_7b "$B/"
    # test and bench executables (cargo prints their paths)
    for t in gpu gpu_cli; do
        exe=$(cargo test --release --test "$t" --no-run --message-format=json 2>/dev/null \
            | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
        [ -n "$exe" ] || { echo "no executable for test $t" >&2; exit 1; }
        cp "$exe" "$B/test-$t"
    done
    exe=$(cargo bench --bench gpu --no-run --message-format=json 2>/dev/null \
        | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
    [ -n "$exe" ] || { echo "no executable for bench gpu" >&2; exit 1; }
    cp "$exe" "$B/bench-gpu"
    # The test binaries have the build tree's path compiled in (fixtures,
    # the specscope binary): `run` recreates it on the device.
    pwd > "$B/build_root"
    mkdir -p .gl /tmp/amd64/partial
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    apt-get $o update -qq
    (cd .gl && apt-get $o download libvulkan1)
    du -sh "$B" .gl
}

# Steps: name, status, seconds, in order.
NAMES=()
STATUS=()
SECS=()

# step NAME LIMIT_S FUNCTION ARGS...: runs an exported FUNCTION in its own
# bash under a time limit (timeout kills its whole process group), records
# its status, never stops the script.
step() {
    local name=$1 limit=$2
    shift 2
    echo
    echo "=== $name (limit ${limit} s)"
    local t0 t1 rc=0
    t0=$(date +%s.%N)
    timeout --kill-after=10 "$limit" bash -c '"$@"' _ "$@" || rc=$?
    t1=$(date +%s.%N)
    local s
    case $rc in
        0) s=ok ;;
        124 | 137) s="TIMEOUT after ${limit} s" ;;
        *) s="FAILED (exit $rc)" ;;
    esac
    NAMES+=("$name")
    STATUS+=("$s")
    SECS+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')")
    echo "=== $name: $s"
}

# A test binary: the full log kept, its failures and summary shown.
test_bin() {
    local bin=$1 log=$2
    "$bin" --test-threads=1 2>&1 | grep -v XDG_RUNTIME_DIR > "$log"
    local rc=${PIPESTATUS[0]}
    grep -E '^(test |\[|SKIPPED|---- |thread .* panicked|failures:|test result)' "$log" | tail -60
    return "$rc"
}

bench() {
    SPECSCOPE_BIN="$B/specscope" "$B/bench-gpu" 2>&1 | grep -v XDG_RUNTIME_DIR | tee "$L/bench.txt"
    return "${PIPESTATUS[0]}"
}

make_7b() {
    rm -rf "$CK"
    "$B/make_7b" "$CK" 32 4096 11008 2>/dev/null
}

analyze_7b() {
    local rc=0
    if [ -x /usr/bin/time ]; then
        /usr/bin/time -v "$B/specscope" analyze "$CK" --backend gpu -q --format json \
            -o "$L/7b.json" 2> "$L/7b.time" || rc=$?
    else
        "$B/specscope" analyze "$CK" --backend gpu -q --format json \
            -o "$L/7b.json" 2> "$L/7b.time" || rc=$?
    fi
    grep -v XDG_RUNTIME_DIR "$L/7b.time" | grep -v '^\s' | tail -5
    # exit 3: some matrices failed; the table counts them
    return "$rc"
}

run() {
    L=${OUT:-/tmp/gpu-bench}
    mkdir -p "$L"
    rm -f "$L/7b.json" "$L/7b.time" "$L/bench.txt" "$L/test-gpu.log" "$L/test-gpu_cli.log"
    # GPU_BENCH_NO_LOADER=1: leave the system's loader alone (a dry run
    # of the steps and the table on a machine that has one, lavapipe's).
    if [ "${GPU_BENCH_NO_LOADER:-}" != 1 ]; then
        for f in .gl/*.deb; do dpkg -x "$f" /; done
        ldconfig
    fi
    icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    [ -f "$icd" ] && export VK_DRIVER_FILES="$icd"
    gpu_name=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    export SPECSCOPE_REQUIRE_GPU=1
    # The test binaries look for fixtures and the specscope binary under
    # the path they were built in: make that path lead here.
    root=$(cat "$B/build_root" 2>/dev/null || true)
    if [ -n "$root" ] && [ "$root" != "$PWD" ] && [ ! -e "$root" ]; then
        mkdir -p "$(dirname "$root")" && ln -s "$PWD" "$root"
    fi
    mkdir -p target/release
    # (a dry run here keeps the build tree's own binary)
    if [ ! -x target/release/specscope ] || [ "${GPU_BENCH_NO_LOADER:-}" != 1 ]; then
        cp -f "$B/specscope" target/release/specscope
    fi
    if [ -n "$root" ] && [ ! -e "$root/fixtures" ]; then
        echo "warning: $root/fixtures is missing: test-gpu_cli will fail" >&2
    fi
    export XDG_RUNTIME_DIR=${XDG_RUNTIME_DIR:-/tmp/xdg}
    mkdir -p "$XDG_RUNTIME_DIR"
    export L B CK=/tmp/ck7b
    export -f test_bin bench make_7b analyze_7b

    # test-gpu needs no fixture (its matrices are generated); test-gpu_cli
    # runs the binary on fixtures/tiny (MiniLM is not carried: it skips).
    step "tests: gpu" "${T_TEST_GPU:-120}" test_bin "$B/test-gpu" "$L/test-gpu.log"
    step "tests: gpu_cli" "${T_TEST_GPU_CLI:-60}" test_bin "$B/test-gpu_cli" "$L/test-gpu_cli.log"
    step "bench: gpu kernels + 2-block e2e" "${T_BENCH:-180}" bench
    step "generate 7B-shaped checkpoint" "${T_MAKE_7B:-90}" make_7b
    step "analyze 7B --backend gpu" "${T_ANALYZE_7B:-120}" analyze_7b

    # Nominal memory bandwidth for the apply target (GB/s); PEAK_GBS
    # overrides it for another GPU.
    case "$gpu_name" in
        *H200*) peak=${PEAK_GBS:-4800} ;;
        *H100*) peak=${PEAK_GBS:-3350} ;;
        *) peak=${PEAK_GBS:-} ;;
    esac
    for i in "${!NAMES[@]}"; do
        printf '%s\t%s\t%s\n' "${NAMES[$i]}" "${STATUS[$i]}" "${SECS[$i]}"
    done > "$L/steps.tsv"
    python3 - "$L" "$gpu_name" "$peak" "$TARGET_GRAM_TFLOPS" "$TARGET_APPLY_FRAC" \
        "$TARGET_7B_SECONDS" "$TARGET_7B_MATRICES" <<'PY' | tee "$L/table.md"
import json, os, re, sys
L, gpu, peak, t_gram, t_frac, t_secs, t_n = sys.argv[1:8]
t_gram, t_frac, t_secs, t_n = float(t_gram), float(t_frac), float(t_secs), int(t_n)
peak = float(peak) if peak else None

def read(name):
    p = os.path.join(L, name)
    return open(p).read() if os.path.exists(p) else None

def mark(ok):
    return '**met**' if ok else '**missed**'

print()
print(f'GPU: {gpu or "unknown (nvidia-smi gave nothing)"}')
print()
print('| step | status | seconds |')
print('|---|---|---|')
steps = [l.split('\t') for l in read('steps.tsv').splitlines()]
for name, status, secs in steps:
    print(f'| {name} | {status} | {secs} |')
for log in ('test-gpu.log', 'test-gpu_cli.log'):
    text = read(log) or ''
    res = re.findall(r'test result: .*', text)
    if res:
        print(f'| {log[:-4]} | {res[-1]} | |')

print()
print('| what | measured | target (H200) | |')
print('|---|---|---|---|')
bench = read('bench.txt')
if bench is None:
    print('| kernel benchmarks | no output | | |')
else:
    for line in bench.splitlines():
        f = line.split()
        # shape  upload ms  gram ms  read ms  GFLOP/s  apply ms  GB/s
        if len(f) == 7 and '×' in f[0]:
            try:
                gflops, gbs = float(f[4]), float(f[6])
            except ValueError:
                continue
            print(f'| Gram {f[0]} bf16 | {gflops / 1e3:.3g} TFLOP/s | ≥ {t_gram:g} TFLOP/s | {mark(gflops / 1e3 >= t_gram)} |')
            if peak:
                frac = gbs / peak
                print(f'| apply {f[0]} bf16 | {gbs:.4g} GB/s = {100 * frac:.3g} % of {peak:.0f} GB/s | ≥ {100 * t_frac:.0f} % | {mark(frac >= t_frac)} |')
            else:
                print(f'| apply {f[0]} bf16 | {gbs:.4g} GB/s | ≥ {100 * t_frac:.0f} % of bandwidth (unknown GPU: set PEAK_GBS) | ? |')
        elif line.strip().startswith('--backend') or line.startswith('analyze,'):
            print(f'| bench e2e | {line.strip()} | | |')
secs = {name: float(s) for name, _, s in steps}
status = {name: st for name, st, _ in steps}
rep = read('7b.json')
if rep is None:
    print(f'| analyze 7B --backend gpu | no report ({status.get("analyze 7B --backend gpu", "not run")}) | ≤ {t_secs:g} s, {t_n} matrices exact | **missed** |')
else:
    r = json.loads(rep)
    b, s = r['backend'], r['summary']
    t = secs.get('analyze 7B --backend gpu', float('nan'))
    ok = t <= t_secs and s['analysed'] == t_n and s['failed'] == 0 and b['method'] == 'exact'
    print(f'| adapter | {b["api"]}/{b["adapter"]} ({b["driver"]}) | | |')
    print(f'| method / precision | {b["method"]} / {b["precision"]} | exact | |')
    print(f'| 7B checkpoint generated | {secs.get("generate 7B-shaped checkpoint", float("nan")):.1f} s | | |')
    print(f'| analyze --backend gpu, matrices analysed / failed | {t:.1f} s, {s["analysed"]} / {s["failed"]} | ≤ {t_secs:g} s, {t_n} / 0 | {mark(ok)} |')
    rss = re.search(r'Maximum resident set size \(kbytes\): (\d+)', read('7b.time') or '')
    if rss:
        print(f'| peak RSS | {int(rss.group(1)) / 1e6:.2f} GB | | |')
PY
    echo "logs: $L"
}

case "$mode" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
