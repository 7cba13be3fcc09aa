#!/usr/bin/env bash
# The Python package's tests from scratch: a fresh virtual environment,
# `pip install .` (maturin from PyPI builds the extension crate python/ in
# release mode), the test dependencies, then `pytest python/tests`.
#
#   scripts/python-test.sh [pytest arguments]
#
# Environment:
#   PYTHON                 interpreter for the venv (default python3, >= 3.9)
#   SPECSCOPE_PY_VENV      where the venv goes (default .cache/python-test-venv;
#                          removed and made anew on every run)
#   SPECSCOPE_PY_TORCH=1   also install torch from PyPI (large: see
#                          docs/python.md, "Testing"); without it the torch
#                          tests print SKIPPED with the reason
#   CARGO_TARGET_DIR       where cargo builds (default target/, so a
#                          `cargo build --release` or `cargo test --release`
#                          before this shares its compiled dependencies)
#   SPECSCOPE_BIN          the CLI binary the tests compare against (default
#                          $CARGO_TARGET_DIR/release/specscope when built,
#                          else the `specscope` command the wheel installs)
#   SPECSCOPE_CHECKPOINTS, SPECSCOPE_REQUIRE_CHECKPOINTS=1: as for cargo test
#
# Prints the time of each phase and of the whole run.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
venv=${SPECSCOPE_PY_VENV:-.cache/python-test-venv}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
export SPECSCOPE_CHECKPOINTS=${SPECSCOPE_CHECKPOINTS:-$PWD/.cache/checkpoints}

start=$(date +%s)
phase_start=$start
phase() {
  local now
  now=$(date +%s)
  echo "python-test: $1: $((now - phase_start)) s"
  phase_start=$now
}

rm -rf "$venv"
"$python" -m venv "$venv"
py="$PWD/$venv/bin/python"
"$py" -m pip install -q --upgrade pip
phase "venv"

"$py" -m pip install -q pytest numpy pandas jsonschema
if [ "${SPECSCOPE_PY_TORCH:-0}" = 1 ]; then
  "$py" -m pip install -q torch
fi
phase "test dependencies"

echo "python-test: building the wheel (cargo release build; minutes when nothing is compiled yet)"
"$py" -m pip install -q --no-cache-dir .
phase "wheel build and install (pip install .)"

if [ -z "${SPECSCOPE_BIN:-}" ] && [ -x "$CARGO_TARGET_DIR/release/specscope" ]; then
  export SPECSCOPE_BIN="$CARGO_TARGET_DIR/release/specscope"
fi
echo "python-test: CLI compared against: ${SPECSCOPE_BIN:-the specscope command of the wheel}"

# The installed package, not the source tree's python/specscope: run from
# the tests' directory so `import specscope` finds the wheel.
export PATH="$PWD/$venv/bin:$PATH"
status=0
(cd python/tests && "$py" -m pytest -rs -p no:cacheprovider "$@" .) || status=$?
phase "pytest"
echo "python-test: total $(( $(date +%s) - start )) s"
exit $status
