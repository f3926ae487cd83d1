#!/usr/bin/env bash
# Runs every test of runlog. README.md names this as the test command; .ci/run
# calls it after installing the system packages (see .ci/run for the list).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
start=$(date +%s)
step() { echo "== [$(( $(date +%s) - start ))s] $*"; }

step "format"
cargo fmt --all -- --check

step "clippy"
cargo clippy --workspace --all-targets -- -D warnings

step "workspace tests (release): unit, C/C++ programs, uploader, history, MLflow interop, browser"
cargo test --workspace --release

# Each part's extra checks (bare-metal builds, fuzzing, QEMU, footprint); the
# scripts skip what the workspace run above already covered.
export RUNLOG_TEST_ALL=1
for area in core ffi uploader history serve firmware install python; do
  if [ -x "scripts/test-$area.sh" ]; then
    step "$area"
    "scripts/test-$area.sh"
  fi
done
step "all tests passed"
