// The CUDA backend: every op of backend.h on one NVIDIA GPU, issued on one stream. Plain C++ header, so code
// that creates the backend needs no CUDA headers.
//
// Weights are repacked at placement into GPU-friendly layouts that keep the file's bits (cuda_weights.cuh says
// which); activations stay F32 in device memory; decode steps can be captured as CUDA graphs and replayed.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "backend/backend.h"
#include "core/status.h"

namespace frugal {

struct CudaBackendOptions {
    int device = 0;
    // Token count at or below which matmul uses the quantized matrix-vector kernels (weights read once, dequantized
    // in registers); above it, weights are dequantized to BF16 tiles and multiplied by cuBLASLt on tensor cores.
    int max_matvec_tokens = 16;
    // Above max_matvec_tokens, keep each quantized matrix's BF16 copy after its first use instead of dequantizing it
    // again every step (a batched decode step then reads 2 bytes a weight once, not 0.56 + 2 written + 2 read),
    // while the device keeps at least bf16_cache_headroom_bytes free; matrices that do not fit are dequantized per
    // step as before. Costs 2 bytes a weight of device memory.
    bool cache_bf16_weights = true;
    size_t bf16_cache_headroom_bytes = size_t{8} << 30;
};

// Whether a usable CUDA device exists; when not, *why says what is missing (no driver, no device...).
bool cuda_device_available(std::string* why);

Result<std::unique_ptr<Backend>> create_cuda_backend(const CudaBackendOptions& options);

}  // namespace frugal
