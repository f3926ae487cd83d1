#!/usr/bin/env bash
# Instructions per device log call on the Cortex-M4 build of the C firmware
# (examples/firmware-c), counted in QEMU: QEMU does not model the DWT cycle
# counter, so the firmware runs one instruction per translation block
# (-singlestep) with every executed block logged (-d exec,nochain), and
# scripts/lib/call_cost.py counts the instructions from each call's entry
# until control is back in the example's own code (workload.c's main and
# runlog_sink.c's sink functions and drain policy `check`; callees included,
# the UART write callback too). A drain is `drain_all`'s one call of
# runlog_drain, which empties the ring (until issue 19's eighth round the
# sink called it again until a call wrote nothing: ~130 instructions more
# per drain). Log calls include no drains: those are separate calls.
# Deterministic: the same counts on every run.
#
# Usage: scripts/call-cost.sh [ELF]   (default: the ELF scripts/footprint.sh built)
# Needs qemu-system-arm, arm-none-eabi-nm, python3; the trace takes ~150 MB in $TMPDIR.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
elf=${1:-$root/target/footprint-c/firmware.elf}
[[ -f "$elf" ]] || { echo "call-cost: no $elf (run scripts/footprint.sh first)" >&2; exit 1; }
trace=$(mktemp)
trap 'rm -f "$trace"' EXIT
timeout 300 qemu-system-arm -M mps2-an386 -display none -monitor none \
    -semihosting-config enable=on,target=native -serial null \
    -singlestep -d exec,nochain -D "$trace" -kernel "$elf" 2>/dev/null
python3 "$root/scripts/lib/call_cost.py" "$elf" "$trace" 'main|check|sink_.*' runlog_log_f64 runlog_log_i64 \
    runlog_log_str runlog_log_f64_list runlog_log_i64_list runlog_upload runlog_drain
