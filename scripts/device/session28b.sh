#!/usr/bin/env bash
# Session 28's second call, for either card (.devcarry: frugal = HEAD; frugal_noq = HEAD +
# docs/perf/data/h100_ab_51_no_int8_copies_for_float_models.patch; frugal_qkvropenoq and
# frugal_cuda_tests_qkvropenoq = HEAD + h100_ab_52_bf16_qkv_two_rows_rope.patch + that patch; frugal_bf16ropenoq
# from session28.sh). The stories260K id checks and qkvropenoq's frugal_cuda_tests, then BF16 tg128 @ d512 of the
# four binaries in two rounds of opposite order, and Q4_K (the control: its weights take int8 activations and its
# kernels are unchanged) of HEAD and noq once each.
set -uo pipefail
dir=$(dirname "$0")
OUT=${OUT:-/tmp/out}
TEST_TAG=qkvropenoq TYPES=BF16 REPS=1 bash "$dir/h200_ab.sh" - noq qkvropenoq bf16ropenoq 2>&1 \
    | grep -v "^==\|^BF16 \[" | head -8
SKIP_TESTS=1 TYPES=BF16 REPS=1 bash "$dir/h200_ab.sh" bf16ropenoq qkvropenoq noq - > /dev/null 2>&1
SKIP_TESTS=1 TYPES=Q4_K REPS=1 bash "$dir/h200_ab.sh" - noq > /dev/null 2>&1
grep -E "tests from .* ran|PASSED|FAILED" "$OUT/cuda_tests.txt"
. "$dir/env.sh"
"$root/.devcarry/bin/frugal_cuda_tests_qkvropenoq" --gtest_filter='*FloatOnly*:*matmul_sequence*:*qkv_rope_store_kv_BF16*' \
    2>&1 | grep -E "^\[ +(OK|FAILED|SKIPPED) +\]" | head -12
echo "== A/B (tok/s: median, min, max)"
sed 's/| synthetic llama3-8b [A-Z0-9_]* | cuda:0 (NVIDIA \([A-Z0-9]*\)[^)]*) | 16 | tg128 @ d512 |/\1/' "$OUT/ab.txt"
