#!/usr/bin/env bash
# Stages what a run on the lent GPU machine needs into .devcarry/ (git-ignored; pass it as the device tool's
# `carry`): binaries built here for sm_90, the shared libraries that machine lacks, stories260K, the Llama 3
# vocabulary and a 2-layer slice of Gemma 3 270M (scripts/reference/slice_gguf.py; needs `pip install gguf`) for
# tests/cuda/cuda_real_model_test.cpp. The GPU machine has no package registry and no ../shared, and cannot build
# frugal's dependencies. Binaries, libraries and the slice are xz-packed to fit the 64 MiB transfer; on the GPU
# machine `sh .devcarry/unpack.sh` (h200_run.sh calls it) unpacks them with Python's lzma.
# Usage: scripts/device/stage.sh BUILD_DIR
# Configure BUILD_DIR with -DCMAKE_CUDA_ARCHITECTURES=90-real: sm_90 machine code only. With "90" the binaries also
# carry PTX, which the lent H100/H200 never JIT-compile: frugal xz-packs to 6.0 MB instead of 4.1 MB (measured at
# bd38bf9), room that an A/B binary or the Gemma slice needs under the 64 MiB transfer limit.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:?build dir configured with -DFRUGAL_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90-real}
grep -qx '/.devcarry/' .git/info/exclude 2>/dev/null || echo '/.devcarry/' >> .git/info/exclude
rm -rf .devcarry && mkdir -p .devcarry/bin .devcarry/lib .devcarry/shared/models .devcarry/vocab .devcarry/model
cp "$build/bin/frugal" .devcarry/bin/
# The matrix-vector bench only with MATVEC=1: it and the peer together do not fit the transfer.
benches="$build/bench/frugal_cuda_sync_bench"
[ -n "${MATVEC:-}" ] && benches="$benches $build/bench/frugal_cuda_matvec_bench"
for t in "$build"/tests/frugal_cuda_tests $benches; do [ -x "$t" ] && cp "$t" .devcarry/bin/; done
strip .devcarry/bin/*
for lib in libfmt.so.9 libpcre2-8.so.0 libutf8proc.so.2 libcpp-httplib.so.0.11 libbrotlidec.so.1 libbrotlienc.so.1 \
           libbrotlicommon.so.1 libssl.so.3 libcrypto.so.3; do
    cp -L "/lib/x86_64-linux-gnu/$lib" .devcarry/lib/
done
cp -r ../shared/models/stories260K .devcarry/shared/models/
# The Llama 3 vocabulary for `frugal synth`: models/ if a build put it there, else ../shared's xz copy.
if [ -f models/ggml-vocab-llama-bpe.gguf ]; then
    cp -L models/ggml-vocab-llama-bpe.gguf .devcarry/vocab/
else
    xz -dc ../shared/vocab-gguf/ggml-vocab-llama-bpe.gguf.xz > .devcarry/vocab/ggml-vocab-llama-bpe.gguf
fi
if [ -f models/gemma-3-270m-q4_k_m.gguf ] && python3 -c 'import gguf' 2>/dev/null; then
    python3 scripts/reference/slice_gguf.py models/gemma-3-270m-q4_k_m.gguf .devcarry/model/gemma3-slice2.gguf \
        --layers 2 --vocab 4096 --sliding-window-period 2
else
    echo "no Gemma 3 270M or no gguf module: the real-model GPU test will report itself skipped"
fi
xz -9 -T0 .devcarry/bin/* .devcarry/lib/* .devcarry/vocab/* $(ls .devcarry/model/* 2>/dev/null)
# The CUPTI injection library of h200_timeline.sh (small, so built after the packing).
if [ -f /usr/local/cuda/include/cupti.h ]; then
    g++ -O2 -shared -fPIC -I/usr/local/cuda/include scripts/device/cupti_trace.cpp -L/usr/local/cuda/lib64 -lcupti \
        -o .devcarry/lib/libcupti_trace.so
fi
cat > .devcarry/unpack.sh <<'UNPACK'
# Unpacks the xz files of .devcarry with Python's lzma (the lent machine may lack xz).
python3 - <<'PY'
import glob, lzma, os, shutil
for f in glob.glob('.devcarry/*/*.xz'):
    if '/peer/' in f:
        continue  # peer/unpack.sh checks its own
    with lzma.open(f) as a, open(f[:-3], 'wb') as b:
        shutil.copyfileobj(a, b)
    os.chmod(f[:-3], 0o755 if '/bin/' in f else 0o644)
    os.remove(f)
PY
UNPACK
# The peer: llama.cpp's llama-bench built here for sm_90 (xz-compressed to fit the transfer limit; see .peer/README.txt).
# PEER=server stages llama.cpp's llama-server (.peer/llama-server.xz) instead, for scripts/device/h200_serve.sh.
if [ "${PEER:-bench}" = server ]; then
    [ -f .peer/llama-server.xz ] && mkdir -p .devcarry/peer && cp .peer/llama-server.xz .devcarry/peer/
elif [ -f .peer/llama-bench.xz ]; then
    mkdir -p .devcarry/peer && cp .peer/llama-bench.xz .peer/llama-bench.sha256 .peer/unpack.sh .devcarry/peer/
fi
du -sh .devcarry
