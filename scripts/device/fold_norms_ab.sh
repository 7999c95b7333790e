#!/usr/bin/env bash
# Session 27: the folded RMSNorm (CudaBackendOptions::fold_norms) against the norm kernels, on any card. frugal is
# the commit (fold on); frugal_nofold the same tree with docs/perf/data/h200_ab_47_fold_norms_off.patch. Runs the
# stories260K id checks and frugal_cuda_tests, tg128 @ d512 for BF16 (and Q4_K as a control) alternating the two
# binaries, then, if the fold is not faster on BF16, ncu's per-kernel times of 4 BF16 decode steps for both.
set -uo pipefail
dir=$(dirname "$0")
OUT=${OUT:-/tmp/out}
TYPES="BF16 Q4_K" REPS=2 bash "$dir/h200_ab.sh" - nofold 2>&1 | grep -v "^BF16 \[\|^Q4_K \[" | tail -30
fold=$(grep "^BF16 \[-\]" "$OUT/ab.txt" 2>/dev/null | awk -F'|' '{s += $6} END {print s / NR}')
nofold=$(grep "^BF16 \[nofold\]" "$OUT/ab.txt" 2>/dev/null | awk -F'|' '{s += $6} END {print s / NR}')
echo "BF16 mean tok/s: fold $fold, nofold $nofold"
if awk "BEGIN {exit !($fold <= $nofold * 1.01)}"; then
    for b in frugal frugal_nofold; do
        OUT=/tmp/ncu_$b SKIP_TESTS=1 TYPES=none NCU_TYPE=BF16 NCU_BIN=$b NCU_TIMEOUT=200 bash "$dir/h200_ab.sh" - \
            2>&1 | grep -v "^stories\|^==\|^BF16" | head -14
        cp /tmp/ncu_$b/ncu.txt "$OUT/ncu_$b.txt" 2>/dev/null
    done
fi
