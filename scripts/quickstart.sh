#!/usr/bin/env bash
# Quick start: install dependencies and the default model, build frugal, and generate text with it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target frugal
./build/bin/frugal run -m models/gemma-3-270m-q4_k_m.gguf -p "${1:-The three most useful things to pack for a hike are}" -n "${2:-64}" --temp 0
