#include "backend/cpu/cpu_kernels.h"

#include "core/check.h"

namespace frugal {
namespace {

constexpr DType kTableTypes[] = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ4_0, DType::kQ4_1,
                                 DType::kQ5_0, DType::kQ5_1, DType::kQ8_0, DType::kQ8_1, DType::kQ4_K,
                                 DType::kQ5_K, DType::kQ6_K, DType::kQ8_K};

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
    return k;
}

}  // namespace

const CpuKernels& cpu_kernels(CpuIsa isa) {
    static const CpuKernels scalar = scalar_kernels();
    static const CpuKernels avx2 = [] {
        CpuKernels k = scalar_kernels();
        k.isa = CpuIsa::kAvx2;
        return k;
    }();
    static const CpuKernels avx512 = [] {
        CpuKernels k = scalar_kernels();
        k.isa = CpuIsa::kAvx512;
        return k;
    }();
    switch (isa) {
        case CpuIsa::kScalar: return scalar;
        case CpuIsa::kAvx2: return avx2;
        case CpuIsa::kAvx512: return avx512;
    }
    CHECK(false) << "unknown CpuIsa";
    return scalar;
}

}  // namespace frugal
