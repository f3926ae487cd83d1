#!/usr/bin/env bash
# Tests of `runlog serve`, the HTTP sink and the HTTP history source:
# unit tests, then the integration tests against a real `mlflow server`, the
# `mlflow` Python client, headless Chromium and a 30 s server outage; the
# hostile-HTTP suite (serve_hostile, ~40 s: it holds 1070 connections for
# 30 s), the live feed, raw and in Chromium over DevTools (serve_live), and
# the chart data endpoint with its hostile inputs (serve_chart); then the web
# page in headless Chromium through playwright-core (tests/browser/: Node 20
# and npm; ~45 s): search, compare, run page, a live run of a C program, a run
# of 3 ranks (a chart per metric, a line per rank) and a rank joining live;
# screenshots in target/browser-artifacts/.
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
  cargo test -p runlog-uploader --release --test serve_hostile --test serve_live --test serve_chart --test serve_races
fi
# The page in a browser: the real runlog binary and librunlog.a from target/release.
cargo build --release -p runlog-uploader -p runlog-ffi
if command -v node >/dev/null && command -v npm >/dev/null; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error && npm test)
  echo "browser screenshots: $PWD/target/browser-artifacts/"
elif [ -n "${CI:-}" ]; then
  echo "CI: node and npm are needed for tests/browser (Debian packages nodejs npm)" >&2
  exit 1
else
  echo "SKIPPED: tests/browser (no node/npm)"
fi
echo "screenshot of a run's page: $RUNLOG_TEST_ARTIFACTS/run-page.png"
if [ "${RUNLOG_BENCH:-0}" = 1 ]; then
  cargo bench -p runlog-uploader --bench serve_throughput
  cargo build --release -p runlog-uploader
  scripts/bench-serve-load.sh
  (cd tests/browser && npm run bench)
fi
