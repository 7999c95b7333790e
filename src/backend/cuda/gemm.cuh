// Tensor-core matrix products through cuBLASLt for the prefill path: y[n][M] = x[n][K] * w[M][K]^T.
#pragma once

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <map>
#include <tuple>

namespace frugal::cuda {

enum class GemmType { kBF16, kF32 };  // operand type of both w and x; accumulation and y are F32 either way

class Gemm {
public:
    Gemm();
    ~Gemm();
    Gemm(const Gemm&) = delete;
    Gemm& operator=(const Gemm&) = delete;

    // w: [M][K] row-major, x: [n][K] row-major, y: [n][M] F32. F32 runs in full FP32 (no TF32), for models whose
    // weights are F32 and whose outputs must match the CPU's closely. accumulate: y += w x (the product, rounded to
    // F32, added to y in the epilogue: a residual add without a pass of its own).
    void run(GemmType type, const void* w, const void* x, float* y, int64_t M, int64_t n, int64_t K,
             cudaStream_t stream, bool accumulate = false);

private:
    struct Plan {
        cublasLtMatmulDesc_t desc = nullptr;
        cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
        cublasLtMatmulAlgo_t algo{};
    };
    const Plan& plan(GemmType type, int64_t M, int64_t n, int64_t K);

    cublasLtHandle_t handle_ = nullptr;
    void* workspace_ = nullptr;
    size_t workspace_bytes_ = 32u << 20;
    std::map<std::tuple<int, int64_t, int64_t, int64_t>, Plan> plans_;
};

}  // namespace frugal::cuda
