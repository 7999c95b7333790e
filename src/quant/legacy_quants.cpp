// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and Q8_1: 32-element blocks with one fp16 scale (and an fp16 offset for the _1
// kinds). Quantizers are ggml's round-to-nearest *_ref quantizers; dot products take the integer sum of each block
// and scale it once, as ggml does, so SIMD kernels can match the integer part exactly.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/half.h"
#include "quant/block_formats.h"
#include "quant/reference_quants.h"

namespace frugal::reference {
namespace {

constexpr int kQK = kQK4_0;

// The signed value with the largest magnitude (first one on ties), as ggml's symmetric quantizers pick it.
float signed_absmax(const float* x, int n) {
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < n; ++j) {
        if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    }
    return max;
}

void min_max(const float* x, int n, float* min, float* max) {
    *min = std::numeric_limits<float>::max();
    *max = -std::numeric_limits<float>::max();
    for (int j = 0; j < n; ++j) {
        *min = std::min(*min, x[j]);
        *max = std::max(*max, x[j]);
    }
}

// The 5th bit of element j of a Q5 block.
inline int q5_high_bit(uint32_t qh, int j) { return (qh >> j) & 1; }

}  // namespace

// ---- Q4_0: x = d * (q - 8) ----
void dequantize_row_q4_0(const void* src, float* dst, int64_t n) {
    const BlockQ4_0* b = static_cast<const BlockQ4_0*>(src);
    for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
        const float d = fp16_to_fp32(b[i].d);
        for (int j = 0; j < kQK / 2; ++j) {
            dst[j] = static_cast<float>((b[i].qs[j] & 0xf) - 8) * d;
            dst[j + kQK / 2] = static_cast<float>((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}
void quantize_row_q4_0(const float* src, void* dst, int64_t n) {
    BlockQ4_0* b = static_cast<BlockQ4_0*>(dst);
    for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
        const float d = signed_absmax(src, kQK) / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = fp32_to_fp16(d);
        for (int j = 0; j < kQK / 2; ++j) {
            const uint8_t q0 = std::min(15, static_cast<int>(static_cast<int8_t>(src[j] * id + 8.5f)));
            const uint8_t q1 = std::min(15, static_cast<int>(static_cast<int8_t>(src[j + kQK / 2] * id + 8.5f)));
            b[i].qs[j] = q0 | (q1 << 4);
        }
    }
}
float vec_dot_q4_0_q8_0(int64_t n, const void* w, const void* x) {
    const BlockQ4_0* a = static_cast<const BlockQ4_0*>(w);
    const BlockQ8_0* y = static_cast<const BlockQ8_0*>(x);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / kQK; ++i) {
        int sumi = 0;
        for (int j = 0; j < kQK / 2; ++j) {
            sumi += ((a[i].qs[j] & 0xf) - 8) * y[i].qs[j] + ((a[i].qs[j] >> 4) - 8) * y[i].qs[j + kQK / 2];
        }
        sum += static_cast<float>(sumi) * (fp16_to_fp32(a[i].d) * fp16_to_fp32(y[i].d));
    }
    return sum;
}

// ---- Q4_1: x = d * q + m ----
void dequantize_row_q4_1(const void* src, float* dst, int64_t n) {
    const BlockQ4_1* b = static_cast<const BlockQ4_1*>(src);
    for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
        const float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
        for (int j = 0; j < kQK / 2; ++j) {
            dst[j] = static_cast<float>(b[i].qs[j] & 0xf) * d + m;
            dst[j + kQK / 2] = static_cast<float>(b[i].qs[j] >> 4) * d + m;
        }
    }
}
void quantize_row_q4_1(const float* src, void* dst, int64_t n) {
    BlockQ4_1* b = static_cast<BlockQ4_1*>(dst);
    for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
        float min, max;
        min_max(src, kQK, &min, &max);
        const float d = (max - min) / 15.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = fp32_to_fp16(d);
        b[i].m = fp32_to_fp16(min);
        for (int j = 0; j < kQK / 2; ++j) {
            const uint8_t q0 = std::min(15, static_cast<int>(static_cast<int8_t>((src[j] - min) * id + 0.5f)));
            const uint8_t q1 =
                std::min(15, static_cast<int>(static_cast<int8_t>((src[j + kQK / 2] - min) * id + 0.5f)));
            b[i].qs[j] = q0 | (q1 << 4);
        }
    }
}
float vec_dot_q4_1_q8_1(int64_t n, const void* w, const void* x) {
    const BlockQ4_1* a = static_cast<const BlockQ4_1*>(w);
    const BlockQ8_1* y = static_cast<const BlockQ8_1*>(x);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / kQK; ++i) {
        int sumi = 0;
        for (int j = 0; j < kQK / 2; ++j) {
            sumi += (a[i].qs[j] & 0xf) * y[i].qs[j] + (a[i].qs[j] >> 4) * y[i].qs[j + kQK / 2];
        }
        sum += static_cast<float>(sumi) * (fp16_to_fp32(a[i].d) * fp16_to_fp32(y[i].d)) +
               fp16_to_fp32(a[i].m) * fp16_to_fp32(y[i].s);
    }
    return sum;
}

// ---- Q5_0: x = d * (q - 16) ----
void dequantize_row_q5_0(const void* src, float* dst, int64_t n) {
    const BlockQ5_0* b = static_cast<const BlockQ5_0*>(src);
    for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
        const float d = fp16_to_fp32(b[i].d);
        uint32_t qh;
        std::memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < kQK / 2; ++j) {
            const int q0 = (b[i].qs[j] & 0xf) | (q5_high_bit(qh, j) << 4);
            const int q1 = (b[i].qs[j] >> 4) | (q5_high_bit(qh, j + kQK / 2) << 4);
            dst[j] = static_cast<float>(q0 - 16) * d;
            dst[j + kQK / 2] = static_cast<float>(q1 - 16) * d;
        }
    }
}
void quantize_row_q5_0(const float* src, void* dst, int64_t n) {
    BlockQ5_0* b = static_cast<BlockQ5_0*>(dst);
    for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
        const float d = signed_absmax(src, kQK) / -16.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = fp32_to_fp16(d);
        uint32_t qh = 0;
        for (int j = 0; j < kQK / 2; ++j) {
            const uint8_t q0 = std::min(31, static_cast<int>(static_cast<int8_t>(src[j] * id + 16.5f)));
            const uint8_t q1 = std::min(31, static_cast<int>(static_cast<int8_t>(src[j + kQK / 2] * id + 16.5f)));
            b[i].qs[j] = (q0 & 0xf) | ((q1 & 0xf) << 4);
            qh |= static_cast<uint32_t>(q0 >> 4) << j;
            qh |= static_cast<uint32_t>(q1 >> 4) << (j + kQK / 2);
        }
        std::memcpy(b[i].qh, &qh, 4);
    }
}
float vec_dot_q5_0_q8_0(int64_t n, const void* w, const void* x) {
    const BlockQ5_0* a = static_cast<const BlockQ5_0*>(w);
    const BlockQ8_0* y = static_cast<const BlockQ8_0*>(x);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / kQK; ++i) {
        uint32_t qh;
        std::memcpy(&qh, a[i].qh, 4);
        int sumi = 0;
        for (int j = 0; j < kQK / 2; ++j) {
            const int q0 = ((a[i].qs[j] & 0xf) | (q5_high_bit(qh, j) << 4)) - 16;
            const int q1 = ((a[i].qs[j] >> 4) | (q5_high_bit(qh, j + kQK / 2) << 4)) - 16;
            sumi += q0 * y[i].qs[j] + q1 * y[i].qs[j + kQK / 2];
        }
        sum += static_cast<float>(sumi) * (fp16_to_fp32(a[i].d) * fp16_to_fp32(y[i].d));
    }
    return sum;
}

// ---- Q5_1: x = d * q + m ----
void dequantize_row_q5_1(const void* src, float* dst, int64_t n) {
    const BlockQ5_1* b = static_cast<const BlockQ5_1*>(src);
    for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
        const float d = fp16_to_fp32(b[i].d), m = fp16_to_fp32(b[i].m);
        uint32_t qh;
        std::memcpy(&qh, b[i].qh, 4);
        for (int j = 0; j < kQK / 2; ++j) {
            const int q0 = (b[i].qs[j] & 0xf) | (q5_high_bit(qh, j) << 4);
            const int q1 = (b[i].qs[j] >> 4) | (q5_high_bit(qh, j + kQK / 2) << 4);
            dst[j] = static_cast<float>(q0) * d + m;
            dst[j + kQK / 2] = static_cast<float>(q1) * d + m;
        }
    }
}
void quantize_row_q5_1(const float* src, void* dst, int64_t n) {
    BlockQ5_1* b = static_cast<BlockQ5_1*>(dst);
    for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
        float min, max;
        min_max(src, kQK, &min, &max);
        const float d = (max - min) / 31.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = fp32_to_fp16(d);
        b[i].m = fp32_to_fp16(min);
        uint32_t qh = 0;
        for (int j = 0; j < kQK / 2; ++j) {
            const uint8_t q0 = static_cast<uint8_t>((src[j] - min) * id + 0.5f);
            const uint8_t q1 = static_cast<uint8_t>((src[j + kQK / 2] - min) * id + 0.5f);
            b[i].qs[j] = (q0 & 0xf) | ((q1 & 0xf) << 4);
            qh |= static_cast<uint32_t>((q0 >> 4) & 1) << j;
            qh |= static_cast<uint32_t>((q1 >> 4) & 1) << (j + kQK / 2);
        }
        std::memcpy(b[i].qh, &qh, 4);
    }
}
float vec_dot_q5_1_q8_1(int64_t n, const void* w, const void* x) {
    const BlockQ5_1* a = static_cast<const BlockQ5_1*>(w);
    const BlockQ8_1* y = static_cast<const BlockQ8_1*>(x);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / kQK; ++i) {
        uint32_t qh;
        std::memcpy(&qh, a[i].qh, 4);
        int sumi = 0;
        for (int j = 0; j < kQK / 2; ++j) {
            const int q0 = (a[i].qs[j] & 0xf) | (q5_high_bit(qh, j) << 4);
            const int q1 = (a[i].qs[j] >> 4) | (q5_high_bit(qh, j + kQK / 2) << 4);
            sumi += q0 * y[i].qs[j] + q1 * y[i].qs[j + kQK / 2];
        }
        sum += static_cast<float>(sumi) * (fp16_to_fp32(a[i].d) * fp16_to_fp32(y[i].d)) +
               fp16_to_fp32(a[i].m) * fp16_to_fp32(y[i].s);
    }
    return sum;
}

// ---- Q8_0: x = d * q ----
void dequantize_row_q8_0(const void* src, float* dst, int64_t n) {
    const BlockQ8_0* b = static_cast<const BlockQ8_0*>(src);
    for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
        const float d = fp16_to_fp32(b[i].d);
        for (int j = 0; j < kQK; ++j) dst[j] = static_cast<float>(b[i].qs[j]) * d;
    }
}
// Symmetric 8-bit quantization of one block, shared by Q8_0 and Q8_1: returns the float scale d, fills qs.
static float quantize_block_q8(const float* src, int8_t* qs) {
    float amax = 0.0f;
    for (int j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(src[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    for (int j = 0; j < kQK; ++j) qs[j] = static_cast<int8_t>(std::round(src[j] * id));
    return d;
}

void quantize_row_q8_0(const float* src, void* dst, int64_t n) {
    BlockQ8_0* b = static_cast<BlockQ8_0*>(dst);
    for (int64_t i = 0; i < n / kQK; ++i, src += kQK) b[i].d = fp32_to_fp16(quantize_block_q8(src, b[i].qs));
}
float vec_dot_q8_0_q8_0(int64_t n, const void* w, const void* x) {
    const BlockQ8_0* a = static_cast<const BlockQ8_0*>(w);
    const BlockQ8_0* y = static_cast<const BlockQ8_0*>(x);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / kQK; ++i) {
        int sumi = 0;
        for (int j = 0; j < kQK; ++j) sumi += a[i].qs[j] * y[i].qs[j];
        sum += static_cast<float>(sumi) * (fp16_to_fp32(a[i].d) * fp16_to_fp32(y[i].d));
    }
    return sum;
}

// ---- Q8_1: x = d * q, s = d * sum(q) (activation format of Q4_1 / Q5_1) ----
void dequantize_row_q8_1(const void* src, float* dst, int64_t n) {
    const BlockQ8_1* b = static_cast<const BlockQ8_1*>(src);
    for (int64_t i = 0; i < n / kQK; ++i, dst += kQK) {
        const float d = fp16_to_fp32(b[i].d);
        for (int j = 0; j < kQK; ++j) dst[j] = static_cast<float>(b[i].qs[j]) * d;
    }
}
void quantize_row_q8_1(const float* src, void* dst, int64_t n) {
    BlockQ8_1* b = static_cast<BlockQ8_1*>(dst);
    for (int64_t i = 0; i < n / kQK; ++i, src += kQK) {
        const float d = quantize_block_q8(src, b[i].qs);
        b[i].d = fp32_to_fp16(d);
        int sum = 0;
        for (int j = 0; j < kQK; ++j) sum += b[i].qs[j];
        b[i].s = fp32_to_fp16(static_cast<float>(sum) * d);
    }
}

}  // namespace frugal::reference
