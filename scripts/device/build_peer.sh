#!/usr/bin/env bash
# Builds the peer of the H200 runs: llama.cpp's llama-bench, from the llama.cpp that llama-cpp-python's sdist vendors
# (0.3.36: llama.cpp 0c1e570), for sm_90 with CUDA graphs and the flash-attention kernels. It writes what stage.sh
# carries to the GPU machine:
#   .peer/llama-bench.xz, .peer/llama-bench.sha256, .peer/unpack.sh (run there: unpacks with Python's lzma, which the
#   lent machine has where it may lack xz, and checks the digest), and .peer/README.txt (versions and cmake line).
# The lent machine has no network, so the build happens here. It takes about 20 minutes on 2 cores; start it early, in
# the background. Usage: scripts/device/build_peer.sh   (env: LLAMA_CPP_PYTHON_VERSION, PEER_BUILD_DIR, JOBS)
set -euo pipefail
cd "$(dirname "$0")/../.."
version=${LLAMA_CPP_PYTHON_VERSION:-0.3.36}
work=${PEER_BUILD_DIR:-/tmp/frugal-peer}
mkdir -p "$work" .peer
grep -qx '/.peer/' .git/info/exclude 2>/dev/null || echo '/.peer/' >> .git/info/exclude

sdist="$work/llama_cpp_python-$version.tar.gz"
[ -f "$sdist" ] || pip download --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$work"
src="$work/llama_cpp_python-$version/vendor/llama.cpp"
[ -d "$src" ] || tar -xzf "$sdist" -C "$work"

# One file travels: llama.cpp's own libraries static, SASS for sm_90 only (no PTX, to halve the file); the CUDA
# runtime and cuBLAS stay shared (the lent machine's CUDA toolkit has them: scripts/device/env.sh puts it on the
# library path). No NCCL and no OpenMP, which that machine may lack.
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc
            -DCMAKE_CUDA_ARCHITECTURES=90-real -DGGML_CUDA=ON -DGGML_CUDA_GRAPHS=ON -DGGML_CUDA_FA=ON
            -DGGML_CUDA_NCCL=OFF -DGGML_OPENMP=OFF -DGGML_NATIVE=OFF -DBUILD_SHARED_LIBS=OFF -DLLAMA_BUILD_TOOLS=ON
            -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF
            -DLLAMA_OPENSSL=OFF)
rm -f "$work/build/CMakeCache.txt"
cmake -S "$src" -B "$work/build" "${cmake_args[@]}"
ninja -C "$work/build" -j "${JOBS:-$(nproc)}" llama-bench

cp "$work/build/bin/llama-bench" .peer/llama-bench
strip .peer/llama-bench
sha256sum .peer/llama-bench | cut -d' ' -f1 > .peer/llama-bench.sha256
xz -T0 -9 -f .peer/llama-bench
cat > .peer/unpack.sh <<'EOF'
#!/bin/sh
# Unpacks llama-bench.xz next to this script and checks it against llama-bench.sha256 (on the lent GPU machine).
set -e
d=$(dirname "$0")
python3 -c "import lzma, sys; open(sys.argv[2], 'wb').write(lzma.open(sys.argv[1]).read())" "$d/llama-bench.xz" "$d/llama-bench"
[ "$(sha256sum "$d/llama-bench" | cut -d' ' -f1)" = "$(cat "$d/llama-bench.sha256")" ] || { echo "llama-bench: digest mismatch" >&2; exit 1; }
chmod +x "$d/llama-bench"
EOF
commit=$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo "vendored by llama-cpp-python $version")
{
    echo "llama-bench from llama.cpp $commit (llama-cpp-python $version sdist)," \
         "built $(date -u +%F) by scripts/device/build_peer.sh"
    echo "cmake -S <llama.cpp> -B build ${cmake_args[*]}"
    echo "ninja -C build llama-bench"
} > .peer/README.txt
ls -la .peer
