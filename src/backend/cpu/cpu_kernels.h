// The CPU kernel table: one instance per instruction-set variant, chosen once at start-up from CPUID (or forced,
// for the conformance test). Model code never sees intrinsics; everything ISA-specific lives under isa/<name>/.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/dtype.h"
#include "quant/quant_traits.h"

namespace frugal {

enum class CpuIsa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

std::string_view cpu_isa_name(CpuIsa isa);
// The best variant this processor and build support (AVX-512 needs F, BW, VL and VNNI; AVX2 needs FMA and F16C).
CpuIsa detect_cpu_isa();
bool cpu_isa_supported(CpuIsa isa);

// Largest tile a VecDotTileFn computes in one call: kMaxTileRows weight rows x kMaxTileTokens activation rows.
inline constexpr int kMaxTileRows = 4;
inline constexpr int kMaxTileTokens = 4;

// The R x T tile of dot products y[t * y_stride + r] = dot(w row r, x row t) for r < num_rows, t < num_tokens
// (1 <= num_rows <= kMaxTileRows, 1 <= num_tokens <= kMaxTileTokens). Rows are n elements; w rows are
// w_row_bytes apart in the weight dtype, x rows x_row_bytes apart in its vec_dot_type. Each result equals the
// reference vec_dot up to float rounding (integer block sums are exact). Loading a weight block once for several
// tokens, and an activation block once for several rows, is what makes prefill compute-bound rather than
// load-bound and lets decode keep several weight streams in flight.
using VecDotTileFn = void (*)(int64_t n, const void* w, int64_t w_row_bytes, int num_rows, const void* x,
                              int64_t x_row_bytes, int num_tokens, float* y, int64_t y_stride);

// Prefill GEMM over activations packed for it (optional; null where a variant has none, and the matmul then uses
// tiles). Packing transposes blocks of kGemmTokenBlock activation rows so that one vector holds the same few
// elements of every token: one broadcast weight word then feeds a whole block of tokens per instruction, and the
// sub-block scales are applied once per block of tokens rather than once per token.
inline constexpr int kGemmTokenBlock = 16;
// Packs activation rows [0, num_tokens) (num_tokens <= kGemmTokenBlock; x in vec_dot_type, rows x_row_bytes apart)
// into one token block at packed; returns the bytes of one packed block (also when packed is null).
using GemmPackFn = int64_t (*)(int64_t n, const void* x, int64_t x_row_bytes, int num_tokens, void* packed);
// y[t * y_stride + r] = dot(w row r, token t) for r < num_rows (any), t < num_tokens, from packed token blocks laid
// out one after another (block b holds tokens [16 b, 16 b + 16)).
using GemmFn = void (*)(int64_t n, const void* w, int64_t w_row_bytes, int64_t num_rows, const void* packed,
                        int64_t num_tokens, float* y, int64_t y_stride);

struct CpuKernels {
    CpuIsa isa = CpuIsa::kScalar;
    // Activation quantizers, indexed by the activation dtype (Q8_0, Q8_1, Q8_K, F16, ...).
    QuantizeRowFn quantize_row[kNumDTypeIds] = {};
    // Weight-row · activation-row dot products, indexed by the weight dtype; the activation is in
    // quant_traits(weight).vec_dot_type. Same contract as the reference VecDotFn.
    VecDotFn vec_dot[kNumDTypeIds] = {};
    // Dequantizes a weight row to F32 (used by get_rows); indexed by dtype.
    DequantizeRowFn dequantize_row[kNumDTypeIds] = {};
    // Tiles of vec_dot (see VecDotTileFn), indexed by the weight dtype; the scalar variant loops over vec_dot.
    VecDotTileFn vec_dot_tile[kNumDTypeIds] = {};
    // Prefill GEMM and its activation packer, indexed by the weight dtype (both set or both null).
    GemmPackFn gemm_pack[kNumDTypeIds] = {};
    GemmFn gemm[kNumDTypeIds] = {};
};

// The kernel table of one variant. Entries a variant does not accelerate fall back to the scalar reference.
const CpuKernels& cpu_kernels(CpuIsa isa);

}  // namespace frugal
