"""Instructions per runlog call, from a QEMU -singlestep -d exec,nochain trace
(see scripts/call-cost.sh).

Usage: call_cost.py ELF TRACE CALLERS FUNC...  For each entry into FUNC (its
first instruction), counts executed instructions until control is back in one
of the firmware's calling functions: those whose names match the regular
expression CALLERS (not the write callback that runlog_drain calls, which
counts as part of the drain)."""
import re, statistics, subprocess, sys
elf, trace, callers, funcs = sys.argv[1], sys.argv[2], re.compile(sys.argv[3]), sys.argv[4:]
syms = {}
for line in subprocess.run(["arm-none-eabi-nm", "-S", elf], capture_output=True, text=True).stdout.splitlines():
    p = line.split()
    if len(p) == 4:
        syms[p[3]] = (int(p[0], 16), int(p[1], 16))
back = [(lo, lo + n) for name, (lo, n) in syms.items() if callers.fullmatch(name)]
assert back, f"no function matches {callers.pattern}"
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
        elif any(lo <= pc < hi for lo, hi in back):
            counts[cur].append(n)
            cur = None
        else:
            n += 1
for f, c in counts.items():
    if c:
        q = statistics.quantiles(c, n=4) if len(c) > 1 else [c[0]] * 3
        print(f"{f}: calls={len(c)} median={statistics.median(c)} min={min(c)} max={max(c)} q1={q[0]} q3={q[2]}")
