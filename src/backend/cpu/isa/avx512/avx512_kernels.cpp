// AVX-512 (F/BW/VL/DQ) + VNNI kernels: the x86 kernels of ../avx2/x86_quant_kernels.inl built with vpdpbusd /
// vpdpwssd dot products and mask-register bit expansion.
#define FRUGAL_X86_VNNI 1
#include "backend/cpu/isa/avx2/x86_quant_kernels.inl"
#include "backend/cpu/isa/isa_kernels.h"

namespace frugal {

void register_avx512_kernels(CpuKernels& k) {
    register_x86_kernels(k);
    register_avx512_gemm(k);
}

}  // namespace frugal
