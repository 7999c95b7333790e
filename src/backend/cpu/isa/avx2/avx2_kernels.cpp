// AVX2 + FMA + F16C kernels (Haswell and later); the kernels themselves are in x86_quant_kernels.inl.
#define FRUGAL_X86_VNNI 0
#include "backend/cpu/isa/avx2/x86_quant_kernels.inl"
#include "backend/cpu/isa/isa_kernels.h"

namespace frugal {

void register_avx2_kernels(CpuKernels& k) { register_x86_kernels(k); }

}  // namespace frugal
