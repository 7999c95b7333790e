// Float vector kernels for the non-matmul ops (attention inner loops, gated activations), one table per ISA
// variant like CpuKernels. The scalar entries are the portable fallback; isa/<name>/vector_ops_<name>.cpp hold
// the SIMD versions (exp and tanh there are polynomial approximations accurate to a few ulp of float).
#pragma once

#include <cstdint>

#include "backend/cpu/cpu_kernels.h"

namespace frugal {

struct VectorOps {
    float (*dot_f32)(const float* q, const float* k, int64_t n) = nullptr;
    float (*dot_f16)(const float* q, const uint16_t* k, int64_t n) = nullptr;  // k: IEEE half
    void (*axpy_f32)(float a, const float* v, float* acc, int64_t n) = nullptr;  // acc += a * v
    void (*axpy_f16)(float a, const uint16_t* v, float* acc, int64_t n) = nullptr;
    void (*silu_mul)(const float* gate, const float* up, float* out, int64_t n) = nullptr;  // silu(gate) * up
    void (*gelu_tanh_mul)(const float* gate, const float* up, float* out, int64_t n) = nullptr;
};

const VectorOps& vector_ops(CpuIsa isa);

// SIMD tables, defined under isa/ (compiled with their ISA flags); only called when the CPU supports them.
const VectorOps& vector_ops_avx2();
const VectorOps& vector_ops_avx512();

}  // namespace frugal
