#include "backend/cpu/cpu_kernels.h"

#include "backend/cpu/isa/isa_kernels.h"
#include "core/check.h"

namespace frugal {
namespace {

constexpr DType kTableTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ4_0, DType::kQ4_1,
                                 DType::kQ5_0, DType::kQ5_1, DType::kQ8_0, DType::kQ8_1, DType::kQ4_K,
                                 DType::kQ5_K, DType::kQ6_K, DType::kQ8_K};

// The scalar tile: the reference vec_dot of weight type T, once per (row, token) pair.
template <DType T>
void scalar_tile(int64_t n, const void* w, int64_t w_row_bytes, int num_rows, const void* x, int64_t x_row_bytes,
                 int num_tokens, float* y, int64_t y_stride) {
    const VecDotFn dot = quant_traits(T).vec_dot;
    for (int t = 0; t < num_tokens; ++t) {
        for (int r = 0; r < num_rows; ++r) {
            y[t * y_stride + r] = dot(n, static_cast<const uint8_t*>(w) + r * w_row_bytes,
                                      static_cast<const uint8_t*>(x) + t * x_row_bytes);
        }
    }
}

template <DType... Ts>
void set_scalar_tiles(CpuKernels& k) {
    ((k.vec_dot_tile[static_cast<int>(Ts)] = &scalar_tile<Ts>), ...);
}

CpuKernels scalar_kernels() {
    CpuKernels k;
    k.isa = CpuIsa::kScalar;
    for (DType t : kTableTypes) {
        const QuantTraits& q = quant_traits(t);
        const int i = static_cast<int>(t);
        k.quantize_row[i] = q.quantize_row;
        k.vec_dot[i] = q.vec_dot;
        k.dequantize_row[i] = q.dequantize_row;
    }
    set_scalar_tiles<DType::kF32, DType::kF16, DType::kBF16, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                     DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K>(k);
    return k;
}

}  // namespace

// Each table is built the first time its ISA is asked for, and only then: the AVX-512 registration is compiled for
// AVX-512 and may itself use those instructions, so building it on a CPU without them would fault (a block-scope
// static is initialized when control passes its declaration, so the three must not share one path).
const CpuKernels& cpu_kernels(CpuIsa isa) {
    switch (isa) {
        case CpuIsa::kScalar: {
            static const CpuKernels scalar = scalar_kernels();
            return scalar;
        }
        case CpuIsa::kAvx2: {
            static const CpuKernels avx2 = [] {
                CpuKernels k = scalar_kernels();
                k.isa = CpuIsa::kAvx2;
                register_avx2_kernels(k);
                return k;
            }();
            return avx2;
        }
        case CpuIsa::kAvx512: {
            static const CpuKernels avx512 = [] {
                CpuKernels k = scalar_kernels();
                k.isa = CpuIsa::kAvx512;
                register_avx512_kernels(k);
                return k;
            }();
            return avx512;
        }
    }
    CHECK(false) << "unknown CpuIsa";
    return cpu_kernels(CpuIsa::kScalar);
}

}  // namespace frugal
