#!/usr/bin/env bash
# Builds frugal (warnings are errors) and runs the whole test suite. Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
# The CUDA backend is always compiled here (this machine kind has the CUDA toolkit but no GPU; GPU tests skip).
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DFRUGAL_WERROR=ON -DFRUGAL_CUDA=ON >/dev/null
cmake --build build
ctest --test-dir build --output-on-failure --timeout 900
