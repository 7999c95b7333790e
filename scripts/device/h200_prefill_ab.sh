#!/usr/bin/env bash
# Prefill A/B on the lent GPU (device tool, .devcarry/ carried; scripts/device/stage.sh, then the other builds
# xz-packed as .devcarry/bin/frugal_TAG.xz): for each type, the greedy ids of a 24-token generation from a text prompt
# with every binary (md5, equal when the prefill path gives the same logits' argmax), then pp512 of every binary in
# turn, REPS times (`frugal bench -p 512 -n 8 -r 5`). NCU=1 adds ncu's view (duration, stall, occupancy) of the
# first flash-attention launch of a BF16 pp512 for every binary.
# Usage: TYPES="BF16 Q4_K" REPS=2 h200_prefill_ab.sh TAG ... (TAG "-" is .devcarry/bin/frugal)
set -uo pipefail
source "$(dirname "$0")/env.sh"
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
bin_of() { if [ "$1" = "-" ]; then echo "$F"; else echo "${F}_$1"; fi; }
prompt='The quick brown fox jumps over the lazy dog and then runs far away into the deep dark forest where nobody'
for t in ${TYPES:-BF16 Q4_K Q8_0}; do
    m=$(synth_llama3 "$t")
    for tag in "$@"; do
        ids=$($(bin_of "$tag") run -m $m --device cuda -p "$prompt" -n 24 --temp 0 --print-ids 2>/dev/null | md5sum)
        echo "$t [$tag] greedy ids md5 ${ids%% *}" | tee -a "$OUT/prefill_ids.txt"
    done
    for rep in $(seq "${REPS:-2}"); do
        for tag in "$@"; do
            r=$($(bin_of "$tag") bench -m $m --device cuda -p 512 -n 8 -r 5 2>&1 | grep -E "^\| .*pp512" | head -1)
            echo "$t [$tag] $r" | tee -a "$OUT/prefill_ab.txt"
        done
    done
done
if [ -n "${NCU:-}" ]; then
    m=$(synth_llama3 BF16)
    for tag in "$@"; do
        timeout 120 ncu --clock-control none -k regex:flash_attention -c 1 --section SpeedOfLight \
            --section WarpStateStats --section Occupancy --section InstructionStats \
            "$(bin_of "$tag")" bench -m $m --device cuda -p 512 -n 1 -r 1 --no-memory-bandwidth \
            > "$OUT/ncu_flash_${tag//-/head}.txt" 2>&1
        grep -E "Duration|Warp Cycles Per Issued|Registers Per|Achieved Occ|Issue Slots|Executed Instructions  " \
            "$OUT/ncu_flash_${tag//-/head}.txt" | sed "s/^/[$tag] /"
    done
fi
