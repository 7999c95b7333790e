// Quantized matrix products on the CPU: y[t, o] = sum_i x[t, i] * w[o, i].
#pragma once

#include <cstdint>
#include <vector>

#include "backend/cpu/cpu_kernels.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace frugal {

// Owns the activation scratch, so one instance serves one caller thread at a time (the backend keeps one).
class CpuMatmul {
public:
    explicit CpuMatmul(const CpuKernels& k);

    // w: [out, in] (shape {in, out}) of any weight dtype with a vec_dot kernel; x: F32 [n, in]; y: F32 [n, out].
    // Quantizes the rows of x into the weight's vec_dot_type once, then splits the work over the pool.
    void run(ThreadPool& pool, const Tensor& w, const Tensor& x, const Tensor& y);

private:
    // Prefill through the variant's packed GEMM: packs the quantized activations in token blocks, then splits rows.
    void run_gemm(ThreadPool& pool, const Tensor& w, const uint8_t* act, int64_t act_row_bytes, int64_t n,
                  const Tensor& y);

    const CpuKernels& kernels_;
    std::vector<uint8_t> scratch_;  // x quantized to vec_dot_type, [n, in] rows of dtype_row_bytes
    std::vector<uint8_t> packed_;   // scratch_ packed for the GEMM, kGemmTokenBlock tokens per block
};

}  // namespace frugal
