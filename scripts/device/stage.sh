#!/usr/bin/env bash
# Stages what a run on the lent GPU machine needs into .devcarry/ (git-ignored; pass it as the device tool's
# `carry`): binaries built here for sm_90, the shared libraries that machine lacks, stories260K and the Llama 3
# vocabulary. The GPU machine has no package registry and no ../shared, and cannot build frugal's dependencies.
# Usage: scripts/device/stage.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:?build dir configured with -DFRUGAL_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90}
grep -qx '/.devcarry/' .git/info/exclude 2>/dev/null || echo '/.devcarry/' >> .git/info/exclude
rm -rf .devcarry && mkdir -p .devcarry/bin .devcarry/lib .devcarry/shared/models .devcarry/vocab
cp "$build/bin/frugal" .devcarry/bin/
for t in "$build"/tests/frugal_cuda_tests "$build"/bench/frugal_cuda_matvec_bench "$build"/bench/frugal_cuda_sync_bench; do [ -x "$t" ] && cp "$t" .devcarry/bin/; done
strip .devcarry/bin/*
for lib in libfmt.so.9 libpcre2-8.so.0 libutf8proc.so.2 libcpp-httplib.so.0.11 libbrotlidec.so.1 libbrotlienc.so.1 \
           libbrotlicommon.so.1 libssl.so.3 libcrypto.so.3; do
    cp -L "/lib/x86_64-linux-gnu/$lib" .devcarry/lib/
done
cp -r ../shared/models/stories260K .devcarry/shared/models/
cp -L models/ggml-vocab-llama-bpe.gguf .devcarry/vocab/
# The peer: llama.cpp's llama-bench built here for sm_90 (xz-compressed to fit the transfer limit; see .peer/README.txt).
# PEER=server stages llama.cpp's llama-server (.peer/llama-server.xz) instead, for scripts/device/h200_serve.sh.
if [ "${PEER:-bench}" = server ]; then
    [ -f .peer/llama-server.xz ] && mkdir -p .devcarry/peer && cp .peer/llama-server.xz .devcarry/peer/
elif [ -f .peer/llama-bench.xz ]; then
    mkdir -p .devcarry/peer && cp .peer/llama-bench.xz .peer/llama-bench.sha256 .peer/unpack.sh .devcarry/peer/
fi
du -sh .devcarry
