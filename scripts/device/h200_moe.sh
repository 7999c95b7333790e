#!/usr/bin/env bash
# Runs on the lent H200 (device tool, .devcarry/ carried: scripts/device/stage.sh): the CUDA tests (all, or those
# matching $1), CPU-vs-GPU greedy ids on synthetic DeepSeek-tiny files (MLA + MoE) of several weight types, then
# frugal bench on a synthetic DeepSeek-V2-Lite (unless SKIP_BENCH is set; PROFILE=1: also its decode kernel timeline,
# h200_profile.sh). Results go to $OUT.
# Usage: h200_moe.sh [gtest filter] [bench types...] (default Q4_K)
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
root=$PWD
filter=${1:-*}
shift || true
types=("$@")
[ ${#types[@]} -eq 0 ] && types=(Q4_K)
bash "$root/scripts/device/h200_tests.sh" "$filter" > /tmp/tests_log.txt 2>&1
tail -25 "$OUT/cuda_tests.txt"
cublas=$(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__) + "/lib")' 2>/dev/null)
export LD_LIBRARY_PATH=$root/.devcarry/lib:/usr/local/cuda/lib64:${cublas}:${LD_LIBRARY_PATH:-}
F=$root/.devcarry/bin/frugal

echo "== deepseek-tiny (and the dense tiny as a control): CPU vs GPU greedy ids"
for st in deepseek-tiny:F32 deepseek-tiny:BF16 deepseek-tiny:Q8_0 deepseek-tiny:Q4_K tiny:Q8_0 tiny:Q4_K; do
    shape=${st%%:*} t=${st##*:}
    m=/tmp/$shape-$t.gguf
    $F synth --shape $shape --type $t -o $m > /dev/null 2>&1
    for p in "1,5,9,200" "7"; do
        cpu=$($F run -m $m --prompt-ids $p -n 24 --temp 0 --print-ids 2>/dev/null)
        gpu=$($F run -m $m --prompt-ids $p -n 24 --temp 0 --print-ids --device cuda 2>/tmp/gpu_err.txt)
        if [ "$cpu" == "$gpu" ] && [ -n "$cpu" ]; then
            echo "$shape $t prompt $p: same ids"
        else
            echo "$shape $t prompt $p: DIFFER"; echo "  cpu: $cpu"; echo "  gpu: $gpu"; tail -2 /tmp/gpu_err.txt
        fi
    done
done | tee "$OUT/tiny.txt"

[ -n "${SKIP_BENCH:-}" ] && exit 0
echo "== synthetic DeepSeek-V2-Lite: frugal bench"
for t in "${types[@]}"; do
    m=/tmp/deepseek-v2-lite-$t.gguf
    start=$SECONDS
    $F synth --shape deepseek-v2-lite --type $t -o $m 2>&1 | tail -c 200
    echo "synth $t: $((SECONDS - start)) s"
    for d in 0 512; do
        $F bench -m $m --device cuda -p 512 -n 128 -d $d -r 3 2>&1 | grep -v "^  [pt][pg]" | tee "$OUT/bench_dsl_${t}_d$d.txt"
    done
    if [ -n "${PROFILE:-}" ]; then
        MODEL=$m bash "$root/scripts/device/h200_profile.sh" $t > /tmp/profile_log.txt 2>&1
        head -30 "$OUT/timeline.txt" 2>/dev/null || tail -3 /tmp/profile_log.txt
    fi
done
