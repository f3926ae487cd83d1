#!/usr/bin/env bash
# Python binding benchmark (python/bench/bench_log.py): ns per
# `logger.log("loss", 0.5)` beside the MLflow client's log_metric, async
# enqueue and synchronous, against a real `mlflow server` started here, all in
# one run; then the shared peer script (bench/mlflow_client_bench.py) against
# the same server when MLFLOW_CLIENT_BENCH points at it.
# Needs: target/release/runlog, and RUNLOG_PYTHON (default .venv/bin/python): a
# Python with mlflow and the runlog package (`pip install ./python`), or
# RUNLOG_MLFLOW_PYTHON with mlflow and python/runlog built in place
# (`maturin develop`), which is then put on PYTHONPATH.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${RUNLOG_PYTHON:-${RUNLOG_MLFLOW_PYTHON:-.venv/bin/python}}"
if ! "$py" -c 'import runlog' 2>/dev/null; then
  export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
fi
"$py" -c 'import runlog, mlflow' || { echo "$py needs mlflow and runlog" >&2; exit 1; }
runlog_bin="${RUNLOG_BIN:-$PWD/target/release/runlog}"
[ -x "$runlog_bin" ] || cargo build --release -p runlog-uploader

tmp=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
setsid "$py" -m mlflow server --host 127.0.0.1 --port "$port" \
  --backend-store-uri "sqlite:///$tmp/mlflow.db" --default-artifact-root "$tmp/artifacts" \
  >"$tmp/server.log" 2>&1 &
server=$!
stop_server() {
  # mlflow server (uvicorn, huey workers) can take long to stop on TERM: KILL after 10 s.
  kill -- -"$server" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$server" 2>/dev/null || break; sleep 0.5; done
  kill -KILL -- -"$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$tmp"
}
trap stop_server EXIT
up=""
for _ in $(seq 1 240); do
  if "$py" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/health')" 2>/dev/null; then
    up=1
    break
  fi
  sleep 0.5
done
[ -n "$up" ] || { cat "$tmp/server.log" >&2; echo "mlflow server did not start" >&2; exit 1; }

echo "== machine: $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg); $("$py" --version)"
(cd "$tmp" && "$runlog_bin" run --experiment python-bench -- "$py" "$OLDPWD/python/bench/bench_log.py" "http://127.0.0.1:$port")
bench="${MLFLOW_CLIENT_BENCH:-bench/mlflow_client_bench.py}"
if [ -f "$bench" ]; then
  echo "== $bench (the shared MLflow peer script, same server)"
  "$py" "$bench" "http://127.0.0.1:$port" 100
fi
