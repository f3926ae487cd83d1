#!/usr/bin/env bash
# Tests of `runlog serve`, the HTTP sink and the HTTP history source:
# unit tests, then the integration tests against a real `mlflow server`, the
# `mlflow` Python client, headless Chromium and a 30 s server outage; the
# hostile-HTTP suite (serve_hostile, ~40 s: it holds 1070 connections for
# 30 s) and the live feed, raw and in Chromium over DevTools (serve_live).
# Needs: chromium (Debian), a Python with mlflow==3.17.2 in $RUNLOG_MLFLOW_PYTHON
# (default .venv/bin/python). Under CI (CI=true) a missing mlflow fails the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export RUNLOG_MLFLOW_PYTHON="${RUNLOG_MLFLOW_PYTHON:-$PWD/.venv/bin/python}"
export RUNLOG_TEST_ARTIFACTS="${RUNLOG_TEST_ARTIFACTS:-$PWD/target/test-artifacts}"
if [ -z "${RUNLOG_TEST_ALL:-}" ]; then
  # scripts/test-all.sh runs these with the whole workspace.
  cargo test -p runlog-uploader --release --lib -- serve:: mlflow::
  cargo test -p runlog-uploader --release --test serve_mlflow -- --test-threads 2
  cargo test -p runlog-uploader --release --test serve_hostile --test serve_live
fi
echo "screenshot of a run's page: $RUNLOG_TEST_ARTIFACTS/run-page.png"
if [ "${RUNLOG_BENCH:-0}" = 1 ]; then
  cargo bench -p runlog-uploader --bench serve_throughput
  cargo build --release -p runlog-uploader
  scripts/bench-serve-load.sh
fi
