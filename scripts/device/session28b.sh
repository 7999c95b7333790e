#!/usr/bin/env bash
# Session 28's second call, for either card (.devcarry: frugal = HEAD; frugal_noq + frugal_cuda_tests_noq = HEAD +
# docs/perf/data/h100_ab_51_no_int8_copies_for_float_models.patch). The stories260K id checks and noq's
# frugal_cuda_tests, then BF16 tg128 @ d512 of HEAD and noq in three rounds of alternating order, and Q4_K (the
# control: its weights take int8 activations, so noq runs the same kernels) once each.
set -uo pipefail
dir=$(dirname "$0")
OUT=${OUT:-/tmp/out}
TEST_TAG=noq TYPES=BF16 REPS=1 bash "$dir/h200_ab.sh" - noq 2>&1 | grep -v "^==\|^BF16 \[" | head -8
SKIP_TESTS=1 TYPES=BF16 REPS=1 bash "$dir/h200_ab.sh" noq - > /dev/null 2>&1
SKIP_TESTS=1 TYPES="BF16 Q4_K" REPS=1 bash "$dir/h200_ab.sh" - noq > /dev/null 2>&1
grep -E "tests from .* ran|PASSED|FAILED" "$OUT/cuda_tests.txt"
. "$dir/env.sh"
"$root/.devcarry/bin/frugal_cuda_tests_noq" --gtest_filter='*FloatOnly*:*matmul_sequence*:*rms_norm_d4096*' 2>&1 \
    | grep -E "^\[ +(OK|FAILED|SKIPPED) +\]" | head -12
echo "== A/B (tok/s: median, min, max)"
sed 's/| synthetic llama3-8b [A-Z0-9_]* | cuda:0 (NVIDIA \([A-Z0-9]*\)[^)]*) | 16 | tg128 @ d512 |/\1/' "$OUT/ab.txt"
