#!/usr/bin/env bash
# The C benchmark: ns per runlog_log_f64 (median, p99) while a consumer thread
# drains the ring, beside a memcpy floor, the coarse clock read, and fprintf
# into a buffered FILE, in one run. RUNLOG_BENCH_CALLS (default 1000000) and
# RUNLOG_BENCH_RING_MIB (default 1; 64 keeps the consumer off the producer's
# cache lines) tune it. Run from the repository root on a quiet machine.
set -euo pipefail
cargo test --release -q -p runlog-tests --test bench -- --ignored --nocapture
