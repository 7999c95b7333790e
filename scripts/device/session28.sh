#!/usr/bin/env bash
# Session 28's call, for either card; .devcarry from scripts/device/stage_session28.sh: frugal = HEAD, and HEAD + a
# patch of docs/perf/data/ for frugal_bf16r2 (h100_ab_48_bf16_two_rows_a_warp.patch), frugal_bf16r4
# (h100_ab_49_bf16_four_rows_a_warp.patch), frugal_bf16rope (h100_ab_50_bf16_two_rows_rope.patch: two rows at one
# token and the rope epilogue, the form to commit if it wins), frugal_bf16ropenoq and frugal_cuda_tests_bf16ropenoq
# (that patch and h100_ab_51_no_int8_copies_for_float_models.patch) and frugal_lb9
# (h200_ab_46_q4k_glu_launch_bounds_untested.patch). The stories260K id checks and bf16ropenoq's frugal_cuda_tests,
# then BF16 tg128 @ d512 of the five binaries, in two rounds of opposite order. On an H200 also the Q4_K layout bench
# and the Q4_K A/B of HEAD against lb9.
set -uo pipefail
dir=$(dirname "$0")
OUT=${OUT:-/tmp/out}
TEST_TAG=bf16ropenoq TYPES=BF16 REPS=1 bash "$dir/h200_ab.sh" - bf16r2 bf16r4 bf16rope bf16ropenoq 2>&1 \
    | grep -v "^==\|^BF16 \[" | head -8
SKIP_TESTS=1 TYPES=BF16 REPS=1 bash "$dir/h200_ab.sh" bf16ropenoq bf16rope bf16r4 bf16r2 - > /dev/null 2>&1
. "$dir/env.sh"
if [[ "$card" == *H200* ]]; then
    "$root/.devcarry/bin/frugal_cuda_q4k_layout_bench" > "$OUT/layout.txt" 2>&1
    tail -30 "$OUT/layout.txt"
    TYPES=Q4_K REPS=2 SKIP_TESTS=1 bash "$dir/h200_ab.sh" - lb9 > /dev/null 2>&1
fi
echo "== A/B (tok/s: median, min, max)"
sed 's/| synthetic llama3-8b [A-Z0-9_]* | cuda:0 (NVIDIA \([A-Z0-9]*\)[^)]*) | 16 | tg128 @ d512 |/\1/' "$OUT/ab.txt"
