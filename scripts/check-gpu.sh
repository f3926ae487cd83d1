#!/usr/bin/env bash
# GPU system metrics, checked on a machine with an NVIDIA GPU: runs a small
# program under `runlog run` with a short sampling interval and checks that
# the run has the `system/<node>/gpu0/...` series (NVML, loaded at run time).
# Without a working `nvidia-smi` it says so and exits 0 (nothing to check);
# with one, a missing series fails. Everywhere else the absent-NVML path is
# covered by tests/tests/mpi_ranks.rs (no GPU series, everything else there).
# Cost: a release build of `runlog` if not built, then about 5 s.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! nvidia-smi -L >/dev/null 2>&1; then
  echo "check-gpu: no working nvidia-smi here: GPU path NOT checked (skipped)"
  exit 0
fi
nvidia-smi -L
cargo build --release -q -p runlog-uploader --bin runlog
bin="$PWD/target/release/runlog"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
# A program that keeps a process tree alive for a few samples.
RUNLOG_NODE=gpucheck timeout 60 "$bin" --tracking-uri "$tmp/store" run \
  --system-metrics-interval 0.5 -- sh -c 'sleep 4' >run.out 2>run.err || {
  cat run.err; exit 1; }
run_id=$(tail -n 1 run.out)
"$bin" --tracking-uri "$tmp/store" history info -r "$run_id" -o json >info.json
status=0
for m in utilization_percentage memory_usage_megabytes power_watts temperature_celsius; do
  if grep -q "\"system/gpucheck/gpu0/$m\"" info.json; then
    echo "check-gpu: system/gpucheck/gpu0/$m present"
  else
    echo "check-gpu: system/gpucheck/gpu0/$m MISSING"
    status=1
  fi
done
if [ "$status" != 0 ]; then
  cat run.err info.json
  exit 1
fi
echo "check-gpu: ok"
