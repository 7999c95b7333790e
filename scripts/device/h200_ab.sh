#!/usr/bin/env bash
# A/B runs on the lent H200 (device tool, .devcarry/ carried): the stories260K id checks and frugal_cuda_tests once,
# then batch-1 decode (tg128 after a 512-token depth, no prefill test) of each type under each environment setting.
# Usage: TYPES="Q4_K Q8_0 BF16" h200_ab.sh "TAG [VAR=a ...]" ...: each variant runs .devcarry/bin/frugal_TAG (TAG
# "-" for .devcarry/bin/frugal) with the given environment. REQUIRE_H200=1: see env.sh. The tests are
# .devcarry/bin/frugal_cuda_tests, or frugal_cuda_tests_$TEST_TAG (stage_variant.sh with TESTS=1); SKIP_TESTS=1: none.
set -uo pipefail
. "$(dirname "$0")/env.sh"
variants=("$@")
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,driver_version --format=csv,noheader
S=/work/shared/models/stories260K
for p in "1,403,407" "1,365,263,31,29" "1"; do
    cpu=$($F run -m $S/stories260K.bin --tokenizer $S/tok512.bin --prompt-ids $p -n 60 --temp 0 --print-ids 2>/dev/null)
    gpu=$($F run -m $S/stories260K.bin --tokenizer $S/tok512.bin --prompt-ids $p -n 60 --temp 0 --print-ids --device cuda 2>/dev/null)
    if [ "$cpu" == "$gpu" ] && [ -n "$cpu" ]; then echo "stories260K prompt $p: same ids"; else echo "prompt $p: DIFFER"; echo "cpu: $cpu"; echo "gpu: $gpu"; fi
done | tee "$OUT/stories.txt"
tests=$root/.devcarry/bin/frugal_cuda_tests${TEST_TAG:+_$TEST_TAG}
if [ -z "${SKIP_TESTS:-}" ] && [ -x "$tests" ]; then
    "$tests" --gtest_brief=1 > "$OUT/cuda_tests.txt" 2>&1
    grep -E "PASSED|FAILED|Failure" "$OUT/cuda_tests.txt" | head -20
fi
for t in ${TYPES:-Q4_K Q8_0 BF16}; do
    m=$(synth_llama3 "$t") || continue
    for v in "${variants[@]}"; do
        for rep in $(seq ${REPS:-1}); do
            set -- $v
            bin=$F; [ "$1" != "-" ] && bin=$F"_$1"
            shift
            r=$(env "$@" $bin bench -m $m --device cuda -p 0 -n 128 -d ${DEPTH:-512} -r 3 2>&1 | grep -E "^\| .*tg" | head -1)
            echo "$t [$v] $r" | tee -a "$OUT/ab.txt"
        done
    done
done
# NCU_TYPE=T: per-kernel times of 4 decode steps at depth 512 (binary ${NCU_BIN:-frugal}), sorted by total time.
if [ -n "${NCU_TYPE:-}" ]; then
    timeout ${NCU_TIMEOUT:-200} ncu --clock-control none --graph-profiling node --launch-count 8000 \
        --print-summary per-kernel --metrics gpu__time_duration.sum \
        $root/.devcarry/bin/${NCU_BIN:-frugal} bench -m /tmp/llama3-8b-$NCU_TYPE.gguf --device cuda -p 0 -n 4 \
        -d 512 -r 1 --no-memory-bandwidth > "$OUT/ncu_raw.txt" 2>&1
    python3 - "$OUT/ncu_raw.txt" <<'PY' | tee "$OUT/ncu.txt"
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
echo "== summary"; cat "$OUT/ab.txt"
