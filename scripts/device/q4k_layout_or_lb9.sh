#!/usr/bin/env bash
# Session 26's call, for either card. On an H200: the Q4_K layout bench (bench/q4k_layout_bench.cu), then the lb9 A/B
# and, if lb9 wins, the full table (h200_ab_then_run.sh lb9). On any other card: ncu's warp-state and memory sections
# of the layout bench's block-layout kernels, the GLU (2 x 14336 x 4096) and the stacked kernel at q/k/v size
# (6144 x 4096), one launch each (ncu demangles the template arguments as (int)0, hence the regex).
set -uo pipefail
dir=$(dirname "$0")
. "$dir/env.sh"
bench=$root/.devcarry/bin/frugal_cuda_q4k_layout_bench
if [[ "$card" == *H200* ]]; then
    "$bench" > "$OUT/layout.txt" 2>&1
    cat "$OUT/layout.txt"
    bash "$dir/h200_ab_then_run.sh" lb9 2>&1 | tail -30
    exit 0
fi
# Session 27: on other cards the layout bench alone (its rows-per-warp table had not run); FRUGAL_NCU=1 for the profiles.
"$bench" > "$OUT/layout_$(echo "$card" | tr -c 'A-Za-z0-9\n' _).txt" 2>&1
cat "$OUT"/layout_*.txt
[[ "${FRUGAL_NCU:-0}" == 1 ]] || exit 0
for k in "glu_kernel<.int.0, .int.8>" "stacked_kernel<.int.0>"; do
    echo "== $k on $card" >> "$OUT/ncu_layout.txt"
    timeout 200 ncu --clock-control none --graph-profiling node --kernel-name-base demangled --kernel-name "regex:${k}" --launch-count 1 \
        --section LaunchStats --section Occupancy --section SchedulerStats --section WarpStateStats \
        --section MemoryWorkloadAnalysis --section SpeedOfLight "$bench" 2>&1 | grep -v "^| \|^device\|^outputs" \
        >> "$OUT/ncu_layout.txt"
done
tail -c 11000 "$OUT/ncu_layout.txt"
