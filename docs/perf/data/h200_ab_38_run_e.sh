# The device command staged at the end of the eighteenth session (copy to .devcarry/run_e.sh; run as
# `bash .devcarry/run_e.sh`). .devcarry/bin holds, xz-packed: frugal (e747c04 + h200_ab_37_glu_quantize.patch),
# frugal_head and frugal_cuda_tests_head (e747c04, the engine code of HEAD), frugal_cuda_sync_bench (HEAD of the eighteenth session);
# .devcarry/peer the llama.cpp build of build_peer.sh. On any card: the stage-boundary bench. On an H200 also:
# the full h200_run.sh of HEAD with the peer, then the GLU prefetch variants against HEAD (AB=0 skips them).
set -u
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1); echo "card: $card"
sh .devcarry/unpack.sh
cd .devcarry/bin && mv frugal frugal_x && cp frugal_head frugal && cp frugal_cuda_tests_head frugal_cuda_tests && cd ../..
. scripts/device/env.sh
timeout 60 .devcarry/bin/frugal_cuda_sync_bench 2>&1 | tee "$OUT/sync.txt"
if [[ "$card" != *H200* ]]; then echo "not an H200: the stage-boundary bench only"; exit 0; fi
timeout 340 bash scripts/device/h200_run.sh Q4_K Q8_0 BF16 > "$OUT/run.txt" 2>&1; tail -45 "$OUT/run.txt"
[ "${AB:-1}" = 1 ] && SKIP_TESTS=1 TYPES=Q4_K REPS=1 timeout 130 bash scripts/device/h200_ab.sh "-" "x" \
    "x FRUGAL_X_GLU=1" "x FRUGAL_X_GLU=3" 2>&1 | tail -6
