#!/usr/bin/env bash
# Rebuilds the .devcarry/ that scripts/device/session28.sh runs (the staging is git-ignored and does not outlive a
# checkout): HEAD's binaries and tests, then the A/B variants, each HEAD + one patch of docs/perf/data/. About 25
# minutes on the 2-core dev machine from an empty BUILD_DIR. Needs a clean src/ (stage_variant.sh).
# Usage: scripts/device/stage_session28.sh [BUILD_DIR]   (default build_cuda)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build_cuda}
command -v nvcc > /dev/null || export PATH=/usr/local/cuda/bin:$PATH
python3 -c 'import gguf' 2> /dev/null || pip install -q gguf   # stage.sh's Gemma 3 slice
[ -f "$build/build.ninja" ] || cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRUGAL_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90-real > /dev/null
ninja -C "$build" frugal frugal_cuda_tests frugal_cuda_q4k_layout_bench | tail -1
bash scripts/device/stage.sh "$build" | tail -1
d=docs/perf/data
bash scripts/device/stage_variant.sh "$build" $d/h100_ab_48_bf16_two_rows_a_warp.patch bf16r2 | tail -1
bash scripts/device/stage_variant.sh "$build" $d/h100_ab_49_bf16_four_rows_a_warp.patch bf16r4 | tail -1
bash scripts/device/stage_variant.sh "$build" $d/h100_ab_50_bf16_two_rows_rope.patch bf16rope | tail -1
# The two patches touch different files, so together they apply as one.
cat $d/h100_ab_50_bf16_two_rows_rope.patch $d/h100_ab_51_no_int8_copies_for_float_models.patch > /tmp/bf16ropenoq.patch
TESTS=1 bash scripts/device/stage_variant.sh "$build" /tmp/bf16ropenoq.patch bf16ropenoq | tail -1
bash scripts/device/stage_variant.sh "$build" $d/h200_ab_46_q4k_glu_launch_bounds_untested.patch lb9 | tail -1
cp "$build/bench/frugal_cuda_q4k_layout_bench" .devcarry/bin/ && strip .devcarry/bin/frugal_cuda_q4k_layout_bench
rm -f .devcarry/bin/frugal_cuda_sync_bench*
du -sh .devcarry
