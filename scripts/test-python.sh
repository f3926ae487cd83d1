#!/usr/bin/env bash
# CI steps for the Python package (python/): rustfmt and clippy on its crate
# (it is outside the workspace), `pip install ./python` into the venv (the
# documented install command, building the abi3 wheel with maturin), then its
# pytest suite, which runs the real `runlog` binary.
# Needs: RUNLOG_PYTHON (default .venv/bin/python, made by .ci/run) with pip,
# network access to PyPI for maturin/pytest/numpy. Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
py="${RUNLOG_PYTHON:-.venv/bin/python}"
if [ ! -x "$py" ]; then
  echo "no Python venv at $py (python3 -m venv .venv, or set RUNLOG_PYTHON)" >&2
  exit 1
fi
# Share the workspace's build directory: runlog-ffi and its dependencies are
# already built there in release.
export CARGO_TARGET_DIR="$PWD/target"

echo "== python/: rustfmt and clippy"
(cd python && cargo fmt -- --check && cargo clippy -q --release --all-targets -- -D warnings)

echo "== pip install ./python (abi3 wheel via maturin) and the test requirements"
"$py" -m pip install -q --disable-pip-version-check pytest numpy
"$py" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps ./python

echo "== runlog binary for the tests"
cargo build -q --release -p runlog-uploader

echo "== pytest python/tests"
# From the tests folder, so `import runlog` is the installed wheel, not python/runlog.
(cd python/tests && RUNLOG_BIN="$PWD/../../target/release/runlog" "$py" -m pytest -q -p no:cacheprovider)
