"""Instructions per runlog call, from a QEMU -singlestep -d exec,nochain trace
(see scripts/call-cost.sh).

Usage: call_cost.py ELF TRACE FUNC...  For each entry into FUNC (its first
instruction), counts executed instructions until control is back in main."""
import statistics, subprocess, sys
elf, trace, funcs = sys.argv[1], sys.argv[2], sys.argv[3:]
syms = {}
for line in subprocess.run(["arm-none-eabi-nm", "-S", elf], capture_output=True, text=True).stdout.splitlines():
    p = line.split()
    if len(p) == 4:
        syms[p[3]] = (int(p[0], 16), int(p[1], 16))
main_lo, main_n = syms["main"]
entries = {syms[f][0]: f for f in funcs}
counts = {f: [] for f in funcs}
cur, n = None, 0
with open(trace) as t:
    for line in t:
        if not line.startswith("Trace"):
            continue
        pc = int(line.split("[")[1].split("/")[1], 16)
        if cur is None:
            if pc in entries:
                cur, n = entries[pc], 1
        elif main_lo <= pc < main_lo + main_n:
            counts[cur].append(n)
            cur = None
        else:
            n += 1
for f, c in counts.items():
    if c:
        q = statistics.quantiles(c, n=4) if len(c) > 1 else [c[0]] * 3
        print(f"{f}: calls={len(c)} median={statistics.median(c)} min={min(c)} max={max(c)} q1={q[0]} q3={q[2]}")
