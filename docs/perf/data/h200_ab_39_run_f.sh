# Nineteenth session's device command: `bash .devcarry/run_f.sh` with .devcarry carried. .devcarry/bin holds, xz-packed:
# frugal and frugal_cuda_tests of the working tree (engine code of HEAD, plus tests/cuda/cuda_real_model_test.cpp),
# frugal_cuda_sync_bench; .devcarry/model a 2-layer slice of Gemma 3 270M Q4_K_M (scripts/reference/slice_gguf.py
# --layers 2 --vocab 4096 --sliding-window-period 2); .devcarry/peer the llama.cpp build of build_peer.sh.
# On any card: the real-model GPU test, the stage-boundary bench, and (not an H200) the whole CUDA test binary.
# ONLY_H200=1: nothing at all on another card. LEAN=1: no stage-boundary bench, no d4096. On an H200: h200_run.sh Q4_K Q8_0 BF16 with the peer (it runs the whole test binary), then tg128 @ d4096.
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1); echo "card: $card"
if [[ "$card" != *H200* && -n "${ONLY_H200:-}" ]]; then echo "not an H200: nothing run"; exit 0; fi
sh .devcarry/unpack.sh
. scripts/device/env.sh
mkdir -p /work && ln -sfn "$root/.devcarry/shared" /work/shared
FRUGAL_GPU_TEST_MODEL=$root/.devcarry/model/gemma3-slice2.gguf timeout 120 .devcarry/bin/frugal_cuda_tests \
    --gtest_filter='CudaRealModel*' 2>&1 | tee "$OUT/real_model.txt" | grep -E '^\[cuda|OK|FAILED|Failure|Expected|Which|first|SKIPPED|generated' | head -40
[ -z "${LEAN:-}" ] && timeout 60 .devcarry/bin/frugal_cuda_sync_bench > "$OUT/sync.txt" 2>&1; grep -E 'PDL|barrier' "$OUT/sync.txt" | head -6
if [[ "$card" != *H200* ]]; then
    timeout 240 .devcarry/bin/frugal_cuda_tests --gtest_brief=1 2>&1 | tail -8 | tee "$OUT/cuda_tests.txt"
    echo "not an H200: no benchmark"; exit 0
fi
timeout 360 bash scripts/device/h200_run.sh Q4_K Q8_0 BF16 > "$OUT/run.txt" 2>&1; grep -v '^  ' "$OUT/run.txt" | tail -60
[ -n "${LEAN:-}" ] && exit 0
for t in Q4_K Q8_0 BF16; do
  timeout 60 $F bench -m /tmp/llama3-8b-$t.gguf --device cuda -p 0 -n 128 -d 4096 -r 3 2>&1 | grep '^|' | tail -1
done | tee "$OUT/d4096.txt"
