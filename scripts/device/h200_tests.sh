#!/usr/bin/env bash
# Runs only the CUDA test binary on the lent GPU (device tool, .devcarry/ carried: scripts/device/stage.sh), with
# the shared data and the test fixtures at the absolute paths the binary was built with. Output goes to $OUT.
# Usage: h200_tests.sh [gtest filter]
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
root=$PWD
cublas=$(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__) + "/lib")' 2>/dev/null)
export LD_LIBRARY_PATH=$root/.devcarry/lib:/usr/local/cuda/lib64:${cublas}:${LD_LIBRARY_PATH:-}
mkdir -p /work && ln -sfn "$root/.devcarry/shared" /work/shared
# The binary was built in /work/main: its fixture paths (tests/data) must resolve there too.
if [ "$root" != /work/main ] && [ ! -e /work/main ]; then
    mkdir -p /work/main/tests && ln -sfn "$root/tests/data" /work/main/tests/data
fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
"$root/.devcarry/bin/frugal_cuda_tests" --gtest_brief=1 --gtest_filter="${1:-*}" 2>&1 | tail -60 | tee "$OUT/cuda_tests.txt"
