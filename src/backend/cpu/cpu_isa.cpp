#include <cpuid.h>

#include "backend/cpu/cpu_kernels.h"

namespace frugal {
namespace {

struct CpuFeatures {
    bool avx2 = false, fma = false, f16c = false, bmi2 = false;
    bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512vnni = false;
    bool os_avx = false, os_avx512 = false;
};

CpuFeatures read_cpu_features() {
    CpuFeatures f;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(1, &a, &b, &c, &d) == 0) return f;
    f.fma = (c >> 12) & 1;
    f.f16c = (c >> 29) & 1;
    const bool osxsave = (c >> 27) & 1;
    if (osxsave) {
        unsigned xcr0_lo = 0, xcr0_hi = 0;
        __asm__("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
        f.os_avx = (xcr0_lo & 0x6) == 0x6;
        f.os_avx512 = (xcr0_lo & 0xe6) == 0xe6;
    }
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0) return f;
    f.avx2 = (b >> 5) & 1;
    f.bmi2 = (b >> 8) & 1;
    f.avx512f = (b >> 16) & 1;
    f.avx512dq = (b >> 17) & 1;
    f.avx512bw = (b >> 30) & 1;
    f.avx512vl = (b >> 31) & 1;
    f.avx512vnni = (c >> 11) & 1;
    return f;
}

}  // namespace

std::string_view cpu_isa_name(CpuIsa isa) {
    switch (isa) {
        case CpuIsa::kScalar: return "scalar";
        case CpuIsa::kAvx2: return "avx2";
        case CpuIsa::kAvx512: return "avx512";
    }
    return "unknown";
}

bool cpu_isa_supported(CpuIsa isa) {
    static const CpuFeatures f = read_cpu_features();
    switch (isa) {
        case CpuIsa::kScalar: return true;
        case CpuIsa::kAvx2: return f.os_avx && f.avx2 && f.fma && f.f16c && f.bmi2;
        case CpuIsa::kAvx512:
            return f.os_avx512 && f.avx2 && f.fma && f.f16c && f.bmi2 && f.avx512f && f.avx512bw && f.avx512vl &&
                   f.avx512dq && f.avx512vnni;
    }
    return false;
}

CpuIsa detect_cpu_isa() {
    if (cpu_isa_supported(CpuIsa::kAvx512)) return CpuIsa::kAvx512;
    if (cpu_isa_supported(CpuIsa::kAvx2)) return CpuIsa::kAvx2;
    return CpuIsa::kScalar;
}

}  // namespace frugal
