#!/usr/bin/env bash
# Builds the tests with AddressSanitizer + UndefinedBehaviorSanitizer (any UB aborts) and runs them all.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
# -O1 -g1 (line tables: stack traces keep file and line) rather than RelWithDebInfo's -O2 -g: under the sanitizers
# it halves the compile time (apps/cli/quant_report_command.cpp 52.6 -> 27.2 s on the 2-core CI machine kind), which
# was more than half of the CI run (19 of 33 minutes).
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1" -DFRUGAL_SANITIZE=ON -DFRUGAL_BUILD_BENCH=OFF -DFRUGAL_CUDA=OFF >/dev/null
cmake --build build-asan
ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure --timeout 1200
