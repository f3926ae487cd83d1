#!/usr/bin/env bash
# Tests of the host uploader (`runlog run`, `runlog drain`, the store's write path):
# the uploader crate's tests (real binary, real spool files, byte streams, SIGKILL
# loops, a 1 GiB output under 64 MiB RSS) and the C programs through `runlog run`.
# Needs: gcc (C tests, with ASan/UBSan), Open MPI (mpirun, mpicc). Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
if [ -z "${RUNLOG_TEST_ALL:-}" ]; then
  # scripts/test-all.sh runs these with the whole workspace.
  cargo test --release -p runlog-uploader
  cargo test --release -p runlog-tests --test uploader
  cargo test --release -p runlog-tests --test trust_c
  # Open MPI job on two simulated nodes (needs openmpi-bin, libopenmpi-dev).
  cargo test --release -p runlog-tests --test mpi_ranks
  cargo test --release -p runlog-tests --test close_under_run
fi
# GPU system metrics through NVML: checked where nvidia-smi works, else says it skipped.
scripts/check-gpu.sh
echo "uploader: ok"
