#!/usr/bin/env bash
# Runs on the lent H200 (device tool) with .devcarry/ carried: decode throughput with many sequences at once
# (frugal bench --parallel: every sequence prefilled to DEPTH tokens, then all decode together), and an nsys kernel
# summary of one batched decode (PROFILE_SEQS sequences), to see where a batched step's time goes.
# Usage: h200_decode_batch.sh [TYPE] (default Q4_K)
set -uo pipefail
. "$(dirname "$0")/env.sh"
t=${1:-Q4_K}
depth=${DEPTH:-256}
m=$(synth_llama3 "$t") || exit 1
$F bench -m $m --device cuda -p 0 -n 32 -d $depth -r 1 -b 2048 --no-memory-bandwidth \
    --parallel ${PARALLEL:-1,2,4,8,16,32,64,128,256} 2>&1 | grep -v "^  " | tee "$OUT/decode_batch_$t.txt"
nsys=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)
[ -z "$nsys" ] && { echo "no nsys"; exit 0; }
"$nsys" profile -t cuda --cuda-graph-trace=node -o /tmp/batch --force-overwrite true \
    $F bench -m $m --device cuda -p 0 -n 16 -d $depth -r 1 -b 2048 --no-memory-bandwidth \
    --parallel ${PROFILE_SEQS:-64} > "$OUT/nsys_batch_run.txt" 2>&1
"$nsys" stats --report cuda_gpu_kern_sum --format csv -o /tmp/batch /tmp/batch.nsys-rep > /dev/null 2>&1
python3 - /tmp/batch_cuda_gpu_kern_sum.csv <<'PY' | tee "$OUT/batch_kernels.txt"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
total = sum(float(r["Total Time (ns)"]) for r in rows)
print(f"kernel time total {total / 1e6:.1f} ms over the whole run (prefill included)")
for r in rows[:25]:
    name = r["Name"].replace("void ", "")[:110]
    print(f'{float(r["Time (%)"]):5.1f}%  {float(r["Total Time (ns)"]) / 1e6:9.1f} ms  {int(r["Instances"]):7d}x  {name}')
PY
