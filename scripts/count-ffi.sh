#!/usr/bin/env bash
# Instructions per runlog_log_f64 and runlog_log_f64_at call, counted by
# valgrind (the VM has no hardware counters): benches/c/log_loop.c, linked
# against target/release/librunlog.a, runs CALLS (default 200000) calls of
# each, and the empty loop is subtracted. Deterministic, so one run says it
# (the timed ratio is scripts/bench-ffi.sh's). Needs valgrind and gcc.
#
# scripts/count-ffi.sh BASE_REV also counts commit BASE_REV's library (built
# in a temporary worktree into target/bench-base, as scripts/bench-ffi.sh
# does), printed first. Each run's 512 MiB spool file is deleted afterwards.
set -euo pipefail
calls=${RUNLOG_COUNT_CALLS:-200000}
root=$(pwd)
tmp=$(mktemp -d)
wt=""
cleanup() {
  rm -rf "$tmp"
  if [ -n "$wt" ]; then git -C "$root" worktree remove --force "$wt"; fi
}
trap cleanup EXIT

# count LABEL INCLUDE_DIR LIBRARY: one line of per-call instruction counts.
count() {
  local exe="$tmp/log_loop_$1"
  gcc -O2 -I "$2" benches/c/log_loop.c "$3" -lpthread -ldl -lm -o "$exe"
  local mode ir line="$1"
  local -a irs=()
  for mode in 0 1 2; do
    mkdir -p "$tmp/spool"
    # A failed run (mode 2 against a header without the step calls) counts 0.
    ir=0
    if RUNLOG_SPOOL="$tmp/spool" valgrind --tool=cachegrind --cache-sim=no \
      --cachegrind-out-file=/dev/null "$exe" "$mode" "$calls" 2>"$tmp/vg"; then
      ir=$(awk '/I *refs/ { gsub(",", "", $4); print $4 }' "$tmp/vg")
    fi
    rm -rf "$tmp/spool"
    irs+=("$ir")
  done
  awk -v l="$line" -v n="$calls" -v z="${irs[0]}" -v a="${irs[1]}" -v b="${irs[2]}" 'BEGIN {
    f = (a - z) / n
    if (b == 0) { printf "%-6s runlog_log_f64 %6.1f   (no runlog_log_f64_at in its header; instructions per call, %d calls)\n", l, f, n; exit }
    s = (b - z) / n
    printf "%-6s runlog_log_f64 %6.1f   runlog_log_f64_at %6.1f   _at/f64 %.3f   (instructions per call, %d calls)\n", l, f, s, s / f, n
  }'
}

if [ $# -ge 1 ]; then
  wt=$(mktemp -d)
  git worktree add -q --detach "$wt" "$1"
  (cd "$wt" && CARGO_TARGET_DIR="$root/target/bench-base" cargo build -q --release -p runlog-ffi)
  count base "$wt/include" "$root/target/bench-base/release/librunlog.a"
fi
cargo build -q --release -p runlog-ffi
count this include target/release/librunlog.a
