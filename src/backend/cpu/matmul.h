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

    // One expert's share of a mixture-of-experts step: its tokens' activations, gathered.
    struct ExpertRows {
        int64_t expert = 0;
        int64_t num_tokens = 0;
        const float* x = nullptr;  // [num_tokens, dim]
        float* h = nullptr;        // [num_tokens, ffn] scratch
        float* y = nullptr;        // [num_tokens, dim] result: down_e(glu(gate_e x, up_e x))
    };
    // The routed experts' FFNs of a small step (few tokens per expert, so no GEMM): all experts' gate and up rows in
    // one pass over the pool with glu(gate, up) applied per tile, then all experts' down rows in a second, so a
    // decode step pays two pool dispatches per MoE layer instead of several per expert. gate/up: [E, ffn, dim];
    // down: [E, dim, ffn].
    void run_experts(ThreadPool& pool, const Tensor& gate_exps, const Tensor& up_exps, const Tensor& down_exps,
                     void (*glu)(const float* gate, const float* up, float* out, int64_t n),
                     const std::vector<ExpertRows>& experts);

    // y_i = w[index_i] x_i for several matrices of one stack w: [count, rows, cols] (MLA's per-head products), in one
    // pass over the pool. x_i: [num_tokens, cols], y_i: [num_tokens, rows]; few tokens (no GEMM).
    struct StackedRows {
        int64_t index = 0;
        int64_t num_tokens = 0;
        const float* x = nullptr;
        float* y = nullptr;
    };
    void run_stacked(ThreadPool& pool, const Tensor& w, const std::vector<StackedRows>& items);

private:
    // Quantizes each group's rows (x, num_tokens rows of cols) to weight_type's vec_dot_type into expert_act_, group
    // i from row i * max_tokens; returns the bytes per row.
    int64_t quantize_groups(DType weight_type, int64_t cols, const std::vector<StackedRows>& groups,
                            int64_t max_tokens);

    std::vector<uint8_t> expert_act_, expert_gate_, expert_up_;  // run_experts scratch
    // Prefill through the variant's packed GEMM: packs the quantized activations in token blocks, then splits rows.
    void run_gemm(ThreadPool& pool, const Tensor& w, const uint8_t* act, int64_t act_row_bytes, int64_t n,
                  const Tensor& y);

    const CpuKernels& kernels_;
    std::vector<uint8_t> scratch_;  // x quantized to vec_dot_type, [n, in] rows of dtype_row_bytes
    std::vector<uint8_t> packed_;   // scratch_ packed for the GEMM, kGemmTokenBlock tokens per block
};

}  // namespace frugal
