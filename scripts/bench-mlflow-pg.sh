#!/usr/bin/env bash
# Delivery into a real MLflow server on PostgreSQL (scripts/mlflow-pg.sh),
# side by side in one run: `runlog sync` of a run recorded offline (10 series
# x 3,000 points = 30,000 metric values, 1000 per log-batch request) against
# the MLflow Python client's log_batch to the same server
# (bench/mlflow_client_bench.py from the shared folder). Prints each round and
# the medians with their spread.
#
#   RUNLOG_MLFLOW_PG_URI=... RUNLOG_MLFLOW_PYTHON=... scripts/bench-mlflow-pg.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
uri=${RUNLOG_MLFLOW_PG_URI:?start the server with: eval \"\$(bash scripts/mlflow-pg.sh PYTHON)\"}
py=${RUNLOG_MLFLOW_PYTHON:-.venv/bin/python}
peer=${MLFLOW_CLIENT_BENCH:-../shared/bench/mlflow_client_bench.py}
[ -f "$peer" ] || peer=/work/shared/bench/mlflow_client_bench.py
series=10 points=${BENCH_POINTS:-3000}
cargo build --release -q -p runlog-uploader
cargo test --release -q -p runlog-uploader --test mlflow_pg --no-run 2>/dev/null
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
runlog_rates=() peer_rates=()
for r in $(seq "$rounds"); do
  store="$tmp/store$r" run="bench-$(date +%s%N)"
  BENCH_STORE="$store" BENCH_RUN="$run" BENCH_SERIES=$series BENCH_POINTS=$points \
    cargo test --release -q -p runlog-uploader --test mlflow_pg -- --ignored --exact bench_record_offline >/dev/null 2>&1
  t0=$(date +%s%N)
  target/release/runlog --tracking-uri "$uri" sync --from "$store" "$run" >/dev/null
  t1=$(date +%s%N)
  rate=$(( series * points * 1000000000 / (t1 - t0) ))
  peer_rate=$("$py" "$peer" "$uri" 50 | sed -n 's/^mlflow log_batch(1000): \([0-9]*\) metrics\/s/\1/p')
  echo "round $r: runlog sync $rate metrics/s; MLflow client log_batch $peer_rate metrics/s"
  runlog_rates+=("$rate") peer_rates+=("$peer_rate")
done
stats() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {printf "median %d (min %d, max %d)", a[int((NR+1)/2)], a[1], a[NR]}'; }
echo "runlog sync into MLflow on PostgreSQL: $(stats "${runlog_rates[@]}") metrics/s"
echo "MLflow client log_batch(1000), same server: $(stats "${peer_rates[@]}") metrics/s"
echo "machine: $(nproc) cores, $(uname -m); load $(cut -d' ' -f1-3 /proc/loadavg)"
