// AVX-512 float vector kernels (see backend/cpu/vector_ops.h). F16 inputs are widened with vcvtph2ps.
#include <immintrin.h>

#include "backend/cpu/reference/reference_ops.h"
#include "backend/cpu/vector_ops.h"
#include "core/half.h"

namespace frugal {
namespace {

// e^x for |x| <= 88: 2^n * p(r) with x = n ln2 + r, |r| <= ln2/2, p a degree-6 (Cephes) polynomial.
inline __m512 exp512(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.0f)), _mm512_set1_ps(88.0f));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500E-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073E-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894E-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459E-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201E-1f));
    p = _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

float dot_f32(const float* q, const float* k, int64_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(k + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), _mm512_loadu_ps(k + i + 16), a1);
    }
    for (; i + 16 <= n; i += 16) a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), _mm512_loadu_ps(k + i), a0);
    float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    for (; i < n; ++i) s += q[i] * k[i];
    return s;
}

float dot_f16(const float* q, const uint16_t* k, int64_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const __m512 k0 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(k + i)));
        const __m512 k1 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(k + i + 16)));
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), k0, a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i + 16), k1, a1);
    }
    for (; i + 16 <= n; i += 16) {
        const __m512 k0 = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(k + i)));
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + i), k0, a0);
    }
    float s = _mm512_reduce_add_ps(_mm512_add_ps(a0, a1));
    for (; i < n; ++i) s += q[i] * fp16_to_fp32(k[i]);
    return s;
}

void axpy_f32(float a, const float* v, float* acc, int64_t n) {
    const __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm512_storeu_ps(acc + i, _mm512_fmadd_ps(va, _mm512_loadu_ps(v + i), _mm512_loadu_ps(acc + i)));
    }
    for (; i < n; ++i) acc[i] += a * v[i];
}

void axpy_f16(float a, const uint16_t* v, float* acc, int64_t n) {
    const __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 vv = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(v + i)));
        _mm512_storeu_ps(acc + i, _mm512_fmadd_ps(va, vv, _mm512_loadu_ps(acc + i)));
    }
    for (; i < n; ++i) acc[i] += a * fp16_to_fp32(v[i]);
}

// silu(g) * u = g * u / (1 + e^-g)
void silu_mul(const float* g, const float* u, float* out, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 x = _mm512_loadu_ps(g + i);
        const __m512 d = _mm512_add_ps(one, exp512(_mm512_sub_ps(_mm512_setzero_ps(), x)));
        _mm512_storeu_ps(out + i, _mm512_div_ps(_mm512_mul_ps(x, _mm512_loadu_ps(u + i)), d));
    }
    reference::glu(g, u, GluKind::kSilu, i, n, out);
}

// gelu_tanh(g) = 0.5 g (1 + tanh(t)) = g / (1 + e^(-2t)), t = sqrt(2/pi) (g + 0.044715 g^3)
void gelu_tanh_mul(const float* g, const float* u, float* out, int64_t n) {
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 c = _mm512_set1_ps(-2.0f * 0.79788456080286535588f);
    const __m512 c3 = _mm512_set1_ps(0.044715f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 x = _mm512_loadu_ps(g + i);
        const __m512 inner = _mm512_mul_ps(x, _mm512_fmadd_ps(_mm512_mul_ps(c3, x), x, one));
        const __m512 d = _mm512_add_ps(one, exp512(_mm512_mul_ps(c, inner)));
        _mm512_storeu_ps(out + i, _mm512_div_ps(_mm512_mul_ps(x, _mm512_loadu_ps(u + i)), d));
    }
    reference::glu(g, u, GluKind::kGeluTanh, i, n, out);
}

const VectorOps kOps = {&dot_f32, &dot_f16, &axpy_f32, &axpy_f16, &silu_mul, &gelu_tanh_mul};

}  // namespace

const VectorOps& vector_ops_avx512() { return kOps; }

}  // namespace frugal
