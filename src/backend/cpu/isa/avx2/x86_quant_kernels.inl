// x86 quantized dot-product kernels on 256-bit vectors, written once and compiled twice: by avx2_kernels.cpp
// (FRUGAL_X86_VNNI 0: AVX2 + FMA + F16C) and by ../avx512/avx512_kernels.cpp (FRUGAL_X86_VNNI 1: AVX-512 VL/BW +
// VNNI, whose 256-bit vpdpbusd / vpdpwssd run on two ports, so ymm matches zmm integer throughput without the zmm
// frequency penalty). Textual inclusion (not a shared header) keeps each copy in its own translation unit with its
// own target flags; everything here has internal linkage.
//
// Every kernel is an R x T tile: R weight rows against T activation rows (1 <= R, T <= kMaxTile). Weight-side work
// (unpacking nibbles, decoding scales) is done once per row and reused for the T tokens; activation-side work
// (loads, block sums) once per token and reused for the R rows. Decode uses T = 1 with R = 4 (four independent
// weight streams share each activation load); prefill uses 4 x 4.
//
// Integer parts are exact: each block's integer dot is formed in int32 exactly as the scalar reference does, and
// only the float scaling differs in rounding order.
#include <immintrin.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "backend/cpu/cpu_kernels.h"
#include "core/half.h"
#include "quant/block_formats.h"

#ifndef FRUGAL_X86_VNNI
#error "define FRUGAL_X86_VNNI before including x86_quant_kernels.inl"
#endif

namespace frugal {
namespace {

constexpr int kMaxTile = kMaxTileRows;
static_assert(kMaxTileRows == kMaxTileTokens, "square tile tables below");

// ---------------------------------------------------------------------------------------------------------------
// Primitives.

// acc + sum over each 4-byte group of u * s (u unsigned, s signed). The AVX2 form goes through maddubs, whose int16
// pair sums saturate unless u <= 128 (128 * 127 * 2 < 32768); callers keep to that.
inline __m256i dot_u8s8(__m256i acc, __m256i u, __m256i s) {
#if FRUGAL_X86_VNNI
    return _mm256_dpbusd_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

// acc + sum over int16 pairs of (u * s pair sums) * sc16: sub-block scales applied in the integer domain.
// u <= 63 keeps the int16 pair sums exact (63 * 127 * 2 < 32768).
inline __m256i scaled_dot(__m256i acc, __m256i u, __m256i s, __m256i sc16) {
#if FRUGAL_X86_VNNI
    return _mm256_dpwssd_epi32(acc, _mm256_maddubs_epi16(u, s), sc16);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), sc16));
#endif
}

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

inline int hsum_i32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}

inline float f16(uint16_t h) { return _cvtsh_ss(h); }
inline uint16_t to_f16(float f) { return _cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT); }

inline uint16_t load_u16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}
inline uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
inline __m256i loadu(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }

// 32 bits -> 32 bytes, 0x10 where the bit is set (the fifth bit of Q5_0 / Q5_1 levels).
inline __m256i fifth_bits(uint32_t bits) {
#if FRUGAL_X86_VNNI
    return _mm256_maskz_mov_epi8(bits, _mm256_set1_epi8(0x10));
#else
    // Byte k of the result looks at byte k / 8 of bits, then tests bit k % 8.
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32(static_cast<int>(bits)),
        _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
    const __m256i bit = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
    return _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit), _mm256_set1_epi8(0x10));
#endif
}

// 16 nibbles -> 32 levels: low nibbles give elements 0..15, high nibbles 16..31 (legacy block order).
inline __m256i legacy_nibbles(const uint8_t* qs) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
#if FRUGAL_X86_VNNI
    // A broadcast load and a per-lane variable shift: no cross-lane insert, whose port the scale handling of these
    // kernels also needs (the decode loop of the 4/5-bit formats is bound by that port).
    const __m256i both = _mm256_broadcastsi128_si256(q);
    return _mm256_and_si256(_mm256_srlv_epi16(both, _mm256_set_epi64x(0x0004000400040004, 0x0004000400040004, 0, 0)),
                            _mm256_set1_epi8(0x0f));
#else
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
#endif
}

// Prefetches the first `Lines` cache lines of the block at the same position in the row R rows down: in decode a
// thread walks a chunk of consecutive R-row tiles, so that is the block the next tile reads. One tile ahead keeps
// about R rows' worth of requests in flight (decode 1.3-1.45x faster end to end than with the earlier
// two-blocks-ahead prefetch, docs/perf/cpu.md). Past the matrix end it fetches nothing useful and cannot fault.
template <int R, int Lines>
inline void prefetch_next_tile(const uint8_t* wb, int64_t w_row_bytes) {
    const char* p = reinterpret_cast<const char*>(wb + R * w_row_bytes);
    #pragma GCC unroll 8
    for (int i = 0; i < Lines; ++i) _mm_prefetch(p + 64 * i, _MM_HINT_T0);
}

// Runs Kernel::run<R, T> for runtime R, T in [1, kMaxTile].
template <typename Kernel, int... I>
constexpr auto make_tile_table(std::integer_sequence<int, I...>) {
    using Fn = void (*)(int64_t, const uint8_t*, int64_t, const uint8_t*, int64_t, float*, int64_t);
    return std::array<Fn, sizeof...(I)>{&Kernel::template run<I / kMaxTile + 1, I % kMaxTile + 1>...};
}
template <typename Kernel>
void tile_dispatch(int64_t n, const void* w, int64_t w_row_bytes, int num_rows, const void* x, int64_t x_row_bytes,
                   int num_tokens, float* y, int64_t y_stride) {
    static constexpr auto kTable = make_tile_table<Kernel>(std::make_integer_sequence<int, kMaxTile * kMaxTile>{});
    kTable[(num_rows - 1) * kMaxTile + (num_tokens - 1)](n, static_cast<const uint8_t*>(w), w_row_bytes,
                                                         static_cast<const uint8_t*>(x), x_row_bytes, y, y_stride);
}
template <typename Kernel>
float vec_dot_1x1(int64_t n, const void* w, const void* x) {
    float y;
    Kernel::template run<1, 1>(n, static_cast<const uint8_t*>(w), 0, static_cast<const uint8_t*>(x), 0, &y, 1);
    return y;
}

// ---------------------------------------------------------------------------------------------------------------
// Legacy 32-element formats against Q8_0 / Q8_1. Per block and pair: one integer dot (offset folded into the
// accumulator's starting value), then acc += dot * (d_w * d_x).

struct Q4_0Format {
    static constexpr int kBytes = 18;
    static constexpr int kOffset = 8;  // level q means q - 8
    static constexpr bool kHasMin = false;
    static constexpr bool kSigned = false;
    static __m256i levels(const uint8_t* b) { return legacy_nibbles(b + 2); }
    static float min(const uint8_t*) { return 0.0f; }
};
struct Q4_1Format {
    static constexpr int kBytes = 20;
    static constexpr int kOffset = 0;
    static constexpr bool kHasMin = true;
    static constexpr bool kSigned = false;
    static __m256i levels(const uint8_t* b) { return legacy_nibbles(b + 4); }
    static float min(const uint8_t* b) { return f16(load_u16(b + 2)); }
};
struct Q5_0Format {
    static constexpr int kBytes = 22;
    static constexpr int kOffset = 16;
    static constexpr bool kHasMin = false;
    static constexpr bool kSigned = false;
    static __m256i levels(const uint8_t* b) {
#if FRUGAL_X86_VNNI
        // The fifth bit as a masked add of 16 (the nibble is at most 15): one instruction instead of two.
        const __m256i nib = legacy_nibbles(b + 6);
        return _mm256_mask_add_epi8(nib, load_u32(b + 2), nib, _mm256_set1_epi8(0x10));
#else
        return _mm256_or_si256(legacy_nibbles(b + 6), fifth_bits(load_u32(b + 2)));
#endif
    }
    static float min(const uint8_t*) { return 0.0f; }
};
struct Q5_1Format {
    static constexpr int kBytes = 24;
    static constexpr int kOffset = 0;
    static constexpr bool kHasMin = true;
    static constexpr bool kSigned = false;
    static __m256i levels(const uint8_t* b) { return _mm256_or_si256(legacy_nibbles(b + 8), fifth_bits(load_u32(b + 4))); }
    static float min(const uint8_t* b) { return f16(load_u16(b + 2)); }
};
struct Q8_0Format {
    static constexpr int kBytes = 34;
#if FRUGAL_X86_VNNI
    // vpdpbusd wants unsigned weights: w + 128 = w ^ 0x80, and the offset is taken back out through the sums of x.
    static constexpr int kOffset = 128;
    static constexpr bool kSigned = false;
    static __m256i levels(const uint8_t* b) { return _mm256_xor_si256(loadu(b + 2), _mm256_set1_epi8(-128)); }
#else
    // maddubs would saturate with w + 128, so AVX2 moves the sign of w onto x instead (|w| <= 128 is safe).
    static constexpr int kOffset = 0;
    static constexpr bool kSigned = true;
    static __m256i levels(const uint8_t* b) { return loadu(b + 2); }
#endif
    static constexpr bool kHasMin = false;
    static float min(const uint8_t*) { return 0.0f; }
};

template <typename F>
struct LegacyKernel {
    // Activation blocks: Q8_1 (d, s, qs[32]) for formats with a min, Q8_0 (d, qs[32]) otherwise.
    static constexpr int kActBytes = F::kHasMin ? 36 : 34;
    static constexpr int kActQs = F::kHasMin ? 4 : 2;

    template <int R, int T>
    static void run(int64_t n, const uint8_t* w, int64_t w_row_bytes, const uint8_t* x, int64_t x_row_bytes,
                    float* y, int64_t y_stride) {
        __m256 acc[R][T];
        float min_acc[R][T];
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            #pragma GCC unroll 16
            for (int t = 0; t < T; ++t) {
                acc[r][t] = _mm256_setzero_ps();
                min_acc[r][t] = 0.0f;
            }
        }
        const int64_t num_blocks = n / kQK4_0;
        for (int64_t b = 0; b < num_blocks; ++b) {
            __m256i xq[T], start[T];
            float dx[T], sx[T];
            #pragma GCC unroll 16
            for (int t = 0; t < T; ++t) {
                const uint8_t* xb = x + t * x_row_bytes + b * kActBytes;
                xq[t] = loadu(xb + kActQs);
                dx[t] = f16(load_u16(xb));
                sx[t] = F::kHasMin ? f16(load_u16(xb + 2)) : 0.0f;
                // -offset * sum(x) starts the accumulator, so the dot of biased levels comes out unbiased.
                start[t] = F::kOffset != 0 ? _mm256_sub_epi32(_mm256_setzero_si256(),
                                                              dot_u8s8(_mm256_setzero_si256(),
                                                                       _mm256_set1_epi8(static_cast<char>(F::kOffset)), xq[t]))
                                           : _mm256_setzero_si256();
            }
            #pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                const uint8_t* wb = w + r * w_row_bytes + b * F::kBytes;
                prefetch_next_tile<R, 1>(wb, w_row_bytes);
                const __m256i q = F::levels(wb);
                const float dw = f16(load_u16(wb));
                const float mw = F::kHasMin ? F::min(wb) : 0.0f;
                #pragma GCC unroll 16
                for (int t = 0; t < T; ++t) {
                    __m256i dot;
                    if constexpr (F::kSigned) {
                        dot = dot_u8s8(_mm256_setzero_si256(), _mm256_sign_epi8(q, q), _mm256_sign_epi8(xq[t], q));
                    } else {
                        dot = dot_u8s8(start[t], q, xq[t]);
                    }
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(dot), _mm256_set1_ps(dw * dx[t]), acc[r][t]);
                    if constexpr (F::kHasMin) min_acc[r][t] += mw * sx[t];
                }
            }
        }
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            #pragma GCC unroll 16
            for (int t = 0; t < T; ++t) y[t * y_stride + r] = hsum(acc[r][t]) + min_acc[r][t];
        }
    }
};

// ---------------------------------------------------------------------------------------------------------------
// K-quants against Q8_K. Per super-block and pair: an int32 accumulator of sum_j sc_j * dot_j (sub-block scales
// applied by vpdpwssd / vpmaddwd), then one float fma with d_w * d_x; Q4_K / Q5_K subtract their mins as a rank-8
// float update (dmin_w * m_j) x (d_x * bsum_j) per pair.

constexpr int kQ8KQs = 4;                 // offset of qs in BlockQ8_K
constexpr int kQ8KBsums = 4 + kQK_K;      // offset of bsums

// Q8_K bsums summed in pairs (one per 32-element sub-block) and scaled by d, as 8 floats.
inline __m256 q8k_sub_block_sums(const uint8_t* xb, float d) {
    const __m256i pairs = _mm256_madd_epi16(loadu(xb + kQ8KBsums), _mm256_set1_epi16(1));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(pairs), _mm256_set1_ps(d));
}

// The eight 6-bit scales and mins of a Q4_K / Q5_K super-block, one byte each (see quant_math.h k_scale_min).
inline void k_scales_mins(const uint8_t* packed, uint64_t* scales, uint64_t* mins) {
    const uint32_t u0 = load_u32(packed), u1 = load_u32(packed + 4), u2 = load_u32(packed + 8);
    const uint32_t sc_lo = u0 & 0x3f3f3f3f, mn_lo = u1 & 0x3f3f3f3f;
    const uint32_t sc_hi = (u2 & 0x0f0f0f0f) | ((u0 >> 2) & 0x30303030);
    const uint32_t mn_hi = ((u2 >> 4) & 0x0f0f0f0f) | ((u1 >> 2) & 0x30303030);
    *scales = sc_lo | (static_cast<uint64_t>(sc_hi) << 32);
    *mins = mn_lo | (static_cast<uint64_t>(mn_hi) << 32);
}

// int16 scale vector for sub-block g of 8 (byte g of the broadcast scales, zero-extended into every int16).
inline __m256i k_scale16(__m256i scales_bcast, int g) {
    const __m256i idx = _mm256_set1_epi16(static_cast<int16_t>(0x8000 | g));  // low byte g, high byte zeroed
    return _mm256_shuffle_epi8(scales_bcast, idx);
}

template <bool kFive>
struct Q45KKernel {
    static constexpr int kBytes = kFive ? 176 : 144;
    static constexpr int kQs = kFive ? 48 : 16;

    template <int R, int T>
    static void run(int64_t n, const uint8_t* w, int64_t w_row_bytes, const uint8_t* x, int64_t x_row_bytes,
                    float* y, int64_t y_stride) {
        __m256 acc[R][T];
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            #pragma GCC unroll 16
            for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
        }
        const __m256i low4 = _mm256_set1_epi8(0x0f);
        const int64_t num_blocks = n / kQK_K;
        for (int64_t b = 0; b < num_blocks; ++b) {
            const uint8_t* xb[T];
            __m256 dx[T], xsums[T];
            #pragma GCC unroll 16
            for (int t = 0; t < T; ++t) {
                xb[t] = x + t * x_row_bytes + b * static_cast<int64_t>(sizeof(BlockQ8_K));
                float d;
                std::memcpy(&d, xb[t], 4);
                dx[t] = _mm256_set1_ps(d);
                xsums[t] = q8k_sub_block_sums(xb[t], d);
            }
            #pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                const uint8_t* wb = w + r * w_row_bytes + b * kBytes;
                prefetch_next_tile<R, 3>(wb, w_row_bytes);
                uint64_t scales, mins;
                k_scales_mins(wb + 4, &scales, &mins);
                const __m256i scales_bcast = _mm256_set1_epi64x(static_cast<int64_t>(scales));
                const __m256 dw = _mm256_set1_ps(f16(load_u16(wb)));
                const __m256 mins_f = _mm256_mul_ps(
                    _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<int64_t>(mins)))),
                    _mm256_set1_ps(f16(load_u16(wb + 2))));
                __m256i qh;
                if constexpr (kFive) qh = loadu(wb + 16);
                // Two accumulator chains per token: vpdpwssd has ~5 cycles of latency.
                __m256i iacc[T], iacc2[T];
                #pragma GCC unroll 16
                for (int t = 0; t < T; ++t) iacc[t] = iacc2[t] = _mm256_setzero_si256();
                #pragma GCC unroll 16
                for (int j = 0; j < 4; ++j) {
                    const __m256i q = loadu(wb + kQs + 32 * j);
                    __m256i lo = _mm256_and_si256(q, low4);
                    __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
                    if constexpr (kFive) {
                        // Fifth bit of sub-block g is bit g of each qh byte, moved to bit 4.
                        const __m256i bit = _mm256_set1_epi8(0x10);
                        const int g = 2 * j;
                        const __m256i h_lo = g <= 4 ? _mm256_slli_epi16(qh, 4 - g) : _mm256_srli_epi16(qh, g - 4);
                        const __m256i h_hi = g + 1 <= 4 ? _mm256_slli_epi16(qh, 3 - g) : _mm256_srli_epi16(qh, g - 3);
                        lo = _mm256_or_si256(lo, _mm256_and_si256(h_lo, bit));
                        hi = _mm256_or_si256(hi, _mm256_and_si256(h_hi, bit));
                    }
                    const __m256i sc_lo = k_scale16(scales_bcast, 2 * j);
                    const __m256i sc_hi = k_scale16(scales_bcast, 2 * j + 1);
                    #pragma GCC unroll 16
                    for (int t = 0; t < T; ++t) {
                        iacc[t] = scaled_dot(iacc[t], lo, loadu(xb[t] + kQ8KQs + 64 * j), sc_lo);
                        iacc2[t] = scaled_dot(iacc2[t], hi, loadu(xb[t] + kQ8KQs + 64 * j + 32), sc_hi);
                    }
                }
                #pragma GCC unroll 16
                for (int t = 0; t < T; ++t) {
                    const __m256i sum = _mm256_add_epi32(iacc[t], iacc2[t]);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dw, dx[t]), acc[r][t]);
                    acc[r][t] = _mm256_fnmadd_ps(mins_f, xsums[t], acc[r][t]);
                }
            }
        }
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            #pragma GCC unroll 16
            for (int t = 0; t < T; ++t) y[t * y_stride + r] = hsum(acc[r][t]);
        }
    }
};

// Q6_K: levels 0..63 (value = level - 32) in 16-element sub-blocks with int8 scales. The -32 offset is folded into
// the accumulator's start: -32 * sum_j sc_j * bsum_j, one vpmaddwd per pair.
struct Q6KKernel {
    static constexpr int kBytes = 210;

    template <int R, int T>
    static void run(int64_t n, const uint8_t* w, int64_t w_row_bytes, const uint8_t* x, int64_t x_row_bytes,
                    float* y, int64_t y_stride) {
        __m256 acc[R][T];
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            #pragma GCC unroll 16
            for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
        }
        const __m256i low4 = _mm256_set1_epi8(0x0f);
        const __m256i high2 = _mm256_set1_epi8(0x30);
        const int64_t num_blocks = n / kQK_K;
        for (int64_t b = 0; b < num_blocks; ++b) {
            const uint8_t* xb[T];
            __m256 dx[T];
            __m256i bsums[T];
            #pragma GCC unroll 16
            for (int t = 0; t < T; ++t) {
                xb[t] = x + t * x_row_bytes + b * static_cast<int64_t>(sizeof(BlockQ8_K));
                float d;
                std::memcpy(&d, xb[t], 4);
                dx[t] = _mm256_set1_ps(d);
                bsums[t] = loadu(xb[t] + kQ8KBsums);
            }
            #pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                const uint8_t* wb = w + r * w_row_bytes + b * kBytes;
                prefetch_next_tile<R, 4>(wb, w_row_bytes);
                const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(wb + 192));
                const __m256i sc16_all = _mm256_cvtepi8_epi16(sc8);
                const __m256 dw = _mm256_set1_ps(f16(load_u16(wb + 208)));
                const __m256i neg32sc = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc16_all, 5));
                __m256i iacc[T], iacc2[T];  // two chains per token, as in Q45KKernel
                #pragma GCC unroll 16
                for (int t = 0; t < T; ++t) {
                    iacc[t] = _mm256_madd_epi16(neg32sc, bsums[t]);
                    iacc2[t] = _mm256_setzero_si256();
                }
                #pragma GCC unroll 16
                for (int h = 0; h < 2; ++h) {
                    const __m256i ql0 = loadu(wb + 64 * h);
                    const __m256i ql1 = loadu(wb + 64 * h + 32);
                    const __m256i qh = loadu(wb + 128 + 32 * h);
                    const __m256i q[4] = {
                        _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), high2)),
                        _mm256_or_si256(_mm256_and_si256(ql1, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), high2)),
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), _mm256_and_si256(qh, high2)),
                        _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                                        _mm256_and_si256(_mm256_srli_epi16(qh, 2), high2)),
                    };
                    #pragma GCC unroll 16
                    for (int k = 0; k < 4; ++k) {
                        const int g = 4 * h + k;  // 32-element group: sub-blocks 2g (lanes 0..7) and 2g + 1
                        const __m128i idx = _mm_setr_epi8(2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g, 2 * g,
                                                          2 * g + 1, 2 * g + 1, 2 * g + 1, 2 * g + 1, 2 * g + 1,
                                                          2 * g + 1, 2 * g + 1, 2 * g + 1);
                        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, idx));
                        #pragma GCC unroll 16
                        for (int t = 0; t < T; ++t) {
                            __m256i& a = (k & 1) ? iacc2[t] : iacc[t];
                            a = scaled_dot(a, q[k], loadu(xb[t] + kQ8KQs + 32 * g), sc16);
                        }
                    }
                }
                #pragma GCC unroll 16
                for (int t = 0; t < T; ++t) {
                    const __m256i sum = _mm256_add_epi32(iacc[t], iacc2[t]);
                    acc[r][t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dw, dx[t]), acc[r][t]);
                }
            }
        }
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            #pragma GCC unroll 16
            for (int t = 0; t < T; ++t) y[t * y_stride + r] = hsum(acc[r][t]);
        }
    }
};

// ---------------------------------------------------------------------------------------------------------------
// F32 / F16 / BF16 weights against F32 activations.

struct F32Load {
    static __m256 load(const uint8_t* p) { return _mm256_loadu_ps(reinterpret_cast<const float*>(p)); }
    static float scalar(const uint8_t* p) { float f; std::memcpy(&f, p, 4); return f; }
    static constexpr int kElemBytes = 4;
};
struct F16Load {
    static __m256 load(const uint8_t* p) { return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
    static float scalar(const uint8_t* p) { return f16(load_u16(p)); }
    static constexpr int kElemBytes = 2;
};
struct BF16Load {
    static __m256 load(const uint8_t* p) {
        const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
    }
    static float scalar(const uint8_t* p) { return bf16_to_fp32(load_u16(p)); }
    static constexpr int kElemBytes = 2;
};

template <typename L>
struct FloatKernel {
    template <int R, int T>
    static void run(int64_t n, const uint8_t* w, int64_t w_row_bytes, const uint8_t* x, int64_t x_row_bytes,
                    float* y, int64_t y_stride) {
        __m256 acc[R][T];
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            #pragma GCC unroll 16
            for (int t = 0; t < T; ++t) acc[r][t] = _mm256_setzero_ps();
        }
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            __m256 xv[T];
            #pragma GCC unroll 16
            for (int t = 0; t < T; ++t) xv[t] = _mm256_loadu_ps(reinterpret_cast<const float*>(x + t * x_row_bytes) + i);
            #pragma GCC unroll 16
            for (int r = 0; r < R; ++r) {
                const __m256 wv = L::load(w + r * w_row_bytes + i * L::kElemBytes);
                #pragma GCC unroll 16
                for (int t = 0; t < T; ++t) acc[r][t] = _mm256_fmadd_ps(wv, xv[t], acc[r][t]);
            }
        }
        #pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
            #pragma GCC unroll 16
            for (int t = 0; t < T; ++t) {
                float s = hsum(acc[r][t]);
                const float* xt = reinterpret_cast<const float*>(x + t * x_row_bytes);
                for (int64_t k = i; k < n; ++k) s += L::scalar(w + r * w_row_bytes + k * L::kElemBytes) * xt[k];
                y[t * y_stride + r] = s;
            }
        }
    }
};

// ---------------------------------------------------------------------------------------------------------------
// Activation quantizers, bit-identical to the references in quant/ (same operations in the same order).

inline __m256 abs_ps(__m256 v) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v); }
inline float hmax(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}
// roundf: to nearest, ties away from zero (x - trunc(x) is exact).
inline __m256 round_away(__m256 v) {
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = abs_ps(_mm256_sub_ps(v, t));
    const __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), _mm256_and_ps(v, _mm256_set1_ps(-0.0f)));
    return _mm256_add_ps(t, _mm256_and_ps(_mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ), one));
}
// Four vectors of 8 int32 (each in [-128, 127]) -> 32 int8 in order.
inline __m256i pack_i32_to_i8(__m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_packs_epi32(a, b);  // a0..3 b0..3 | a4..7 b4..7
    const __m256i cd = _mm256_packs_epi32(c, d);
    const __m256i abcd = _mm256_packs_epi16(ab, cd);  // a0..3 b0..3 c0..3 d0..3 | a4..7 b4..7 c4..7 d4..7
    return _mm256_permutevar8x32_epi32(abcd, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

// Q8_0 / Q8_1 share the block body; Q8_1 also stores s = d * sum(q).
template <bool kWithSum>
void quantize_row_q8_legacy(const float* src, void* dst, int64_t n) {
    uint8_t* out = static_cast<uint8_t*>(dst);
    constexpr int kBlockBytes = kWithSum ? 36 : 34;
    for (int64_t i = 0; i < n / 32; ++i, src += 32, out += kBlockBytes) {
        __m256 v[4];
        #pragma GCC unroll 16
        for (int k = 0; k < 4; ++k) v[k] = _mm256_loadu_ps(src + 8 * k);
        const __m256 m = _mm256_max_ps(_mm256_max_ps(abs_ps(v[0]), abs_ps(v[1])), _mm256_max_ps(abs_ps(v[2]), abs_ps(v[3])));
        const float amax = hmax(m);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const __m256 idv = _mm256_set1_ps(id);
        __m256i q[4];
        #pragma GCC unroll 16
        for (int k = 0; k < 4; ++k) q[k] = _mm256_cvttps_epi32(round_away(_mm256_mul_ps(v[k], idv)));
        const uint16_t dh = to_f16(d);
        std::memcpy(out, &dh, 2);
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + (kWithSum ? 4 : 2)), pack_i32_to_i8(q[0], q[1], q[2], q[3]));
        if constexpr (kWithSum) {
            const int sum = hsum_i32(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
            const uint16_t sh = to_f16(static_cast<float>(sum) * d);
            std::memcpy(out + 2, &sh, 2);
        }
    }
}
void quantize_row_q8_0_x86(const float* src, void* dst, int64_t n) { quantize_row_q8_legacy<false>(src, dst, n); }
void quantize_row_q8_1_x86(const float* src, void* dst, int64_t n) { quantize_row_q8_legacy<true>(src, dst, n); }

void quantize_row_q8_k_x86(const float* src, void* dst, int64_t n) {
    BlockQ8_K* out = static_cast<BlockQ8_K*>(dst);
    for (int64_t i = 0; i < n / kQK_K; ++i, src += kQK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < 32; ++k) m = _mm256_max_ps(m, abs_ps(_mm256_loadu_ps(src + 8 * k)));
        const float amax = hmax(m);
        if (amax == 0.0f) {
            std::memset(&out[i], 0, sizeof(BlockQ8_K));
            continue;
        }
        // The signed value of the first element reaching amax, as the reference picks it.
        float max = 0.0f;
        const __m256 amax_v = _mm256_set1_ps(amax);
        for (int k = 0; k < 32; ++k) {
            const int mask = _mm256_movemask_ps(_mm256_cmp_ps(abs_ps(_mm256_loadu_ps(src + 8 * k)), amax_v, _CMP_EQ_OQ));
            if (mask != 0) {
                max = src[8 * k + __builtin_ctz(mask)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m256 is = _mm256_set1_ps(iscale);
        for (int g = 0; g < 8; ++g) {
            __m256i q[4];
            #pragma GCC unroll 16
            for (int k = 0; k < 4; ++k) {
                const __m256i v = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(src + 32 * g + 8 * k), is));
                q[k] = _mm256_min_epi32(v, _mm256_set1_epi32(127));
            }
            _mm256_storeu_si256(reinterpret_cast<__m256i*>(out[i].qs + 32 * g), pack_i32_to_i8(q[0], q[1], q[2], q[3]));
            out[i].bsums[2 * g] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(q[0], q[1])));
            out[i].bsums[2 * g + 1] = static_cast<int16_t>(hsum_i32(_mm256_add_epi32(q[2], q[3])));
        }
        out[i].d = 1.0f / iscale;
    }
}

// ---------------------------------------------------------------------------------------------------------------

template <typename Kernel>
void set_kernel(CpuKernels& k, DType t) {
    k.vec_dot[static_cast<int>(t)] = &vec_dot_1x1<Kernel>;
    k.vec_dot_tile[static_cast<int>(t)] = &tile_dispatch<Kernel>;
}

void register_x86_kernels(CpuKernels& k) {
    set_kernel<FloatKernel<F32Load>>(k, DType::kF32);
    set_kernel<FloatKernel<F16Load>>(k, DType::kF16);
    set_kernel<FloatKernel<BF16Load>>(k, DType::kBF16);
    set_kernel<LegacyKernel<Q4_0Format>>(k, DType::kQ4_0);
    set_kernel<LegacyKernel<Q4_1Format>>(k, DType::kQ4_1);
    set_kernel<LegacyKernel<Q5_0Format>>(k, DType::kQ5_0);
    set_kernel<LegacyKernel<Q5_1Format>>(k, DType::kQ5_1);
    set_kernel<LegacyKernel<Q8_0Format>>(k, DType::kQ8_0);
    set_kernel<Q45KKernel<false>>(k, DType::kQ4_K);
    set_kernel<Q45KKernel<true>>(k, DType::kQ5_K);
    set_kernel<Q6KKernel>(k, DType::kQ6_K);
    k.quantize_row[static_cast<int>(DType::kQ8_0)] = &quantize_row_q8_0_x86;
    k.quantize_row[static_cast<int>(DType::kQ8_1)] = &quantize_row_q8_1_x86;
    k.quantize_row[static_cast<int>(DType::kQ8_K)] = &quantize_row_q8_k_x86;
}

}  // namespace
}  // namespace frugal
