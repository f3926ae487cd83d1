#!/usr/bin/env bash
# Prints the flash (.text + .rodata) and RAM (.data + .bss) that runlog adds
# to a Cortex-M4 firmware (thumbv7em-none-eabihf, opt-level "z", LTO), ring
# storage excluded, by building examples/firmware-rust twice:
#   - baseline (--no-default-features): the same values written to the UART as raw bytes;
#   - runlog (default): logged through runlog-core into a static ring, drained as frames.
# With qemu-system-arm installed it also boots both and compares their peak
# stack (the drain's frame scratch lives on the stack, not in .bss).
#
# Usage: scripts/footprint.sh [--check]   (--check: exit 1 when over the targets)
set -euo pipefail

FLASH_TARGET=4096
RAM_TARGET=128
check=0
[[ "${1:-}" == "--check" ]] && check=1

root=$(cd "$(dirname "$0")/.." && pwd)
project="$root/examples/firmware-rust"
triple=thumbv7em-none-eabihf
size=${SIZE:-arm-none-eabi-size}
nm=${NM:-arm-none-eabi-nm}

build() { # target-dir, extra cargo args...
    local dir=$1
    shift
    (cd "$project" && cargo build --quiet --release --target-dir "$dir" "$@")
}
build "$project/target" 
build "$project/target/baseline" --no-default-features
with="$project/target/$triple/release/runlog-firmware-rust"
base="$project/target/baseline/$triple/release/runlog-firmware-rust"

section() { # elf, section name -> size in bytes (0 when absent)
    "$size" -A "$1" | awk -v s="$2" '$1 == s { print $2; found = 1 } END { if (!found) print 0 }'
}
# The ring's storage: the RING static (header + data area).
ring=$("$nm" -S -C -t d "$with" | awk '$4 == "runlog_firmware_rust::RING" { print $2 + 0 }')
ring=${ring:-0}

declare -A v
for build in base with; do
    elf=${!build}
    for s in .text .rodata .data .bss; do
        v[$build$s]=$(section "$elf" "$s")
    done
done
flash_base=$((v[base.text] + v[base.rodata]))
flash_with=$((v[with.text] + v[with.rodata]))
ram_base=$((v[base.data] + v[base.bss]))
ram_with=$((v[with.data] + v[with.bss]))
flash_added=$((flash_with - flash_base))
ram_added=$((ram_with - ram_base - ring))

echo "runlog footprint on $triple (opt-level z, LTO, panic=abort)"
printf '%-28s %10s %10s %10s\n' "" baseline runlog added
for s in .text .rodata .data .bss; do
    printf '%-28s %10d %10d %10d\n' "$s" "${v[base$s]}" "${v[with$s]}" $((v[with$s] - v[base$s]))
done
printf '%-28s %10d %10d %10d   (target <= %d)\n' "flash (.text+.rodata)" "$flash_base" "$flash_with" "$flash_added" "$FLASH_TARGET"
printf '%-28s %10d %10d %10d\n' "RAM (.data+.bss)" "$ram_base" "$ram_with" $((ram_with - ram_base))
printf '%-28s %10s %10d\n' "  of which ring storage" "" "$ring"
printf '%-28s %10s %10s %10d   (target <= %d)\n' "RAM beyond the ring" "" "" "$ram_added" "$RAM_TARGET"

if command -v qemu-system-arm >/dev/null; then
    peak() {
        qemu-system-arm -M mps2-an386 -display none -monitor none \
            -semihosting-config enable=on,target=native -serial null -kernel "$1" 2>&1 >/dev/null |
            sed -n 's/^stack_peak_bytes=0*\([0-9]\)/\1/p'
    }
    sb=$(peak "$base")
    sw=$(peak "$with")
    printf '%-28s %10d %10d %10d   (measured in QEMU: painted stack)\n' "peak stack" "$sb" "$sw" $((sw - sb))
fi

echo
echo "Largest symbols that the runlog build adds or grows (bytes, arm-none-eabi-nm --size-sort):"
join -t $'\t' -a 1 -e 0 -o 0,1.2,2.2 \
    <("$nm" -S -C -t d --size-sort "$with" | awk '$3 ~ /^[tTrRdDbB]$/ { $1 = ""; sz = $2 + 0; $2 = ""; $3 = ""; sub(/^ +/, ""); n[$0] += sz } END { for (k in n) print k "\t" n[k] }' | sort -t $'\t' -k1,1) \
    <("$nm" -S -C -t d --size-sort "$base" | awk '$3 ~ /^[tTrRdDbB]$/ { $1 = ""; sz = $2 + 0; $2 = ""; $3 = ""; sub(/^ +/, ""); n[$0] += sz } END { for (k in n) print k "\t" n[k] }' | sort -t $'\t' -k1,1) |
    awk -F'\t' '$2 - $3 > 0 && $1 != "runlog_firmware_rust::RING" { printf "%8d  %s\n", $2 - $3, $1 }' | sort -rn | head -n "${TOP:-20}"

if ((check)); then
    status=0
    ((flash_added <= FLASH_TARGET)) || { echo "OVER: runlog adds $flash_added B flash (target $FLASH_TARGET)"; status=1; }
    ((ram_added <= RAM_TARGET)) || { echo "OVER: runlog adds $ram_added B RAM beyond the ring (target $RAM_TARGET)"; status=1; }
    exit $status
fi
