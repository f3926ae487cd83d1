#!/usr/bin/env bash
# The C benchmark: ns per runlog_log_f64 (median, p99) while a consumer thread
# drains the ring, beside a memcpy floor, the coarse clock read, and fprintf
# into a buffered FILE, in one run. RUNLOG_BENCH_CALLS (default 1000000) and
# RUNLOG_BENCH_RING_MIB (default 1; 64 keeps the consumer off the producer's
# cache lines) tune it. Run from the repository root on a quiet machine.
#
# scripts/bench-ffi.sh BASE_REV also builds the library of commit BASE_REV (in
# a temporary worktree, target/bench-base) and runs the benchmark built
# against it and against this tree alternately, RUNLOG_BENCH_ROUNDS pairs
# (default 5): runlog_log_f64 before/after and runlog_log_f64_at, one run
# (and runlog_log_f64_at before/after when BASE_REV has it).
set -euo pipefail
if [ $# -ge 1 ]; then
  base_rev=$1
  root=$(pwd)
  wt=$(mktemp -d)
  git worktree add -q --detach "$wt" "$base_rev"
  trap 'git -C "$root" worktree remove --force "$wt"' EXIT
  (cd "$wt" && CARGO_TARGET_DIR="$root/target/bench-base" cargo build -q --release -p runlog-ffi)
  out="$root/target/bench-base/out"
  rm -rf "$out" && mkdir -p "$out"
  cp -r "$wt/include" "$out/include"
  cp "$root/target/bench-base/release/librunlog.a" "$out/librunlog.a"
  RUNLOG_BENCH_BASE="$out" cargo test --release -q -p runlog-tests --test bench \
    -- --ignored --nocapture c_benchmark_log_f64_against_a_base_commit
  exit 0
fi
cargo test --release -q -p runlog-tests --test bench -- --ignored --nocapture \
  c_benchmark_log_f64_against_memcpy_and_fprintf
