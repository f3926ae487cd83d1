#!/usr/bin/env bash
# Prints the flash (.text + .rodata) and RAM (.data + .bss) that runlog adds
# to a Cortex-M4 firmware (thumbv7em-none-eabihf, built for size with LTO),
# ring storage excluded, for both example firmwares:
#   - Rust (examples/firmware-rust): runlog-core directly, against the same
#     values written raw to the UART (--no-default-features);
#   - C (examples/firmware-c): runlog.h over the device staticlib of runlog-ffi,
#     the same workload (workload.c) through runlog_sink.c, against raw_sink.c
#     (the same values written raw to the UART, no runlog), as for Rust.
# With qemu-system-arm installed it also boots both Rust builds and compares
# their peak stack (the drain's frame scratch lives on the stack, not in .bss).
#
# Usage: scripts/footprint.sh [--check]   (--check: exit 1 when either firmware is over a target)
set -euo pipefail

FLASH_TARGET=5120
RAM_TARGET=128
check=0
[[ "${1:-}" == "--check" ]] && check=1

root=$(cd "$(dirname "$0")/.." && pwd)
triple=thumbv7em-none-eabihf
size=${SIZE:-arm-none-eabi-size}
nm=${NM:-arm-none-eabi-nm}
status=0

section() { # elf, section name -> size in bytes (0 when absent)
    "$size" -A "$1" | awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'
}
symbol_size() { # elf, demangled symbol -> its size (0 when absent)
    "$nm" -S -C -t d "$1" | awk -v s="$2" '$4 == s { print $2 + 0; found = 1 } END { if (!found) print 0 }'
}
symbols() { # elf -> "name<TAB>bytes" of code and data symbols, sorted by name
    "$nm" -S -C -t d --size-sort "$1" |
        awk '$3 ~ /^[tTrRdDbBwW]$/ { $1 = ""; sz = $2 + 0; $2 = ""; $3 = ""; sub(/^ +/, ""); n[$0] += sz } END { for (k in n) print k "\t" n[k] }' |
        sort -t $'\t' -k1,1
}

# report TITLE BASE_ELF WITH_ELF RING_SYMBOL: prints the table and the symbols
# that grow, and fails the check when over a target.
report() {
    local title=$1 base=$2 with=$3 ring_sym=$4
    local ring
    ring=$(symbol_size "$with" "$ring_sym")
    declare -A v
    local build elf s
    for build in base with; do
        elf=${!build}
        for s in .text .rodata .data .bss; do
            v[$build$s]=$(section "$elf" "$s")
        done
    done
    local flash_base=$((v[base.text] + v[base.rodata])) flash_with=$((v[with.text] + v[with.rodata]))
    local ram_base=$((v[base.data] + v[base.bss])) ram_with=$((v[with.data] + v[with.bss]))
    local flash_added=$((flash_with - flash_base)) ram_added=$((ram_with - ram_base - ring))

    echo "== $title on $triple (opt-level z, LTO, panic=abort)"
    printf '%-28s %10s %10s %10s\n' "" baseline runlog added
    for s in .text .rodata .data .bss; do
        printf '%-28s %10d %10d %10d\n' "$s" "${v[base$s]}" "${v[with$s]}" $((v[with$s] - v[base$s]))
    done
    printf '%-28s %10d %10d %10d   (target <= %d)\n' "flash (.text+.rodata)" "$flash_base" "$flash_with" "$flash_added" "$FLASH_TARGET"
    printf '%-28s %10d %10d %10d\n' "RAM (.data+.bss)" "$ram_base" "$ram_with" $((ram_with - ram_base))
    printf '%-28s %10s %10d   (%s)\n' "  of which ring storage" "" "$ring" "$ring_sym"
    printf '%-28s %10s %10s %10d   (target <= %d)\n' "RAM beyond the ring" "" "" "$ram_added" "$RAM_TARGET"
    echo
    echo "Largest symbols that the runlog build adds or grows (bytes, $nm --size-sort):"
    join -t $'\t' -a 1 -e 0 -o 0,1.2,2.2 <(symbols "$with") <(symbols "$base") |
        awk -F'\t' -v ring="$ring_sym" '$2 - $3 > 0 && $1 != ring { printf "%8d  %s\n", $2 - $3, $1 }' |
        sort -rn | head -n "${TOP:-20}"
    echo
    ((flash_added <= FLASH_TARGET)) || { echo "OVER: $title: runlog adds $flash_added B flash (target $FLASH_TARGET)"; status=1; }
    ((ram_added <= RAM_TARGET)) || { echo "OVER: $title: runlog adds $ram_added B RAM beyond the ring (target $RAM_TARGET)"; status=1; }
}

# --- Rust firmware
project="$root/examples/firmware-rust"
(cd "$project" && cargo build --quiet --release --target-dir "$project/target")
(cd "$project" && cargo build --quiet --release --target-dir "$project/target/baseline" --no-default-features)
rust_with="$project/target/$triple/release/runlog-firmware-rust"
rust_base="$project/target/baseline/$triple/release/runlog-firmware-rust"
report "Rust firmware (runlog-core)" "$rust_base" "$rust_with" "runlog_firmware_rust::RING"

if command -v qemu-system-arm >/dev/null; then
    peak() {
        qemu-system-arm -M mps2-an386 -display none -monitor none \
            -semihosting-config enable=on,target=native -serial null -kernel "$1" 2>&1 >/dev/null |
            sed -n 's/^stack_peak_bytes=0*\([0-9]\)/\1/p'
    }
    sb=$(peak "$rust_base")
    sw=$(peak "$rust_with")
    printf '%-28s %10d %10d %10d   (Rust firmware, measured in QEMU: painted stack)\n\n' "peak stack" "$sb" "$sw" $((sw - sb))
fi

# --- C firmware: the device staticlib built as the Makefile and the tests build it.
ffi_target="$root/target/firmware-ffi"
(cd "$root" && cargo rustc --quiet --release -p runlog-ffi --lib --crate-type staticlib \
    --no-default-features --target "$triple" \
    --config ffi/device.toml \
    --target-dir "$ffi_target")
c_out="$root/target/footprint-c"
make -s -C "$root/examples/firmware-c" OUT="$c_out" RUNLOG_LIB="$ffi_target/$triple/release/librunlog.a" \
    "$c_out/firmware.elf" "$c_out/baseline.elf"
report "C firmware (runlog.h, librunlog.a)" "$c_out/baseline.elf" "$c_out/firmware.elf" "runlog_buffer"

# The same without a C library (make LIBC=none: compiler_builtins' memcpy/memset/strlen
# from the staticlib instead of newlib-nano's): for information, not checked.
nl_out="$root/target/footprint-c-nolibc"
make -s -C "$root/examples/firmware-c" OUT="$nl_out" LIBC=none \
    RUNLOG_LIB="$ffi_target/$triple/release/librunlog.a" "$nl_out/firmware.elf" "$nl_out/baseline.elf"
flash() { echo $(($(section "$1" .text) + $(section "$1" .rodata))); }
printf 'C firmware without a C library (make LIBC=none; any memcpy/memset/strlen from compiler_builtins): runlog adds %d B flash\n' \
    $(($(flash "$nl_out/firmware.elf") - $(flash "$nl_out/baseline.elf")))

((check)) && exit $status
exit 0
