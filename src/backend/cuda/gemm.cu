#include "backend/cuda/gemm.cuh"

#include "backend/cuda/cuda_common.cuh"

#define CUBLAS_CHECK(expr)                                                                         \
    do {                                                                                           \
        const cublasStatus_t cublas_check_status_ = (expr);                                        \
        CHECK(cublas_check_status_ == CUBLAS_STATUS_SUCCESS)                                       \
            << #expr << ": " << cublasLtGetStatusString(cublas_check_status_);                      \
    } while (0)

namespace frugal::cuda {

Gemm::Gemm() {
    CUBLAS_CHECK(cublasLtCreate(&handle_));
    CUDA_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
}

Gemm::~Gemm() {
    for (auto& [key, p] : plans_) {
        cublasLtMatrixLayoutDestroy(p.a);
        cublasLtMatrixLayoutDestroy(p.b);
        cublasLtMatrixLayoutDestroy(p.c);
        cublasLtMatmulDescDestroy(p.desc);
    }
    cudaFree(workspace_);
    cublasLtDestroy(handle_);
}

// cuBLASLt is column-major: w [M][K] row-major is a K x M column-major matrix A with ld K, used transposed;
// x [n][K] is K x n (B, ld K); y [n][M] is M x n (C, ld M). So C = A^T B.
const Gemm::Plan& Gemm::plan(GemmType type, int64_t M, int64_t n, int64_t K) {
    const auto key = std::make_tuple(static_cast<int>(type), M, n, K);
    auto it = plans_.find(key);
    if (it != plans_.end()) return it->second;
    Plan p;
    const cudaDataType_t operand = type == GemmType::kBF16 ? CUDA_R_16BF : CUDA_R_32F;
    const cublasComputeType_t compute = CUBLAS_COMPUTE_32F;  // plain FP32 accumulation; no TF32 for F32 operands
    CUBLAS_CHECK(cublasLtMatmulDescCreate(&p.desc, compute, CUDA_R_32F));
    const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a, sizeof(trans_a)));
    CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b, sizeof(trans_b)));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.a, operand, K, M, K));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.b, operand, K, n, K));
    CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&p.c, CUDA_R_32F, M, n, M));
    cublasLtMatmulPreference_t pref;
    CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
    CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                                      &workspace_bytes_, sizeof(workspace_bytes_)));
    cublasLtMatmulHeuristicResult_t result{};
    int found = 0;
    CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(handle_, p.desc, p.a, p.b, p.c, p.c, pref, 1, &result, &found));
    cublasLtMatmulPreferenceDestroy(pref);
    CHECK(found > 0) << "cuBLASLt has no algorithm for a " << M << "x" << n << "x" << K << " product";
    p.algo = result.algo;
    return plans_.emplace(key, p).first->second;
}

void Gemm::run(GemmType type, const void* w, const void* x, float* y, int64_t M, int64_t n, int64_t K,
               cudaStream_t stream, bool accumulate) {
    const Plan& p = plan(type, M, n, K);
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    CUBLAS_CHECK(cublasLtMatmul(handle_, p.desc, &alpha, w, p.a, x, p.b, &beta, y, p.c, y, p.c, &p.algo, workspace_,
                                workspace_bytes_, stream));
}

}  // namespace frugal::cuda
