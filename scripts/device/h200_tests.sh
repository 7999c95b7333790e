#!/usr/bin/env bash
# Runs only the CUDA test binary on the lent GPU (device tool, .devcarry/ carried: scripts/device/stage.sh), with
# the shared data and the test fixtures at the absolute paths the binary was built with. Output goes to $OUT.
# Usage: h200_tests.sh [gtest filter]
set -uo pipefail
. "$(dirname "$0")/env.sh"
# The binary was built in /work/main: its fixture paths (tests/data) must resolve there too.
if [ "$root" != /work/main ] && [ ! -e /work/main ]; then
    mkdir -p /work/main/tests && ln -sfn "$root/tests/data" /work/main/tests/data
fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
"$root/.devcarry/bin/frugal_cuda_tests" --gtest_brief=1 --gtest_filter="${1:-*}" 2>&1 | tail -60 | tee "$OUT/cuda_tests.txt"
