#!/usr/bin/env bash
# The system metrics sampler's cost: CPU time (user + system) of `runlog run`
# itself over a 60 s run of `sleep`, sampling on (default 10 s, and 1 s) and
# off, the three started side by side in each round so that they share the
# machine's noise. Prints one line per round and the medians with spread.
# usage: scripts/bench-sysmetrics.sh [ROUNDS=5] [SECONDS=60]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
secs=${2:-60}
# RUNLOG_BIN: a runlog binary already built (default: build target/release/runlog).
if [ -z "${RUNLOG_BIN:-}" ]; then
  cargo build --release -q -p runlog-uploader --bin runlog
fi
bin="${RUNLOG_BIN:-$PWD/target/release/runlog}"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
one() { # name, runlog run flags...
  local name=$1; shift
  mkdir -p "$tmp/$name"
  (cd "$tmp/$name" && /usr/bin/time -f "%U %S" -o "$tmp/$name.time" \
    "$bin" --tracking-uri "$tmp/$name/store" run "$@" -- sleep "$secs" >/dev/null 2>&1)
  awk '{printf "%.3f\n", ($1 + $2)}' "$tmp/$name.time" >>"$tmp/$name.cpu"
}
for r in $(seq 1 "$rounds"); do
  one off --no-system-metrics &
  one on10 &
  one on1 --system-metrics-interval 1 &
  wait
  echo "round $r: cpu s off $(tail -1 "$tmp/off.cpu")  on(10 s) $(tail -1 "$tmp/on10.cpu")  on(1 s) $(tail -1 "$tmp/on1.cpu")"
done
for name in off on10 on1; do
  sort -n "$tmp/$name.cpu" | awk -v n="$name" '{v[NR]=$1} END {printf "%-5s median %.3f s CPU per %s s run (min %.3f, max %.3f, n=%d)\n", n, v[int((NR+1)/2)], '"$secs"', v[1], v[NR], NR}'
done
