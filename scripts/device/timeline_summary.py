#!/usr/bin/env python3
"""Summarizes a kernel trace (scripts/device/cupti_trace.cpp's CSV) of batch-1 decode, per decode step.

Under programmatic dependent launch a kernel starts before its predecessor ends and waits inside, so its own
duration overlaps the previous kernel's. Two columns therefore: 'own' is each kernel's duration (start to end),
'adds' is how much it extends the step (its end minus the latest end of any kernel before it, floored at 0): the
'adds' column sums to the time with a kernel running, and with the idle gaps to the step's wall time.
Usage: timeline_summary.py TRACE.csv LABEL [STEPS]
"""
import collections
import csv
import re
import sys


def short(name, grid):
    name = name.replace("(anonymous namespace)::", "").replace("frugal::cuda::", "").replace("void ", "")
    name = re.sub(r"\((frugal::cuda::)?WeightFormat\)", "F", name)
    return re.sub(r"\(.*$", "", name)[-60:] + f" [grid {grid}]"


rows = sorted((int(r["start_ns"]), int(r["end_ns"]), short(r["name"], r["grid"])) for r in csv.DictReader(open(sys.argv[1])))
label = sys.argv[2]
want = int(sys.argv[3]) if len(sys.argv) > 3 else 32
# A decode step ends with its sampling kernel; steps are the spans between consecutive sampling kernels. Greedy
# sampling is two kernels (argmax_chunk_kernel over blocks of logits, then argmax_final_kernel): the final one ends it.
ends = [i for i, (s, e, n) in enumerate(rows) if "sample" in n or ("argmax" in n and "argmax_chunk" not in n)]
ends = ends[-(want + 1):]
print(f"{label}: {len(rows)} kernels traced; the last {len(ends) - 1} decode steps")
per = collections.defaultdict(lambda: [0, 0, 0])
wall = busy = 0
for a, b in zip(ends, ends[1:]):
    seg = rows[a + 1:b + 1]
    wall += seg[-1][1] - rows[a][1]
    latest = rows[a][1]
    for s, e, n in seg:
        add = max(0, e - max(s, latest))
        busy += add
        latest = max(latest, e)
        p = per[n]
        p[0] += e - s
        p[1] += add
        p[2] += 1
k = len(ends) - 1
print(f"step {wall / k / 1e3:.1f} us wall, {busy / k / 1e3:.1f} us with a kernel running, "
      f"{(wall - busy) / k / 1e3:.1f} us with none")
print(f"{'adds us':>8} {'share':>6} {'own us':>8} {'calls':>6} {'adds/call':>9}  kernel (per step)")
for n, (own, add, c) in sorted(per.items(), key=lambda x: -x[1][1]):
    print(f"{add / k / 1e3:8.1f} {100 * add / wall:5.1f}% {own / k / 1e3:8.1f} {c / k:6.1f} {add / c / 1e3:9.2f}  {n}")
