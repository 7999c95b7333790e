// One traits table for every storable dtype: the scalar reference (de)quantizers and the reference dot product
// against the activation format (vec_dot_type). These are the ground truth that every SIMD and GPU kernel is
// tested against; they favour clarity and exactness (they follow ggml's definitions bit for bit) over speed.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace frugal {

// dst[0..n) = dequantize(src). n is a multiple of the block size.
using DequantizeRowFn = void (*)(const void* src, float* dst, int64_t n);
// dst = quantize(src[0..n)). n is a multiple of the block size.
using QuantizeRowFn = void (*)(const float* src, void* dst, int64_t n);
// Returns sum_i w[i] * x[i] over n elements; w in the weight dtype, x in that dtype's vec_dot_type.
using VecDotFn = float (*)(int64_t n, const void* w, const void* x);

struct QuantTraits {
    DType dtype = DType::kF32;
    DequantizeRowFn dequantize_row = nullptr;
    QuantizeRowFn quantize_row = nullptr;  // reference (round-to-nearest, ggml's *_ref) quantizer
    DType vec_dot_type = DType::kF32;      // format activations are quantized to for vec_dot
    VecDotFn vec_dot = nullptr;            // reference dot product (integer arithmetic where ggml uses it)
};

// Traits of a storable dtype; CHECK-fails for types without traits (callers validate file types first).
const QuantTraits& quant_traits(DType t);
bool has_quant_traits(DType t);

}  // namespace frugal
