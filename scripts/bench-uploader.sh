#!/usr/bin/env bash
# Drain benchmark: 10,000,000 scalar metrics from a spool ring into the store
# (release build), and, in the same run, the MLflow peer figure: the MLflow
# Python client against a real `mlflow server`, when RUNLOG_MLFLOW_PYTHON names a
# Python with mlflow installed and bench/mlflow_client_bench.py exists (or
# MLFLOW_CLIENT_BENCH points at it).
# Then the store's read benchmark (history info of an 11 M-point run, --chart of
# a 1 M-point series, MLflow get-history paging through `runlog serve`) and the
# chunk encodings compared.
# Environment: RUNLOG_BENCH_N (default 10000000), RUNLOG_BENCH_REPS (default 3),
# RUNLOG_BASE_REV (a commit, e.g. 60ea9eb: its `runlog` is built into
# target/base-<rev>/ and measured side by side, before and after in one run) or
# RUNLOG_BASE_BIN (such a binary, already built).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
if [ -n "${RUNLOG_BASE_REV:-}" ] && [ -z "${RUNLOG_BASE_BIN:-}" ]; then
  base_dir="$PWD/target/base-$RUNLOG_BASE_REV"
  if [ ! -x "$base_dir/runlog" ]; then
    src=$(mktemp -d)
    git worktree add --detach "$src" "$RUNLOG_BASE_REV" >/dev/null
    (cd "$src" && cargo build --release -p runlog-uploader --target-dir "$base_dir/target")
    mkdir -p "$base_dir"
    cp "$base_dir/target/release/runlog" "$base_dir/runlog"
    git worktree remove --force "$src"
  fi
  export RUNLOG_BASE_BIN="$base_dir/runlog"
fi
cargo bench -p runlog-uploader --bench drain
cargo bench -p runlog-uploader --bench read
cargo bench -p runlog-uploader --bench chunk_encoding

py="${RUNLOG_MLFLOW_PYTHON:-}"
bench="${MLFLOW_CLIENT_BENCH:-bench/mlflow_client_bench.py}"
if [ -z "$py" ] || [ ! -f "$bench" ]; then
  echo "MLflow peer benchmark skipped (set RUNLOG_MLFLOW_PYTHON and MLFLOW_CLIENT_BENCH)"
  exit 0
fi
tmp=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
setsid "$py" -m mlflow server --host 127.0.0.1 --port "$port" \
  --backend-store-uri "sqlite:///$tmp/mlflow.db" --default-artifact-root "$tmp/artifacts" \
  >"$tmp/server.log" 2>&1 &
server=$!
trap 'kill -- -"$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$tmp"' EXIT
for _ in $(seq 1 120); do
  if "$py" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/health')" 2>/dev/null; then
    break
  fi
  sleep 0.5
done
"$py" "$bench" "http://127.0.0.1:$port" 300
