#!/usr/bin/env bash
# Runs on the lent H200 (device tool) with .devcarry/ carried: a kernel timeline of frugal's decode on a synthetic
# Llama-3-8B (nsys with CUDA-graph node tracing, so kernels run as in production, overlapped and at full clocks),
# summarized per kernel and as the idle time between kernels. Usage: [MODEL=file.gguf] h200_profile.sh [TYPE] (default
# Q4_K)
set -uo pipefail
. "$(dirname "$0")/env.sh"
t=${1:-Q4_K}
m=${MODEL:-}  # MODEL: another (already written) model file to profile
[ -z "$m" ] && { m=$(synth_llama3 "$t") || exit 1; }
nsys=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)
if [ -z "$nsys" ]; then echo "no nsys on this machine"; exit 1; fi
"$nsys" profile -t cuda --cuda-graph-trace=node -o /tmp/decode --force-overwrite true \
    $F bench -m $m --device cuda -p 64 -n 64 -r 1 --no-memory-bandwidth > "$OUT/nsys_run.txt" 2>&1
"$nsys" stats --report cuda_gpu_trace --format csv -o /tmp/trace /tmp/decode.nsys-rep > /dev/null 2>&1
python3 - /tmp/trace_cuda_gpu_trace.csv <<'PY' | tee "$OUT/timeline.txt"
import csv, sys, collections
def short_name(n):
    n = n.replace("(anonymous namespace)::", "").replace("frugal::cuda::", "").replace("void ", "")
    depth = 0
    for i, ch in enumerate(n):
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "(" and depth == 0:
            return n[:i][-80:]
    return n[-80:]
rows = [r for r in csv.DictReader(open(sys.argv[1]))]
k = [(int(r["Start (ns)"]), int(r["Duration (ns)"]), r["Name"]) for r in rows if r.get("Name") and "[CUDA" not in r["Name"]]
k.sort()
# Decode steps: the last 32 token steps; a step starts at an embedding lookup (get_rows) kernel.
starts = [i for i, (s, d, n) in enumerate(k) if "get_rows" in n]
steps = starts[-33:]
print(f"{len(k)} kernels, {len(starts)} steps seen; summarizing the last {len(steps) - 1} decode steps")
per = collections.defaultdict(lambda: [0, 0])
busy = wall = 0
for a, b in zip(steps, steps[1:]):
    seg = k[a:b]
    wall += k[b][0] - seg[0][0]
    end = seg[0][0]
    for s, d, n in seg:
        busy += max(0, s + d - max(s, end))
        end = max(end, s + d)
        short = short_name(n)
        per[short][0] += d
        per[short][1] += 1
nsteps = len(steps) - 1
print(f"step: {wall / nsteps / 1e3:.1f} us wall, {busy / nsteps / 1e3:.1f} us with a kernel running, "
      f"{(wall - busy) / nsteps / 1e3:.1f} us idle")
print(f"{'us/step':>9} {'calls':>6} {'us/call':>8}  kernel")
for n, (d, c) in sorted(per.items(), key=lambda x: -x[1][0]):
    print(f"{d / nsteps / 1e3:9.1f} {c // nsteps:6d} {d / c / 1e3:8.2f}  {n}")
PY
