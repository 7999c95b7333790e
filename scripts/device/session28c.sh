#!/usr/bin/env bash
# session28b.sh cut to fit a nearly spent device budget: qkvropenoq's frugal_cuda_tests, then BF16 tg128 @ d512 of
# HEAD, noq and qkvropenoq in two rounds of opposite order (no Q4_K control: those kernels' SASS is unchanged).
set -uo pipefail
dir=$(dirname "$0")
OUT=${OUT:-/tmp/out}
TEST_TAG=qkvropenoq TYPES=BF16 REPS=1 bash "$dir/h200_ab.sh" - noq qkvropenoq 2>&1 | grep -v "^==\|^BF16 \[" | head -8
SKIP_TESTS=1 TYPES=BF16 REPS=1 bash "$dir/h200_ab.sh" qkvropenoq noq - > /dev/null 2>&1
grep -E "tests from .* ran|PASSED|FAILED" "$OUT/cuda_tests.txt"
echo "== A/B (tok/s: median, min, max)"
sed 's/| synthetic llama3-8b [A-Z0-9_]* | cuda:0 (NVIDIA \([A-Z0-9]*\)[^)]*) | 16 | tg128 @ d512 |/\1/' "$OUT/ab.txt"
