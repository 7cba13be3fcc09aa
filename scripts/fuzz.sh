#!/usr/bin/env bash
# Builds and runs every cargo-fuzz target in fuzz/ for a bounded time:
#
#   scripts/fuzz.sh [SECONDS]        # default 60 seconds per target
#
# Targets: checkpoint_file (safetensors header parser, checkpoint open,
# plan and decode), sharded_index (index parser and shard resolution),
# check_config (rules file), report_doc (the JSON report check --baseline
# reads). Each starts from its committed seeds in fuzz/corpus/<target>/,
# which stay untouched (new inputs go to a scratch corpus). A crash, an
# input running over 10 s or a run over 2 GiB of memory fails the script;
# libFuzzer leaves the input in fuzz/artifacts/<target>/.
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# Without them the script says so and exits 0, or 1 when
# SPECSCOPE_REQUIRE_FUZZ=1. With CARGO_TARGET_DIR set, the fuzz build goes
# to $CARGO_TARGET_DIR/fuzz.
set -euo pipefail

secs="${1:-60}"
cd "$(dirname "$0")/.."

missing() {
    echo "fuzz.sh: $1; fuzzing skipped" >&2
    if [ "${SPECSCOPE_REQUIRE_FUZZ:-0}" = 1 ]; then
        exit 1
    fi
    exit 0
}
cargo +nightly --version >/dev/null 2>&1 ||
    missing "cargo +nightly does not run (install the nightly toolchain: rustup toolchain install nightly)"
cargo +nightly fuzz --version >/dev/null 2>&1 ||
    missing "cargo-fuzz is not installed (cargo install cargo-fuzz)"

dir_args=()
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
    dir_args=(--target-dir "$CARGO_TARGET_DIR/fuzz")
fi
cargo +nightly fuzz build "${dir_args[@]}"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
status=0
for t in $(cargo +nightly fuzz list); do
    mkdir -p "$scratch/$t"
    echo "fuzz.sh: $t for ${secs} s" >&2
    if ! cargo +nightly fuzz run "${dir_args[@]}" "$t" "$scratch/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1; then
        echo "fuzz.sh: $t FAILED (the input is in fuzz/artifacts/$t/)" >&2
        status=1
    fi
done
if [ "$status" = 0 ]; then
    echo "fuzz.sh: every target ran ${secs} s without a crash" >&2
fi
exit "$status"
