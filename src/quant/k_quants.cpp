// Q4_K, Q5_K, Q6_K (weights) and Q8_K (their activation format): 256-element super-blocks whose sub-block scales
// are themselves quantized. The quantizers follow ggml's reference (quantize_row_q{4,5,6}_K_ref): a least-squares
// scale (and min) search per sub-block, then quantized sub-block scales, then a re-quantization of the elements
// with the scales as stored.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/half.h"
#include "quant/block_formats.h"
#include "quant/quant_math.h"
#include "quant/reference_quants.h"

namespace frugal::reference {
namespace {

constexpr float kGroupMaxEps = 1e-15f;

// Fits x[i] ~= scale * L[i] - min_out with L in [0, nmax] and min_out >= 0, minimising the weighted squared error.
// Tries the plain min/max grid and nstep + 1 stretched grids (rmin + rdelta * step), refitting scale and min by
// weighted least squares on each. Returns the scale; *min_out gets the (non-negative) offset.
float fit_scale_min(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* min_out, float rmin,
                    float rdelta, int nstep) {
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        min = std::min(min, x[i]);
        max = std::max(max, x[i]);
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        std::fill(L, L + n, 0);
        *min_out = -min;
        return 0.0f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        L[i] = static_cast<uint8_t>(std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax));
        const float diff = scale * L[i] + min - x[i];
        best_error += weights[i] * diff * diff;
    }
    uint8_t candidate[32];
    for (int step = 0; step <= nstep; ++step) {
        iscale = (rmin + rdelta * step + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
            candidate[i] = static_cast<uint8_t>(l);
            const float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        const float det = sum_w * sum_l2 - sum_l * sum_l;
        if (det <= 0) continue;
        float this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
        float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
        if (this_min > 0) {
            this_min = 0;
            this_scale = sum_xl / sum_l2;
        }
        float error = 0;
        for (int i = 0; i < n; ++i) {
            const float diff = this_scale * candidate[i] + this_min - x[i];
            error += weights[i] * diff * diff;
        }
        if (error < best_error) {
            std::copy(candidate, candidate + n, L);
            best_error = error;
            scale = this_scale;
            min = this_min;
        }
    }
    *min_out = -min;
    return scale;
}

// Symmetric fit x[i] ~= scale * (L[i] - nmax), L in [0, 2 * nmax), weighting each element by x^2; tries 19
// scales around nmax / max and keeps the best least-squares one (ggml's make_qx_quants with rmse_type 1).
float fit_scale_symmetric(int n, int nmax, const float* x, int8_t* L) {
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        if (std::fabs(x[i]) > amax) {
            amax = std::fabs(x[i]);
            max = x[i];
        }
    }
    if (amax < kGroupMaxEps) {
        std::fill(L, L + n, 0);
        return 0.0f;
    }
    auto fit = [&](float iscale, float* sumlx, float* suml2) {
        *sumlx = 0;
        *suml2 = 0;
        for (int i = 0; i < n; ++i) {
            const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            const float w = x[i] * x[i];
            *sumlx += w * x[i] * l;
            *suml2 += w * l * l;
        }
    };
    auto assign = [&](float iscale) {
        for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(nmax + std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1));
    };
    float iscale = -nmax / max;
    float sumlx, suml2;
    fit(iscale, &sumlx, &suml2);
    assign(iscale);
    float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
    float best = scale * sumlx;
    for (int step = -9; step <= 9; ++step) {
        if (step == 0) continue;
        iscale = -(nmax + 0.1f * step) / max;
        fit(iscale, &sumlx, &suml2);
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            assign(iscale);
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

// Shared by Q4_K and Q5_K: per-sub-block scale/min search, 6-bit scale/min quantization, then the element levels
// (0..nmax) re-derived from the stored scales. Writes d, dmin and the 12 packed scale bytes.
void quantize_k_super_block(const float* x, int nmax, float rmin, float rdelta, int nstep, uint16_t* d,
                            uint16_t* dmin, uint8_t* packed_scales, uint8_t* L) {
    float scales[8], mins[8], weights[32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        const float* xs = x + 32 * j;
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += xs[l] * xs[l];
        const float av_x = std::sqrt(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
        scales[j] = fit_scale_min(32, nmax, xs, weights, L + 32 * j, &mins[j], rmin, rdelta, nstep);
        max_scale = std::max(max_scale, scales[j]);
        max_min = std::max(max_min, mins[j]);
    }
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; ++j) {
        ls[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_scale * scales[j])));
        lm[j] = std::min<uint8_t>(63, static_cast<uint8_t>(nearest_int(inv_min * mins[j])));
    }
    k_pack_scale_min(ls, lm, packed_scales);
    *d = fp32_to_fp16(max_scale / 63.0f);
    *dmin = fp32_to_fp16(max_min / 63.0f);
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        k_scale_min(j, packed_scales, &sc, &m);
        const float dl = fp16_to_fp32(*d) * sc;
        if (dl == 0.0f) continue;
        const float ml = fp16_to_fp32(*dmin) * m;
        for (int l = 0; l < 32; ++l) L[32 * j + l] = static_cast<uint8_t>(std::clamp(nearest_int((x[32 * j + l] + ml) / dl), 0, nmax));
    }
}

// Element e of a Q4_K / Q5_K super-block has its low 4 bits in qs[32 * (e / 64) + e % 32], low nibble when
// (e / 32) is even; Q5_K's fifth bit is bit (e / 32) of qh[e % 32].
void unpack_q4_k(const BlockQ4_K& b, uint8_t* q) {
    for (int e = 0; e < kQK_K; ++e) {
        const uint8_t byte = b.qs[32 * (e / 64) + e % 32];
        q[e] = (e / 32) % 2 == 0 ? byte & 0xf : byte >> 4;
    }
}
void unpack_q5_k(const BlockQ5_K& b, uint8_t* q) {
    for (int e = 0; e < kQK_K; ++e) {
        const uint8_t byte = b.qs[32 * (e / 64) + e % 32];
        const int low = (e / 32) % 2 == 0 ? byte & 0xf : byte >> 4;
        q[e] = static_cast<uint8_t>(low | (((b.qh[e % 32] >> (e / 32)) & 1) << 4));
    }
}
// Q6_K element e = 128 * h + 32 * k + l (k = 0..3): low nibble from ql[64 * h + l + 32 * (k % 2)] (high nibble when
// k >= 2), top two bits from bits 2k..2k+1 of qh[32 * h + l]; value = q - 32, scale index e / 16.
void unpack_q6_k(const BlockQ6_K& b, int8_t* q) {
    for (int e = 0; e < kQK_K; ++e) {
        const int h = e / 128, k = (e % 128) / 32, l = e % 32;
        const uint8_t byte = b.ql[64 * h + l + 32 * (k % 2)];
        const int low = k < 2 ? byte & 0xf : byte >> 4;
        const int high = (b.qh[32 * h + l] >> (2 * k)) & 3;
        q[e] = static_cast<int8_t>((low | (high << 4)) - 32);
    }
}

// Integer dot of the 256 elements with Q8_K activations, each 32-element sub-block weighted by its 6-bit scale,
// and the bsums-based correction for the mins: the K-quant super-block dot is d * dot - dmin * min_dot.
void k_super_block_dots(const uint8_t* q, const uint8_t* packed_scales, const BlockQ8_K& y, int* dot, int* min_dot) {
    *dot = 0;
    *min_dot = 0;
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        k_scale_min(j, packed_scales, &sc, &m);
        int sub = 0;
        for (int l = 0; l < 32; ++l) sub += q[32 * j + l] * y.qs[32 * j + l];
        *dot += sc * sub;
        *min_dot += m * (y.bsums[2 * j] + y.bsums[2 * j + 1]);
    }
}

}  // namespace

// ---- Q4_K: x = d * sc * q - dmin * m ----
void dequantize_row_q4_k(const void* src, float* dst, int64_t n) {
    const BlockQ4_K* b = static_cast<const BlockQ4_K*>(src);
    uint8_t q[kQK_K];
    for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
        unpack_q4_k(b[i], q);
        const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            k_scale_min(j, b[i].scales, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            for (int l = 0; l < 32; ++l) dst[32 * j + l] = dl * q[32 * j + l] - ml;
        }
    }
}
void quantize_row_q4_k(const float* src, void* dst, int64_t n) {
    BlockQ4_K* b = static_cast<BlockQ4_K*>(dst);
    uint8_t L[kQK_K];
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        quantize_k_super_block(src, 15, -1.0f, 0.1f, 20, &b[i].d, &b[i].dmin, b[i].scales, L);
        for (int e = 0; e < kQK_K; e += 64) {
            for (int l = 0; l < 32; ++l) b[i].qs[e / 2 + l] = L[e + l] | (L[e + l + 32] << 4);
        }
    }
}
float vec_dot_q4_k_q8_k(int64_t n, const void* w, const void* x) {
    const BlockQ4_K* a = static_cast<const BlockQ4_K*>(w);
    const BlockQ8_K* y = static_cast<const BlockQ8_K*>(x);
    uint8_t q[kQK_K];
    float sum = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        unpack_q4_k(a[i], q);
        int dot, min_dot;
        k_super_block_dots(q, a[i].scales, y[i], &dot, &min_dot);
        sum += fp16_to_fp32(a[i].d) * y[i].d * static_cast<float>(dot) -
               fp16_to_fp32(a[i].dmin) * y[i].d * static_cast<float>(min_dot);
    }
    return sum;
}

// ---- Q5_K: x = d * sc * q - dmin * m, q in 0..31 ----
void dequantize_row_q5_k(const void* src, float* dst, int64_t n) {
    const BlockQ5_K* b = static_cast<const BlockQ5_K*>(src);
    uint8_t q[kQK_K];
    for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
        unpack_q5_k(b[i], q);
        const float d = fp16_to_fp32(b[i].d), dmin = fp16_to_fp32(b[i].dmin);
        for (int j = 0; j < 8; ++j) {
            uint8_t sc, m;
            k_scale_min(j, b[i].scales, &sc, &m);
            const float dl = d * sc, ml = dmin * m;
            for (int l = 0; l < 32; ++l) dst[32 * j + l] = dl * q[32 * j + l] - ml;
        }
    }
}
void quantize_row_q5_k(const float* src, void* dst, int64_t n) {
    BlockQ5_K* b = static_cast<BlockQ5_K*>(dst);
    uint8_t L[kQK_K];
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        quantize_k_super_block(src, 31, -0.5f, 0.1f, 15, &b[i].d, &b[i].dmin, b[i].scales, L);
        std::memset(b[i].qh, 0, sizeof(b[i].qh));
        for (int e = 0; e < kQK_K; e += 64) {
            for (int l = 0; l < 32; ++l) {
                const int lo = L[e + l], hi = L[e + l + 32];
                b[i].qs[e / 2 + l] = static_cast<uint8_t>((lo & 0xf) | ((hi & 0xf) << 4));
                b[i].qh[l] |= static_cast<uint8_t>(((lo >> 4) << (e / 32)) | ((hi >> 4) << (e / 32 + 1)));
            }
        }
    }
}
float vec_dot_q5_k_q8_k(int64_t n, const void* w, const void* x) {
    const BlockQ5_K* a = static_cast<const BlockQ5_K*>(w);
    const BlockQ8_K* y = static_cast<const BlockQ8_K*>(x);
    uint8_t q[kQK_K];
    float sum = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        unpack_q5_k(a[i], q);
        int dot, min_dot;
        k_super_block_dots(q, a[i].scales, y[i], &dot, &min_dot);
        sum += fp16_to_fp32(a[i].d) * y[i].d * static_cast<float>(dot) -
               fp16_to_fp32(a[i].dmin) * y[i].d * static_cast<float>(min_dot);
    }
    return sum;
}

// ---- Q6_K: x = d * scale * (q - 32) ----
void dequantize_row_q6_k(const void* src, float* dst, int64_t n) {
    const BlockQ6_K* b = static_cast<const BlockQ6_K*>(src);
    int8_t q[kQK_K];
    for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
        unpack_q6_k(b[i], q);
        const float d = fp16_to_fp32(b[i].d);
        for (int e = 0; e < kQK_K; ++e) dst[e] = d * b[i].scales[e / 16] * q[e];
    }
}
void quantize_row_q6_k(const float* src, void* dst, int64_t n) {
    BlockQ6_K* b = static_cast<BlockQ6_K*>(dst);
    int8_t L[kQK_K];
    float scales[kQK_K / 16];
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        float max_scale = 0, max_abs_scale = 0;
        for (int j = 0; j < kQK_K / 16; ++j) {
            scales[j] = fit_scale_symmetric(16, 32, src + 16 * j, L + 16 * j);
            if (std::fabs(scales[j]) > max_abs_scale) {
                max_abs_scale = std::fabs(scales[j]);
                max_scale = scales[j];
            }
        }
        if (max_abs_scale < kGroupMaxEps) {
            std::memset(&b[i], 0, sizeof(BlockQ6_K));
            continue;
        }
        const float iscale = -128.0f / max_scale;
        b[i].d = fp32_to_fp16(1 / iscale);
        for (int j = 0; j < kQK_K / 16; ++j) {
            b[i].scales[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[j])));
        }
        for (int j = 0; j < kQK_K / 16; ++j) {
            const float d = fp16_to_fp32(b[i].d) * b[i].scales[j];
            if (d == 0.0f) continue;
            for (int l = 0; l < 16; ++l) {
                L[16 * j + l] = static_cast<int8_t>(std::clamp(nearest_int(src[16 * j + l] / d), -32, 31) + 32);
            }
        }
        for (int h = 0; h < 2; ++h) {
            const int8_t* Lh = L + 128 * h;
            for (int l = 0; l < 32; ++l) {
                b[i].ql[64 * h + l] = static_cast<uint8_t>((Lh[l] & 0xf) | ((Lh[l + 64] & 0xf) << 4));
                b[i].ql[64 * h + l + 32] = static_cast<uint8_t>((Lh[l + 32] & 0xf) | ((Lh[l + 96] & 0xf) << 4));
                b[i].qh[32 * h + l] = static_cast<uint8_t>((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) |
                                                           ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
            }
        }
    }
}
float vec_dot_q6_k_q8_k(int64_t n, const void* w, const void* x) {
    const BlockQ6_K* a = static_cast<const BlockQ6_K*>(w);
    const BlockQ8_K* y = static_cast<const BlockQ8_K*>(x);
    int8_t q[kQK_K];
    float sum = 0.0f;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        unpack_q6_k(a[i], q);
        int dot = 0;
        for (int j = 0; j < kQK_K / 16; ++j) {
            int sub = 0;
            for (int l = 0; l < 16; ++l) sub += q[16 * j + l] * y[i].qs[16 * j + l];
            dot += a[i].scales[j] * sub;
        }
        sum += fp16_to_fp32(a[i].d) * y[i].d * static_cast<float>(dot);
    }
    return sum;
}

// ---- Q8_K: x = d * q (float d), bsums = per-16 sums of q ----
void dequantize_row_q8_k(const void* src, float* dst, int64_t n) {
    const BlockQ8_K* b = static_cast<const BlockQ8_K*>(src);
    for (int64_t i = 0; i < n / kQK_K; ++i, dst += kQK_K) {
        for (int e = 0; e < kQK_K; ++e) dst[e] = b[i].d * b[i].qs[e];
    }
}
void quantize_row_q8_k(const float* src, void* dst, int64_t n) {
    BlockQ8_K* b = static_cast<BlockQ8_K*>(dst);
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        float max = 0, amax = 0;
        for (int e = 0; e < kQK_K; ++e) {
            if (std::fabs(src[e]) > amax) {
                amax = std::fabs(src[e]);
                max = src[e];
            }
        }
        if (amax == 0.0f) {
            std::memset(&b[i], 0, sizeof(BlockQ8_K));
            continue;
        }
        // -127 rather than -128 keeps every level in [-127, 127], so sign tricks in SIMD kernels cannot overflow.
        const float iscale = -127.0f / max;
        for (int e = 0; e < kQK_K; ++e) b[i].qs[e] = static_cast<int8_t>(std::min(127, nearest_int(iscale * src[e])));
        for (int j = 0; j < kQK_K / 16; ++j) {
            int sum = 0;
            for (int l = 0; l < 16; ++l) sum += b[i].qs[16 * j + l];
            b[i].bsums[j] = static_cast<int16_t>(sum);
        }
        b[i].d = 1 / iscale;
    }
}

}  // namespace frugal::reference
