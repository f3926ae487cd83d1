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
cargo clippy --workspace --all-targets --release -- -D warnings

step "workspace tests (release)"
cargo test --workspace --release

for area in core ffi uploader history serve firmware; do
  if [ -x "scripts/test-$area.sh" ]; then
    step "$area"
    "scripts/test-$area.sh"
  fi
done
step "all tests passed"
