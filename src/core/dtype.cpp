#include "core/dtype.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <utility>

namespace frugal {
namespace {

constexpr std::array<std::pair<DType, std::string_view>, 20> kNames = {{
    {DType::kF32, "F32"},   {DType::kF16, "F16"},   {DType::kQ4_0, "Q4_0"}, {DType::kQ4_1, "Q4_1"},
    {DType::kQ5_0, "Q5_0"}, {DType::kQ5_1, "Q5_1"}, {DType::kQ8_0, "Q8_0"}, {DType::kQ8_1, "Q8_1"},
    {DType::kQ2_K, "Q2_K"}, {DType::kQ3_K, "Q3_K"}, {DType::kQ4_K, "Q4_K"}, {DType::kQ5_K, "Q5_K"},
    {DType::kQ6_K, "Q6_K"}, {DType::kQ8_K, "Q8_K"}, {DType::kI8, "I8"},     {DType::kI16, "I16"},
    {DType::kI32, "I32"},   {DType::kI64, "I64"},   {DType::kF64, "F64"},   {DType::kBF16, "BF16"},
}};

}  // namespace

std::string_view dtype_name(DType t) {
    for (const auto& [type, name] : kNames) {
        if (type == t) return name;
    }
    return "unknown";
}

DTypeLayout dtype_layout(DType t) {
    switch (t) {
        case DType::kF32: return {1, 4};
        case DType::kF16: return {1, 2};
        case DType::kBF16: return {1, 2};
        case DType::kQ4_0: return {32, 18};
        case DType::kQ4_1: return {32, 20};
        case DType::kQ5_0: return {32, 22};
        case DType::kQ5_1: return {32, 24};
        case DType::kQ8_0: return {32, 34};
        case DType::kQ8_1: return {32, 36};
        case DType::kQ4_K: return {256, 144};
        case DType::kQ5_K: return {256, 176};
        case DType::kQ6_K: return {256, 210};
        case DType::kQ8_K: return {256, 292};
        case DType::kI8: return {1, 1};
        case DType::kI16: return {1, 2};
        case DType::kI32: return {1, 4};
        case DType::kF64: return {1, 8};
        default: return {0, 0};
    }
}

bool dtype_is_quantized(DType t) { return dtype_layout(t).block_size > 1; }

std::optional<DType> dtype_from_name(std::string_view name) {
    for (const auto& [type, n] : kNames) {
        if (n.size() == name.size() &&
            std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) { return a == std::toupper(b); })) {
            return type;
        }
    }
    return std::nullopt;
}

}  // namespace frugal
