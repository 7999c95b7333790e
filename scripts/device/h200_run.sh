#!/usr/bin/env bash
# Runs on the lent H200 (device tool), from the repository root with .devcarry/ carried (scripts/device/stage.sh):
# GPU-vs-CPU checks on stories260K, the CUDA test binary, then frugal bench (and llama.cpp's llama-bench when
# staged, unless SKIP_PEER is set) on synthetic Llama-3-8B files. Results go to $OUT in few files (the device tool
# returns at most 8): checks.txt (card, stories260K, tests), bench.txt (frugal), llama.txt (llama.cpp), ncu.txt.
# Usage: [REQUIRE_H200=1] h200_run.sh [TYPES...] (default Q4_K Q8_0 BF16); env.sh says what REQUIRE_H200 does.
set -uo pipefail
. "$(dirname "$0")/env.sh"
types=("$@")
[ ${#types[@]} -eq 0 ] && types=(Q4_K Q8_0 BF16)
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.mem,driver_version --format=csv | tee "$OUT/checks.txt"

echo "== stories260K: CPU vs GPU greedy ids"
S=/work/shared/models/stories260K
for p in "1,403,407" "1,365,263,31,29" "1"; do
    cpu=$($F run -m $S/stories260K.bin --tokenizer $S/tok512.bin --prompt-ids $p -n 60 --temp 0 --print-ids 2>/dev/null)
    gpu=$($F run -m $S/stories260K.bin --tokenizer $S/tok512.bin --prompt-ids $p -n 60 --temp 0 --print-ids --device cuda 2>/tmp/gpu_err.txt)
    if [ "$cpu" == "$gpu" ] && [ -n "$cpu" ]; then echo "prompt $p: same ids"; else echo "prompt $p: DIFFER"; echo "cpu: $cpu"; echo "gpu: $gpu"; tail -3 /tmp/gpu_err.txt; fi
done | tee -a "$OUT/checks.txt"

if [ -x "$root/.devcarry/bin/frugal_cuda_tests" ]; then
    echo "== CUDA tests"
    "$root/.devcarry/bin/frugal_cuda_tests" --gtest_brief=1 2>&1 | tail -40 | tee -a "$OUT/checks.txt"
fi

[ -f "$root/.devcarry/peer/llama-bench.xz" ] && sh "$root/.devcarry/peer/unpack.sh"
echo "== synthetic Llama-3-8B: frugal bench"
for t in "${types[@]}"; do
    m=$(synth_llama3 "$t") || continue
    [ -n "${SKIP_BENCH:-}" ] && continue
    for d in 0 512; do
        echo "== $t d$d" >> "$OUT/bench.txt"
        $F bench -m $m --device cuda -p 512 -n 128 -d $d -r 3 --price-per-hour 3.5 2>&1 | grep -v "^  [pt][pg]" | tee -a "$OUT/bench.txt"
    done
    if [ -x "$root/.devcarry/peer/llama-bench" ] && [ -z "${SKIP_PEER:-}" ]; then
        "$root/.devcarry/peer/llama-bench" -m $m -ngl 99 -fa 1 -p 512 -n 128 -d 0,512 -r 3 -o md 2>"/tmp/llama_$t.err" | tee -a "$OUT/llama.txt"
        tail -3 "/tmp/llama_$t.err" | tee -a "$OUT/llama.txt"
    fi
done

if [ -n "${PROFILE:-}" ]; then
    echo "== host floor: stories260K decode on the GPU"
    $F bench -m $S/stories260K.bin --tokenizer $S/tok512.bin --device cuda -p 128 -n 128 -r 3 --no-memory-bandwidth 2>/dev/null | grep "^|"
    m=/tmp/llama3-8b-${PROFILE}.gguf
    echo "== ncu: per-kernel time, warm-up + pp512 + 4 decode steps ($PROFILE)"
    ncu --clock-control none --graph-profiling node --launch-count 5000 \
        --print-summary per-kernel --metrics gpu__time_duration.sum \
        $F bench -m $m --device cuda -p 512 -n 4 -r 1 --no-memory-bandwidth > /tmp/ncu_raw.txt 2>&1
    python3 - /tmp/ncu_raw.txt <<'PY' | tee "$OUT/ncu.txt"
import re, sys
rows = []; name = None; inv = 0
for line in open(sys.argv[1]):
    m = re.match(r"\s+(.*) \((\d+), (\d+), (\d+)\)x\((\d+), .*Invocations (\d+)", line)
    if m:
        name = m.group(1)[-60:] + " grid " + m.group(2) + "x" + m.group(3) + "x" + m.group(4); inv = int(m.group(6)); continue
    m = re.match(r"\s+gpu__time_duration.sum\s+(\w+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", line)
    if m and name:
        unit = {"ns": 1e-3, "us": 1.0, "ms": 1e3}[m.group(1)]
        rows.append((float(m.group(4)) * unit * inv, inv, float(m.group(4)) * unit, name)); name = None
rows.sort(reverse=True)
for total, inv, avg, name in rows[:40]:
    print(f"{total:10.1f} us {inv:6d} x {avg:9.2f} us  {name}")
PY
fi
