#!/usr/bin/env bash
# Firmware tests: builds the example firmwares for an emulated Cortex-M4
# (QEMU mps2-an386), boots them, and checks what arrives over their UART;
# then prints the footprint report.
# Needs: qemu-system-arm, gcc-arm-none-eabi, binutils-arm-none-eabi,
# libnewlib-arm-none-eabi (Debian), rustup target thumbv7em-none-eabihf.
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

echo "-- end to end in QEMU: Rust firmware"
cargo test --release -p runlog-tests --test firmware_qemu -- --ignored --nocapture rust_firmware_metrics

echo "-- end to end in QEMU: C firmware"
if [[ -f include/runlog.h || -n "${RUNLOG_FFI_ROOT:-}" ]]; then
    cargo test --release -p runlog-tests --test firmware_qemu -- --ignored --nocapture c_firmware_metrics
else
    echo "SKIPPED: include/runlog.h is not on this branch yet (runlog-ffi); the C firmware needs it" >&2
fi

echo "-- end to end through runlog drain --tcp-connect and the store"
if [[ -z "${RUNLOG_BIN:-}" ]]; then
    cargo build --quiet --release -p runlog-uploader
    export RUNLOG_BIN="$PWD/target/release/runlog"
fi
probe=$(mktemp -d)
probe_out=$(cd "$probe" && "$RUNLOG_BIN" history list 2>&1 || true)
if [[ "$probe_out" == *"not built yet"* ]]; then
    echo "SKIPPED: runlog drain/history are not on this branch yet (issue 4); the store tests need them" >&2
else
    cargo test --release -p runlog-tests --test firmware_qemu -- --ignored --nocapture rust_firmware_stores
    if [[ -f include/runlog.h || -n "${RUNLOG_FFI_ROOT:-}" ]]; then
        cargo test --release -p runlog-tests --test firmware_qemu -- --ignored --nocapture c_firmware_stores
    fi
fi
rm -rf "$probe"

echo "-- footprint"
scripts/footprint.sh
