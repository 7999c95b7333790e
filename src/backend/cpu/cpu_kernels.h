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

struct CpuKernels {
    CpuIsa isa = CpuIsa::kScalar;
    // Activation quantizers, indexed by the activation dtype (Q8_0, Q8_1, Q8_K, F16, ...).
    QuantizeRowFn quantize_row[kNumDTypeIds] = {};
    // Weight-row · activation-row dot products, indexed by the weight dtype; the activation is in
    // quant_traits(weight).vec_dot_type. Same contract as the reference VecDotFn.
    VecDotFn vec_dot[kNumDTypeIds] = {};
    // Dequantizes a weight row to F32 (used by get_rows); indexed by dtype.
    DequantizeRowFn dequantize_row[kNumDTypeIds] = {};
};

// The kernel table of one variant. Entries a variant does not accelerate fall back to the scalar reference.
const CpuKernels& cpu_kernels(CpuIsa isa);

}  // namespace frugal
