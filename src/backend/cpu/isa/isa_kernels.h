// Entry points of the per-ISA kernel files (no intrinsics here): each fills the entries of a CpuKernels table that
// its instruction set accelerates and leaves the rest as they are (scalar reference).
#pragma once

#include "backend/cpu/cpu_kernels.h"

namespace frugal {

void register_avx2_kernels(CpuKernels& k);    // isa/avx2/avx2_kernels.cpp
void register_avx512_kernels(CpuKernels& k);  // isa/avx512/avx512_kernels.cpp
void register_avx512_gemm(CpuKernels& k);     // isa/avx512/avx512_gemm.cpp

}  // namespace frugal
