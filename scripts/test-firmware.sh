#!/usr/bin/env bash
# Firmware tests: builds the example firmwares for an emulated Cortex-M4
# (QEMU mps2-an386), boots them, and checks what arrives over their UART;
# then prints the footprint report.
# Needs: qemu-system-arm, gcc-arm-none-eabi, binutils-arm-none-eabi,
# libnewlib-arm-none-eabi, make (Debian), rustup target thumbv7em-none-eabihf.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

for tool in qemu-system-arm arm-none-eabi-gcc arm-none-eabi-size arm-none-eabi-nm; do
    command -v "$tool" >/dev/null || { echo "test-firmware: $tool is not installed" >&2; exit 1; }
done

echo "-- examples/firmware-rust: format and clippy (runlog and baseline builds)"
(
    cd examples/firmware-rust
    cargo fmt -- --check
    cargo clippy --quiet --release -- -D warnings
    cargo clippy --quiet --release --no-default-features --target-dir target/baseline -- -D warnings
)

echo "-- end to end in QEMU: both firmwares, UART captured to a file and decoded"
cargo test --release -p runlog-tests --test firmware_qemu -- --ignored --nocapture metrics_arrive

echo "-- the C example reports a failed runlog call (a buffer too small) and exits 1"
cargo test --release -p runlog-tests --test firmware_qemu -- --ignored --nocapture reports_a_failed_call

echo "-- end to end through runlog drain --tcp-connect, checked with runlog history and the store"
if [[ -z "${RUNLOG_BIN:-}" ]]; then
    cargo build --quiet --release -p runlog-uploader
    export RUNLOG_BIN="$PWD/target/release/runlog"
fi
cargo test --release -p runlog-tests --test firmware_qemu -- --ignored --nocapture stores_through

echo "-- footprint"
scripts/footprint.sh --check
