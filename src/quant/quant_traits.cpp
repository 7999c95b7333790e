#include "quant/quant_traits.h"

#include <array>

#include "core/check.h"
#include "quant/reference_quants.h"

namespace frugal {
namespace {

using namespace reference;

std::array<QuantTraits, kNumDTypeIds> build_table() {
    std::array<QuantTraits, kNumDTypeIds> t{};
    auto set = [&](DType type, DequantizeRowFn dq, QuantizeRowFn q, DType dot_type, VecDotFn dot) {
        t[static_cast<size_t>(type)] = QuantTraits{type, dq, q, dot_type, dot};
    };
    set(DType::kF32, dequantize_row_f32, quantize_row_f32, DType::kF32, vec_dot_f32);
    set(DType::kF16, dequantize_row_f16, quantize_row_f16, DType::kF32, vec_dot_f16);
    set(DType::kBF16, dequantize_row_bf16, quantize_row_bf16, DType::kF32, vec_dot_bf16);
    set(DType::kQ4_0, dequantize_row_q4_0, quantize_row_q4_0, DType::kQ8_0, vec_dot_q4_0_q8_0);
    set(DType::kQ4_1, dequantize_row_q4_1, quantize_row_q4_1, DType::kQ8_1, vec_dot_q4_1_q8_1);
    set(DType::kQ5_0, dequantize_row_q5_0, quantize_row_q5_0, DType::kQ8_0, vec_dot_q5_0_q8_0);
    set(DType::kQ5_1, dequantize_row_q5_1, quantize_row_q5_1, DType::kQ8_1, vec_dot_q5_1_q8_1);
    set(DType::kQ8_0, dequantize_row_q8_0, quantize_row_q8_0, DType::kQ8_0, vec_dot_q8_0_q8_0);
    // Q8_1 and Q8_K are activation formats only: they quantize and dequantize but are never a weight in vec_dot.
    set(DType::kQ8_1, dequantize_row_q8_1, quantize_row_q8_1, DType::kQ8_1, nullptr);
    set(DType::kQ4_K, dequantize_row_q4_k, quantize_row_q4_k, DType::kQ8_K, vec_dot_q4_k_q8_k);
    set(DType::kQ5_K, dequantize_row_q5_k, quantize_row_q5_k, DType::kQ8_K, vec_dot_q5_k_q8_k);
    set(DType::kQ6_K, dequantize_row_q6_k, quantize_row_q6_k, DType::kQ8_K, vec_dot_q6_k_q8_k);
    set(DType::kQ8_K, dequantize_row_q8_k, quantize_row_q8_k, DType::kQ8_K, nullptr);
    return t;
}

const std::array<QuantTraits, kNumDTypeIds>& table() {
    static const std::array<QuantTraits, kNumDTypeIds> t = build_table();
    return t;
}

}  // namespace

bool has_quant_traits(DType t) {
    const auto i = static_cast<size_t>(t);
    return i < kNumDTypeIds && table()[i].dequantize_row != nullptr;
}

const QuantTraits& quant_traits(DType t) {
    CHECK(has_quant_traits(t)) << "no quantization traits for dtype id " << static_cast<uint32_t>(t);
    return table()[static_cast<size_t>(t)];
}

}  // namespace frugal
