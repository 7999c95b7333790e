#!/usr/bin/env bash
# Session 27's call, for either card (.devcarry: frugal = the commit with the folded norm; frugal_nofold = the same
# with docs/perf/data/h200_ab_47_fold_norms_off.patch; frugal_lb9 = the same with
# docs/perf/data/h200_ab_46b_q4k_glu_launch_bounds.patch). The stories260K id checks and frugal_cuda_tests once,
# then tg128 @ d512 of BF16 (fold against nofold) and Q4_K (all three; lb9 only changes Q4_K's GLU), two rounds;
# on an H200 also the Q4_K layout bench (bench/q4k_layout_bench.cu).
set -uo pipefail
dir=$(dirname "$0")
OUT=${OUT:-/tmp/out}
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,driver_version --format=csv,noheader
TYPES=BF16 REPS=2 bash "$dir/h200_ab.sh" - nofold 2>&1 | grep -v "^==\|^BF16 \[" | head -8
TYPES=Q4_K REPS=2 SKIP_TESTS=1 bash "$dir/h200_ab.sh" - nofold lb9 2>&1 | grep -v "^==\|^stories\|^Q4_K \[" | head -4
. "$dir/env.sh"
if [[ "$card" == *H200* ]]; then
    "$root/.devcarry/bin/frugal_cuda_q4k_layout_bench" > "$OUT/layout.txt" 2>&1
    tail -30 "$OUT/layout.txt"
fi
echo "== A/B (tok/s: median, then the other two columns of frugal bench)"
sed 's/| synthetic llama3-8b [A-Z0-9_]* | cuda:0 (NVIDIA \([A-Z0-9]*\)[^)]*) | 16 | tg128 @ d512 |/\1/' "$OUT/ab.txt"
