#!/usr/bin/env bash
# Load on `runlog serve` and on `mlflow server` (sqlite backend), side by side
# in one run, with wrk (Debian package) on loopback, 64 connections:
#   1. metrics/get-history of a metric with 100,000 points (max_results=25000: one page),
#   2. runs/log-batch of 1,000 metrics.
# Prints requests/s and latency percentiles (p50, p99) per server and load.
# Env: RUNLOG_BIN (default target/release/runlog), RUNLOG_MLFLOW_PYTHON
# (default .venv/bin/python), LOAD_SECS (10), LOAD_CONNS (64), LOAD_THREADS (2).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNLOG_BIN="${RUNLOG_BIN:-$PWD/target/release/runlog}"
PY="${RUNLOG_MLFLOW_PYTHON:-$PWD/.venv/bin/python}"
SECS="${LOAD_SECS:-10}"; CONNS="${LOAD_CONNS:-64}"; THREADS="${LOAD_THREADS:-2}"
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)"; exit 1; }
TMP="$(mktemp -d)"
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill -- "-$p" 2>/dev/null || kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { # url, seconds
  for _ in $(seq 1 $(( $2 * 10 ))); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "$1 did not come up"; exit 1; }

RPORT=$(port); MPORT=$(port)
setsid "$RUNLOG_BIN" --tracking-uri "$TMP/runlog-store" serve --port "$RPORT" >"$TMP/runlog.log" 2>&1 &
PIDS+=($!)
setsid "$PY" -m mlflow server --host 127.0.0.1 --port "$MPORT" --workers 1 \
  --backend-store-uri "sqlite:///$TMP/mlflow.db" --serve-artifacts \
  --artifacts-destination "$TMP/mlflow-artifacts" >"$TMP/mlflow.log" 2>&1 &
PIDS+=($!)
wait_up "http://127.0.0.1:$RPORT/health" 20
wait_up "http://127.0.0.1:$MPORT/health" 180

# A run with a 100,000-point metric on each server, and the log-batch body.
python3 - "$RPORT" "$MPORT" "$TMP" <<'PY'
import json, sys, urllib.request
rport, mport, tmp = sys.argv[1], sys.argv[2], sys.argv[3]
def call(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}/api/2.0/mlflow/{path}",
        data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=120))
for name, port in (("runlog", rport), ("mlflow", mport)):
    rid = call(port, "runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
    for b in range(100):
        ms = [{"key": "loss", "value": (b * 1000 + i) * 0.5, "timestamp": 1700000000000 + b, "step": b * 1000 + i}
              for i in range(1000)]
        call(port, "runs/log-batch", {"run_id": rid, "metrics": ms})
    batch_rid = call(port, "runs/create", {"experiment_id": "0"})["run"]["info"]["run_id"]
    body = json.dumps({"run_id": batch_rid, "metrics": [
        {"key": f"m{i % 10}", "value": i * 0.25, "timestamp": 1700000000000, "step": i} for i in range(1000)]})
    open(f"{tmp}/{name}.history", "w").write(f"/api/2.0/mlflow/metrics/get-history?run_id={rid}&metric_key=loss&max_results=25000")
    open(f"{tmp}/{name}.batch.lua", "w").write(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.body = {json.dumps(body)}\n')
PY
cat > "$TMP/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format("  %.1f requests/s, p50 %.1f ms, p99 %.1f ms, max %.1f ms, %d requests, %d errors\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.requests, errors))
end
LUA
settle() { # the server has finished what the last load left behind (bounded: 180 s)
  for _ in $(seq 1 180); do
    curl -sf -m 2 -o /dev/null "http://127.0.0.1:$1/api/2.0/mlflow/experiments/get?experiment_id=0" && return 0
    sleep 1
  done; echo "  (port $1 still busy after 180 s)"; }
echo "machine: $(nproc) cores, $(uptime | sed 's/.*load average/load average/'); wrk -t$THREADS -c$CONNS -d${SECS}s"
for name in runlog mlflow; do
  p=$RPORT; [ "$name" = mlflow ] && p=$MPORT
  settle "$p"
  echo "$name: get-history, 100,000-point metric (max_results=25000)"
  wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --timeout 30s -s "$TMP/report.lua" \
    "http://127.0.0.1:$p$(cat "$TMP/$name.history")" | tail -1
  settle "$p"
  echo "$name: log-batch of 1,000 metrics"
  cat "$TMP/report.lua" >> "$TMP/$name.batch.lua"
  wrk -t"$THREADS" -c"$CONNS" -d"${SECS}s" --timeout 30s -s "$TMP/$name.batch.lua" \
    "http://127.0.0.1:$p/api/2.0/mlflow/runs/log-batch" | tail -1
done
