#!/usr/bin/env bash
# Tests of runlog-core (issue 2). Run from the repository root.
# Needs: rustup target thumbv7em-none-eabihf, clippy, rustfmt; for the fuzz
# step, cargo-fuzz (`cargo install cargo-fuzz`) and a C++ compiler (libFuzzer).
# RUNLOG_FUZZ_SECONDS (default 25, per target; 0 skips) bounds the fuzzing.
set -euo pipefail

echo "== no_std build for Cortex-M (nothing in the graph needs std)"
cargo build -p runlog-core --target thumbv7em-none-eabihf
cargo build -p runlog-core --target thumbv7em-none-eabihf --release

echo "== format and lints"
if [ -z "${RUNLOG_TEST_ALL:-}" ]; then
  cargo fmt -p runlog-core -- --check
  cargo clippy -p runlog-core --all-targets -- -D warnings
fi
cargo clippy -p runlog-core --target thumbv7em-none-eabihf -- -D warnings

echo "== tests (debug: overflow checks on)"
cargo test -p runlog-core

# (scripts/test-all.sh runs them again in release, where races are tighter.)

echo "== benchmark compiles (run it with the command in docs/core.md)"
cargo bench -p runlog-core --no-run

seconds="${RUNLOG_FUZZ_SECONDS:-25}"
if [ "$seconds" != 0 ]; then
  if ! command -v cargo-fuzz >/dev/null; then
    echo "cargo-fuzz is not installed: cargo install cargo-fuzz" >&2
    exit 1
  fi
  for target in frame_decoder ring_attach; do
    echo "== fuzz $target for ${seconds}s"
    # Work on a copy so the committed seed corpus stays small.
    work="$(mktemp -d)"
    cp core/fuzz/corpus/"$target"/* "$work"/
    # cargo-fuzz needs nightly flags (-Zsanitizer); RUSTC_BOOTSTRAP lets stable accept them.
    (cd core && RUSTC_BOOTSTRAP=1 cargo fuzz run "$target" "$work" -- \
      -max_total_time="$seconds" -max_len=8192 -print_final_stats=1) 2>&1 | tail -n 15
    rm -rf "$work"
  done
fi
echo "== orderings: miri and ThreadSanitizer (docs/core.md)"
scripts/test-races.sh
echo "== runlog-core: all passed"
