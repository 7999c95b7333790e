# Sourced by the scripts in scripts/device/ (run on the lent GPU machine from the repository root, with .devcarry/
# carried): $OUT for results, $root, $F (the staged frugal), /work/shared, and the library path for the staged
# shared libraries, the CUDA runtime and (when installed) pip's cuBLAS. REQUIRE_H200=1: on any other card, print its
# name and exit the sourcing script at once (a call for an H200 may land on an H100; docs/perf/h200.md's tables are
# the H200's).
card=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
if [ -n "${REQUIRE_H200:-}" ] && [[ "$card" != *H200* ]]; then
    echo "REQUIRE_H200: this card is $card; nothing run"
    exit 0
fi
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
root=$PWD
[ -f "$root/.devcarry/unpack.sh" ] && sh "$root/.devcarry/unpack.sh"   # stage.sh's xz files, once
[ -f "$root/.devcarry/model/gemma3-slice2.gguf" ] && export FRUGAL_GPU_TEST_MODEL=$root/.devcarry/model/gemma3-slice2.gguf
F=$root/.devcarry/bin/frugal
mkdir -p /work && ln -sfn "$root/.devcarry/shared" /work/shared   # the ../shared the test binaries were built with
cublas=$(python3 -c 'import nvidia.cublas, os; print(os.path.dirname(nvidia.cublas.__file__) + "/lib")' 2>/dev/null)
export LD_LIBRARY_PATH=$root/.devcarry/lib:/usr/local/cuda/lib64:${cublas}:${LD_LIBRARY_PATH:-}
# The synthetic Llama-3-8B file of type $1 in /tmp (made once: written under a temporary name, so a call cut off
# while making it leaves no truncated file for the next call on the same machine); prints its path, or, when
# synth fails, nothing (its last lines go to stderr) and returns 1.
synth_llama3() {
    local m=/tmp/llama3-8b-$1.gguf
    if [ ! -f "$m" ] && ! "$F" synth --shape llama3-8b --type "$1" \
            --vocab "$root/.devcarry/vocab/ggml-vocab-llama-bpe.gguf" -o "$m" > "/tmp/synth_$1.log" 2>&1; then
        echo "synth_llama3 $1 failed:" >&2
        tail -3 "/tmp/synth_$1.log" >&2
        return 1
    fi
    echo "$m"
}
