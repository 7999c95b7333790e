#!/usr/bin/env bash
# Runs on the lent H200 (device tool) with .devcarry/ carried: the kernel timeline of frugal's batch-1 decode on a
# synthetic Llama-3-8B at depth $DEPTH (default 512), taken by the CUPTI injection library
# .devcarry/lib/libcupti_trace.so (built from scripts/device/cupti_trace.cpp; the lent machine has no Nsight Systems).
# Kernels inside the captured decode graphs are traced one by one, as they really run. Prints, per decode step, wall
# time, time with a kernel running, and each kernel's share.
# Usage: [DEPTH=512] h200_timeline.sh [TYPE ...] (default Q4_K)
set -uo pipefail
. "$(dirname "$0")/env.sh"
for t in "${@:-Q4_K}"; do
    m=$(synth_llama3 "$t") || continue
    CUDA_INJECTION64_PATH=$root/.devcarry/lib/libcupti_trace.so CUPTI_TRACE_OUT=/tmp/trace_$t.csv \
        $F bench -m $m --device cuda -p 0 -n 64 -d ${DEPTH:-512} -r 1 --no-memory-bandwidth > "$OUT/timeline_run_$t.txt" 2>&1
    gzip -c /tmp/trace_$t.csv > "$OUT/trace_$t.csv.gz"
    python3 "$root/scripts/device/timeline_summary.py" /tmp/trace_$t.csv $t | tee "$OUT/timeline_$t.txt"
    grep -E "tg" "$OUT/timeline_run_$t.txt" | head -3
done
