// Element types. Numeric values are GGML's type ids, so GGUF tensor types map one to one.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace frugal {

enum class DType : uint32_t {
    kF32 = 0,
    kF16 = 1,
    kQ4_0 = 2,
    kQ4_1 = 3,
    kQ5_0 = 6,
    kQ5_1 = 7,
    kQ8_0 = 8,
    kQ8_1 = 9,
    kQ2_K = 10,
    kQ3_K = 11,
    kQ4_K = 12,
    kQ5_K = 13,
    kQ6_K = 14,
    kQ8_K = 15,
    kI8 = 24,
    kI16 = 25,
    kI32 = 26,
    kI64 = 27,
    kF64 = 28,
    kBF16 = 30,
};

inline constexpr int kNumDTypeIds = 40;  // upper bound of the id space, for tables indexed by DType

// Storage geometry: elements per block and bytes per block (1 and sizeof(element) for plain types).
// Returns block_size 0 for ids frugal cannot store (Q2_K, Q3_K, I64, unknown ids).
struct DTypeLayout {
    int64_t block_size = 0;
    int64_t block_bytes = 0;
};
DTypeLayout dtype_layout(DType t);
bool dtype_is_quantized(DType t);
// Bytes of a row of n elements; n must be a multiple of the block size.
inline int64_t dtype_row_bytes(DType t, int64_t n) {
    const DTypeLayout l = dtype_layout(t);
    return n / l.block_size * l.block_bytes;
}

// Name as llama.cpp prints it ("Q4_K", "F16"); "unknown(N)" names are not returned: callers check first.
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);  // case-insensitive

}  // namespace frugal
