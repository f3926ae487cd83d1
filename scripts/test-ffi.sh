#!/usr/bin/env bash
# CI steps for the C ABI (ffi/, include/, examples/): header drift check, the
# thumbv7em device staticlib (built, and linked into a bare-metal C program),
# Rust unit tests, and the C/C++ programs built with -Werror and ASan/UBSan.
# Needs: gcc, g++ (with libasan/libubsan), gcc-arm-none-eabi, rustup target
# thumbv7em-none-eabihf. Run from the repository root.
set -euo pipefail

if [ -z "${RUNLOG_TEST_ALL:-}" ]; then
  echo "== include/runlog.h matches cbindgen output"
  cargo test -q -p runlog-tests --test header
fi

echo "== device staticlib (no_std) for thumbv7em-none-eabihf"
cargo build -p runlog-ffi --no-default-features --target thumbv7em-none-eabihf --release
lib=target/thumbv7em-none-eabihf/release/librunlog.a
if command -v arm-none-eabi-gcc >/dev/null; then
  arm-none-eabi-gcc -std=c11 -Wall -Wextra -Werror -pedantic \
    -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os \
    -ffunction-sections -fdata-sections -Iinclude tests/c/firmware.c "$lib" \
    --specs=nosys.specs -Wl,--gc-sections -Wl,--no-warn-rwx-segments -o target/runlog-firmware.elf
  echo "bare-metal program linked against the device library:"
  arm-none-eabi-size target/runlog-firmware.elf
else
  echo "arm-none-eabi-gcc not installed: skipping the bare-metal link check" >&2
  exit 1
fi

echo "== clippy (device; and with the detailed messages feature)"
cargo clippy -q -p runlog-ffi --no-default-features --target thumbv7em-none-eabihf -- -D warnings
cargo clippy -q -p runlog-ffi --no-default-features --features messages --target thumbv7em-none-eabihf -- -D warnings

echo "== the device build's unit tests, run on the host (device-only paths: text scan, close, descriptions)"
cargo clippy -q --release -p runlog-ffi --no-default-features --tests -- -D warnings
cargo test -q --release -p runlog-ffi --no-default-features --lib

if [ -z "${RUNLOG_TEST_ALL:-}" ]; then
  # scripts/test-all.sh runs these with the whole workspace.
  echo "== clippy (host), unit tests and C/C++ integration tests"
  cargo clippy -q -p runlog-ffi -p runlog-tests --all-targets -- -D warnings
  cargo test -q -p runlog-ffi
  cargo test -q -p runlog-tests --test examples --test c_api --test host_api --test ring_try_push --test device_sizing --test params_api
fi
