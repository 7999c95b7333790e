#include "backend/cpu/vector_ops.h"

#include "backend/cpu/reference/reference_ops.h"
#include "core/half.h"

namespace frugal {
namespace {

float dot_f32(const float* q, const float* k, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; ++i) s += q[i] * k[i];
    return s;
}
float dot_f16(const float* q, const uint16_t* k, int64_t n) {
    float s = 0;
    for (int64_t i = 0; i < n; ++i) s += q[i] * fp16_to_fp32(k[i]);
    return s;
}
void axpy_f32(float a, const float* v, float* acc, int64_t n) {
    for (int64_t i = 0; i < n; ++i) acc[i] += a * v[i];
}
void axpy_f16(float a, const uint16_t* v, float* acc, int64_t n) {
    for (int64_t i = 0; i < n; ++i) acc[i] += a * fp16_to_fp32(v[i]);
}
void silu_mul(const float* g, const float* u, float* out, int64_t n) {
    reference::glu(g, u, GluKind::kSilu, 0, n, out);
}
void gelu_tanh_mul(const float* g, const float* u, float* out, int64_t n) {
    reference::glu(g, u, GluKind::kGeluTanh, 0, n, out);
}

const VectorOps kScalar = {&dot_f32, &dot_f16, &axpy_f32, &axpy_f16, &silu_mul, &gelu_tanh_mul};

}  // namespace

const VectorOps& vector_ops(CpuIsa isa) {
    switch (isa) {
        case CpuIsa::kAvx512: return vector_ops_avx512();
        case CpuIsa::kAvx2: return vector_ops_avx2();
        default: return kScalar;
    }
}

}  // namespace frugal
