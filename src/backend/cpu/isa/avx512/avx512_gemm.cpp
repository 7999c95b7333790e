// AVX-512 VNNI prefill GEMM: K-quant weights (Q4_K, Q5_K, Q6_K) against packed Q8_K activations, and the legacy
// 32-element formats (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) against packed Q8_0 / Q8_1 activations.
//
// Layout: a token block of 16 activation rows is packed so that one zmm holds 4 consecutive elements of each of
// the 16 tokens (lane j = token j). A weight row's 4 levels at the same position are broadcast into every lane, so
// one vpdpbusd does 64 multiply-adds for 16 tokens, and a sub-block's integer scale is applied with one vpmulld per
// row for all 16 tokens (instead of once per token as in the tile kernels). Weights are unpacked to one level per
// byte once per (8-row band, super-block, token block) into a small L1 buffer.
//
// Integer parts are exact (int32 per sub-block, as the reference); the float scaling order differs.
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <vector>
#include <algorithm>

#include "backend/cpu/cpu_kernels.h"
#include "core/half.h"
#include "quant/block_formats.h"

namespace frugal {
namespace {

constexpr int kTok = kGemmTokenBlock;  // tokens per packed block = zmm int32 lanes
constexpr int kBand = 8;               // weight rows per micro-kernel pass
static_assert(kTok == 16, "one zmm of int32 lanes per token block");

// Packed Q8_K token block, per super-block: codes[64 groups][16 tokens][4 bytes], d[16 tokens] (float),
// bsums[16 sub-blocks of 16][16 tokens] (int32), bsum_pairs[4][16 tokens] (two int16: sums of 32-element
// sub-blocks 2p and 2p + 1).
constexpr int kCodesBytes = 64 * kTok * 4;
constexpr int kDOffset = kCodesBytes;
constexpr int kBsumsOffset = kDOffset + kTok * 4;
constexpr int kPairsOffset = kBsumsOffset + 16 * kTok * 4;
constexpr int kSuperBlockBytes = kPairsOffset + 4 * kTok * 4;

inline uint32_t load_u32(const uint8_t* p) {
    uint32_t v;
    std::memcpy(&v, p, 4);
    return v;
}
inline uint16_t load_u16(const uint8_t* p) {
    uint16_t v;
    std::memcpy(&v, p, 2);
    return v;
}

int64_t pack_q8_k(int64_t n, const void* x, int64_t x_row_bytes, int num_tokens, void* packed) {
    const int64_t num_blocks = n / kQK_K;
    const int64_t bytes = num_blocks * kSuperBlockBytes;
    if (packed == nullptr) return bytes;
    uint8_t* out = static_cast<uint8_t*>(packed);
    std::memset(out, 0, bytes);  // absent tokens: zero codes and scales
    for (int j = 0; j < num_tokens; ++j) {
        const BlockQ8_K* row = reinterpret_cast<const BlockQ8_K*>(static_cast<const uint8_t*>(x) + j * x_row_bytes);
        for (int64_t b = 0; b < num_blocks; ++b) {
            uint8_t* sb = out + b * kSuperBlockBytes;
            const BlockQ8_K& blk = row[b];
            for (int g = 0; g < 64; ++g) std::memcpy(sb + (g * kTok + j) * 4, blk.qs + 4 * g, 4);
            std::memcpy(sb + kDOffset + 4 * j, &blk.d, 4);
            int32_t* bsums = reinterpret_cast<int32_t*>(sb + kBsumsOffset);
            for (int s = 0; s < 16; ++s) bsums[s * kTok + j] = blk.bsums[s];
            uint32_t* pairs = reinterpret_cast<uint32_t*>(sb + kPairsOffset);
            for (int p = 0; p < 4; ++p) {
                const int lo = blk.bsums[4 * p] + blk.bsums[4 * p + 1];
                const int hi = blk.bsums[4 * p + 2] + blk.bsums[4 * p + 3];
                pairs[p * kTok + j] = static_cast<uint16_t>(lo) | (static_cast<uint32_t>(static_cast<uint16_t>(hi)) << 16);
            }
        }
    }
    return bytes;
}

// One 8-row band of one super-block, unpacked: a level per byte in element order, integer sub-block scales (and
// mins, as int16 pairs for vpdpwssd), float d and dmin.
struct Band {
    alignas(64) uint8_t levels[kBand][kQK_K];
    int32_t scales[kBand][16];
    int32_t min_pairs[kBand][4];
    float d[kBand];
    float dmin[kBand];
};

void unpack_q4_k_row(const uint8_t* b, bool five, Band& band, int r) {
    const int qs_offset = five ? 48 : 16;
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i qh = five ? _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 16)) : _mm256_setzero_si256();
    const __m256i bit = _mm256_set1_epi8(0x10);
    for (int c = 0; c < 4; ++c) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + qs_offset + 32 * c));
        __m256i lo = _mm256_and_si256(q, low4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), low4);
        if (five) {
            // Fifth bit of sub-block g is bit g of each qh byte, moved to bit 4.
            auto to_bit4 = [&](int g) {  // bit g of every byte to bit 4 (16-bit shifts keep both bytes' bits apart)
                return g <= 4 ? _mm256_sll_epi16(qh, _mm_cvtsi32_si128(4 - g)) : _mm256_srl_epi16(qh, _mm_cvtsi32_si128(g - 4));
            };
            const __m256i sh_lo = to_bit4(2 * c);
            const __m256i sh_hi = to_bit4(2 * c + 1);
            lo = _mm256_or_si256(lo, _mm256_and_si256(sh_lo, bit));
            hi = _mm256_or_si256(hi, _mm256_and_si256(sh_hi, bit));
        }
        _mm256_store_si256(reinterpret_cast<__m256i*>(band.levels[r] + 64 * c), lo);
        _mm256_store_si256(reinterpret_cast<__m256i*>(band.levels[r] + 64 * c + 32), hi);
    }
    const uint32_t u0 = load_u32(b + 4), u1 = load_u32(b + 8), u2 = load_u32(b + 12);
    const uint32_t sc[2] = {u0 & 0x3f3f3f3f, (u2 & 0x0f0f0f0f) | ((u0 >> 2) & 0x30303030)};
    const uint32_t mn[2] = {u1 & 0x3f3f3f3f, ((u2 >> 4) & 0x0f0f0f0f) | ((u1 >> 2) & 0x30303030)};
    uint8_t scales[8], mins[8];
    std::memcpy(scales, sc, 8);
    std::memcpy(mins, mn, 8);
    for (int s = 0; s < 8; ++s) band.scales[r][s] = scales[s];
    for (int p = 0; p < 4; ++p) band.min_pairs[r][p] = mins[2 * p] | (mins[2 * p + 1] << 16);
    band.d[r] = _cvtsh_ss(load_u16(b));
    band.dmin[r] = _cvtsh_ss(load_u16(b + 2));
}

void unpack_q6_k_row(const uint8_t* b, Band& band, int r) {
    const __m256i low4 = _mm256_set1_epi8(0x0f);
    const __m256i high2 = _mm256_set1_epi8(0x30);
    for (int h = 0; h < 2; ++h) {
        const __m256i ql0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 64 * h));
        const __m256i ql1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 64 * h + 32));
        const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 128 + 32 * h));
        const __m256i q[4] = {
            _mm256_or_si256(_mm256_and_si256(ql0, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), high2)),
            _mm256_or_si256(_mm256_and_si256(ql1, low4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), high2)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql0, 4), low4), _mm256_and_si256(qh, high2)),
            _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(ql1, 4), low4),
                            _mm256_and_si256(_mm256_srli_epi16(qh, 2), high2)),
        };
        for (int k = 0; k < 4; ++k) {
            _mm256_store_si256(reinterpret_cast<__m256i*>(band.levels[r] + 128 * h + 32 * k), q[k]);
        }
    }
    const int8_t* sc = reinterpret_cast<const int8_t*>(b + 192);
    for (int s = 0; s < 16; ++s) band.scales[r][s] = sc[s];
    band.d[r] = _cvtsh_ss(load_u16(b + 208));
    band.dmin[r] = 0.0f;
}

void clear_row(Band& band, int r) {
    std::memset(band.levels[r], 0, kQK_K);
    std::memset(band.scales[r], 0, sizeof(band.scales[r]));
    std::memset(band.min_pairs[r], 0, sizeof(band.min_pairs[r]));
    band.d[r] = 0.0f;
    band.dmin[r] = 0.0f;
}

// acc[r][0..16) += band row r . token block, over one super-block.
// kSub: sub-block size (32 for Q4_K / Q5_K, 16 for Q6_K); kBias: levels are value + kBias (Q6_K: 32), removed
// through the per-16 sums of the activations; kHasMin: subtract dmin * min_s * bsum_s (Q4_K / Q5_K).
template <int kSub, int kBias, bool kHasMin>
void band_super_block(const Band& band, const uint8_t* sb, float (*acc)[kTok]) {
    constexpr int kNumSub = kQK_K / kSub;
    constexpr int kGroups = kSub / 4;
    const int32_t* bsums = reinterpret_cast<const int32_t*>(sb + kBsumsOffset);
    __m512i s1[kBand];
#pragma GCC unroll 8
    for (int r = 0; r < kBand; ++r) s1[r] = _mm512_setzero_si512();
    for (int s = 0; s < kNumSub; ++s) {
        __m512i start = _mm512_setzero_si512();
        if constexpr (kBias != 0) {
            // -kBias * sum(x) over the sub-block (kSub == 16 here, one bsum each).
            start = _mm512_mullo_epi32(_mm512_loadu_si512(bsums + s * kTok), _mm512_set1_epi32(-kBias));
        }
        __m512i a[kBand];
#pragma GCC unroll 8
        for (int r = 0; r < kBand; ++r) a[r] = start;
#pragma GCC unroll 8
        for (int g = 0; g < kGroups; ++g) {
            const int kg = s * kGroups + g;
            const __m512i codes = _mm512_loadu_si512(sb + kg * kTok * 4);
#pragma GCC unroll 8
            for (int r = 0; r < kBand; ++r) {
                a[r] = _mm512_dpbusd_epi32(a[r], _mm512_set1_epi32(static_cast<int>(load_u32(band.levels[r] + 4 * kg))),
                                           codes);
            }
        }
#pragma GCC unroll 8
        for (int r = 0; r < kBand; ++r) s1[r] = _mm512_add_epi32(s1[r], _mm512_mullo_epi32(a[r], _mm512_set1_epi32(band.scales[r][s])));
    }
    const __m512 dx = _mm512_loadu_ps(sb + kDOffset);
#pragma GCC unroll 8
    for (int r = 0; r < kBand; ++r) {
        __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(s1[r]), _mm512_set1_ps(band.d[r]));
        if constexpr (kHasMin) {
            __m512i s2 = _mm512_setzero_si512();
            for (int p = 0; p < 4; ++p) {
                s2 = _mm512_dpwssd_epi32(s2, _mm512_loadu_si512(sb + kPairsOffset + p * kTok * 4),
                                         _mm512_set1_epi32(band.min_pairs[r][p]));
            }
            v = _mm512_fnmadd_ps(_mm512_set1_ps(band.dmin[r]), _mm512_cvtepi32_ps(s2), v);
        }
        _mm512_storeu_ps(acc[r], _mm512_fmadd_ps(v, dx, _mm512_loadu_ps(acc[r])));
    }
}

// Token blocks whose packed activations stay in L2 while a band of weight rows sweeps them.
constexpr int64_t kChunkBytes = 1 << 20;

template <int kKind>  // 0: Q4_K, 1: Q5_K, 2: Q6_K
void gemm_k(int64_t n, const void* w, int64_t w_row_bytes, int64_t num_rows, const void* packed, int64_t num_tokens,
            float* y, int64_t y_stride) {
    constexpr int kBytes = kKind == 0 ? 144 : (kKind == 1 ? 176 : 210);
    const int64_t num_blocks = n / kQK_K;
    const int64_t block_bytes = num_blocks * kSuperBlockBytes;
    const int64_t num_token_blocks = (num_tokens + kTok - 1) / kTok;
    const int64_t chunk_blocks = std::max<int64_t>(1, kChunkBytes / block_bytes);
    const uint8_t* wd = static_cast<const uint8_t*>(w);
    const uint8_t* pd = static_cast<const uint8_t*>(packed);
    Band band;
    // Accumulators of one band against every token block of the chunk: [chunk block][row][token].
    std::vector<float> acc_buffer(chunk_blocks * kBand * kTok);
    auto* acc = reinterpret_cast<float(*)[kBand][kTok]>(acc_buffer.data());
    for (int64_t tb0 = 0; tb0 < num_token_blocks; tb0 += chunk_blocks) {
        const int64_t tb1 = std::min(num_token_blocks, tb0 + chunk_blocks);
        for (int64_t r0 = 0; r0 < num_rows; r0 += kBand) {
            const int rows = static_cast<int>(std::min<int64_t>(kBand, num_rows - r0));
            std::fill(acc_buffer.begin(), acc_buffer.end(), 0.0f);
            for (int64_t b = 0; b < num_blocks; ++b) {
                // Each super-block of the band is unpacked once and used for every token block of the chunk.
                for (int r = 0; r < kBand; ++r) {
                    if (r >= rows) {
                        clear_row(band, r);
                        continue;
                    }
                    const uint8_t* blk = wd + (r0 + r) * w_row_bytes + b * kBytes;
                    if (b + 1 < num_blocks) _mm_prefetch(reinterpret_cast<const char*>(blk + kBytes), _MM_HINT_T0);
                    if constexpr (kKind == 2) {
                        unpack_q6_k_row(blk, band, r);
                    } else {
                        unpack_q4_k_row(blk, kKind == 1, band, r);
                    }
                }
                for (int64_t tb = tb0; tb < tb1; ++tb) {
                    const uint8_t* sb = pd + tb * block_bytes + b * kSuperBlockBytes;
                    if constexpr (kKind == 2) {
                        band_super_block<16, 32, false>(band, sb, acc[tb - tb0]);
                    } else {
                        band_super_block<32, 0, true>(band, sb, acc[tb - tb0]);
                    }
                }
            }
            for (int64_t tb = tb0; tb < tb1; ++tb) {
                const int tokens = static_cast<int>(std::min<int64_t>(kTok, num_tokens - tb * kTok));
                for (int j = 0; j < tokens; ++j) {
                    for (int r = 0; r < rows; ++r) y[(tb * kTok + j) * y_stride + r0 + r] = acc[tb - tb0][r][j];
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Legacy 32-element formats against packed Q8_0 / Q8_1 activations. Per token block and 32-element block:
// codes[8 groups][16 tokens][4 bytes], d[16] (float), sum[16] (int32 sum of the block's levels), s[16] (float, the
// Q8_1 s = d * sum(q); zero for Q8_0).
constexpr int kLegacyCodesBytes = 8 * kTok * 4;
constexpr int kLegacyDOffset = kLegacyCodesBytes;
constexpr int kLegacySumOffset = kLegacyDOffset + kTok * 4;
constexpr int kLegacySOffset = kLegacySumOffset + kTok * 4;
constexpr int kLegacyBlockBytes = kLegacySOffset + kTok * 4;

template <bool kWithSum>
int64_t pack_q8_legacy(int64_t n, const void* x, int64_t x_row_bytes, int num_tokens, void* packed) {
    constexpr int kActBytes = kWithSum ? 36 : 34;
    constexpr int kQs = kWithSum ? 4 : 2;
    const int64_t num_blocks = n / 32;
    const int64_t bytes = num_blocks * kLegacyBlockBytes;
    if (packed == nullptr) return bytes;
    uint8_t* out = static_cast<uint8_t*>(packed);
    std::memset(out, 0, bytes);
    for (int j = 0; j < num_tokens; ++j) {
        const uint8_t* row = static_cast<const uint8_t*>(x) + j * x_row_bytes;
        for (int64_t b = 0; b < num_blocks; ++b) {
            const uint8_t* blk = row + b * kActBytes;
            uint8_t* pb = out + b * kLegacyBlockBytes;
            for (int g = 0; g < 8; ++g) std::memcpy(pb + (g * kTok + j) * 4, blk + kQs + 4 * g, 4);
            const float d = _cvtsh_ss(load_u16(blk));
            std::memcpy(pb + kLegacyDOffset + 4 * j, &d, 4);
            int32_t sum = 0;
            for (int e = 0; e < 32; ++e) sum += static_cast<int8_t>(blk[kQs + e]);
            std::memcpy(pb + kLegacySumOffset + 4 * j, &sum, 4);
            const float sx = kWithSum ? _cvtsh_ss(load_u16(blk + 2)) : 0.0f;
            std::memcpy(pb + kLegacySOffset + 4 * j, &sx, 4);
        }
    }
    return bytes;
}

// Weight block -> 32 unsigned levels (value = level - kOffset), scale and min. Mirrors the tile formats.
inline __m256i nibbles32(const uint8_t* qs) {
    const __m128i q = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
    return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(q, 4), q), _mm256_set1_epi8(0x0f));
}
inline __m256i fifth32(const uint8_t* qh) { return _mm256_maskz_mov_epi8(load_u32(qh), _mm256_set1_epi8(0x10)); }

struct GemmQ4_0 {
    static constexpr int kBytes = 18, kOffset = 8;
    static constexpr bool kHasMin = false;
    static __m256i levels(const uint8_t* b) { return nibbles32(b + 2); }
};
struct GemmQ4_1 {
    static constexpr int kBytes = 20, kOffset = 0;
    static constexpr bool kHasMin = true;
    static __m256i levels(const uint8_t* b) { return nibbles32(b + 4); }
};
struct GemmQ5_0 {
    static constexpr int kBytes = 22, kOffset = 16;
    static constexpr bool kHasMin = false;
    static __m256i levels(const uint8_t* b) { return _mm256_or_si256(nibbles32(b + 6), fifth32(b + 2)); }
};
struct GemmQ5_1 {
    static constexpr int kBytes = 24, kOffset = 0;
    static constexpr bool kHasMin = true;
    static __m256i levels(const uint8_t* b) { return _mm256_or_si256(nibbles32(b + 8), fifth32(b + 4)); }
};
struct GemmQ8_0 {  // signed weights biased to unsigned: w + 128 = w ^ 0x80
    static constexpr int kBytes = 34, kOffset = 128;
    static constexpr bool kHasMin = false;
    static __m256i levels(const uint8_t* b) {
        return _mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 2)), _mm256_set1_epi8(-128));
    }
};

template <typename F>
void gemm_legacy(int64_t n, const void* w, int64_t w_row_bytes, int64_t num_rows, const void* packed,
                 int64_t num_tokens, float* y, int64_t y_stride) {
    const int64_t num_blocks = n / 32;
    const int64_t block_bytes = num_blocks * kLegacyBlockBytes;
    const int64_t num_token_blocks = (num_tokens + kTok - 1) / kTok;
    const int64_t chunk_blocks = std::max<int64_t>(1, kChunkBytes / block_bytes);
    const uint8_t* wd = static_cast<const uint8_t*>(w);
    const uint8_t* pd = static_cast<const uint8_t*>(packed);
    alignas(64) uint8_t levels[kBand][32];
    float dw[kBand], mw[kBand];
    std::vector<float> acc_buffer(chunk_blocks * kBand * kTok);
    auto* acc = reinterpret_cast<float(*)[kBand][kTok]>(acc_buffer.data());
    for (int64_t tb0 = 0; tb0 < num_token_blocks; tb0 += chunk_blocks) {
        const int64_t tb1 = std::min(num_token_blocks, tb0 + chunk_blocks);
        for (int64_t r0 = 0; r0 < num_rows; r0 += kBand) {
            const int rows = static_cast<int>(std::min<int64_t>(kBand, num_rows - r0));
            std::fill(acc_buffer.begin(), acc_buffer.end(), 0.0f);
            for (int64_t b = 0; b < num_blocks; ++b) {
                for (int r = 0; r < kBand; ++r) {
                    if (r >= rows) {
                        std::memset(levels[r], 0, 32);
                        dw[r] = mw[r] = 0.0f;
                        continue;
                    }
                    const uint8_t* blk = wd + (r0 + r) * w_row_bytes + b * F::kBytes;
                    if ((b & 3) == 0) _mm_prefetch(reinterpret_cast<const char*>(blk + 8 * F::kBytes), _MM_HINT_T0);
                    _mm256_store_si256(reinterpret_cast<__m256i*>(levels[r]), F::levels(blk));
                    dw[r] = _cvtsh_ss(load_u16(blk));
                    mw[r] = F::kHasMin ? _cvtsh_ss(load_u16(blk + 2)) : 0.0f;
                }
                for (int64_t tb = tb0; tb < tb1; ++tb) {
                    const uint8_t* pb = pd + tb * block_bytes + b * kLegacyBlockBytes;
                    __m512i start = _mm512_setzero_si512();
                    if constexpr (F::kOffset != 0) {
                        start = _mm512_mullo_epi32(_mm512_loadu_si512(pb + kLegacySumOffset),
                                                   _mm512_set1_epi32(-F::kOffset));
                    }
                    __m512i a[kBand];
#pragma GCC unroll 8
                    for (int r = 0; r < kBand; ++r) a[r] = start;
#pragma GCC unroll 8
                    for (int g = 0; g < 8; ++g) {
                        const __m512i codes = _mm512_loadu_si512(pb + g * kTok * 4);
#pragma GCC unroll 8
                        for (int r = 0; r < kBand; ++r) {
                            a[r] = _mm512_dpbusd_epi32(a[r], _mm512_set1_epi32(static_cast<int>(load_u32(levels[r] + 4 * g))), codes);
                        }
                    }
                    const __m512 dx = _mm512_loadu_ps(pb + kLegacyDOffset);
                    __m512 sx;
                    if constexpr (F::kHasMin) sx = _mm512_loadu_ps(pb + kLegacySOffset);
                    float(*acc_tb)[kTok] = acc[tb - tb0];
#pragma GCC unroll 8
                    for (int r = 0; r < kBand; ++r) {
                        __m512 v = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(a[r]), _mm512_set1_ps(dw[r])), dx,
                                                   _mm512_loadu_ps(acc_tb[r]));
                        if constexpr (F::kHasMin) v = _mm512_fmadd_ps(_mm512_set1_ps(mw[r]), sx, v);
                        _mm512_storeu_ps(acc_tb[r], v);
                    }
                }
            }
            for (int64_t tb = tb0; tb < tb1; ++tb) {
                const int tokens = static_cast<int>(std::min<int64_t>(kTok, num_tokens - tb * kTok));
                for (int j = 0; j < tokens; ++j) {
                    for (int r = 0; r < rows; ++r) y[(tb * kTok + j) * y_stride + r0 + r] = acc[tb - tb0][r][j];
                }
            }
        }
    }
}

}  // namespace

void register_avx512_gemm(CpuKernels& k) {
    for (DType t : {DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) k.gemm_pack[static_cast<int>(t)] = &pack_q8_k;
    k.gemm[static_cast<int>(DType::kQ4_K)] = &gemm_k<0>;
    k.gemm[static_cast<int>(DType::kQ5_K)] = &gemm_k<1>;
    k.gemm[static_cast<int>(DType::kQ6_K)] = &gemm_k<2>;
    for (DType t : {DType::kQ4_0, DType::kQ5_0, DType::kQ8_0}) k.gemm_pack[static_cast<int>(t)] = &pack_q8_legacy<false>;
    for (DType t : {DType::kQ4_1, DType::kQ5_1}) k.gemm_pack[static_cast<int>(t)] = &pack_q8_legacy<true>;
    k.gemm[static_cast<int>(DType::kQ4_0)] = &gemm_legacy<GemmQ4_0>;
    k.gemm[static_cast<int>(DType::kQ4_1)] = &gemm_legacy<GemmQ4_1>;
    k.gemm[static_cast<int>(DType::kQ5_0)] = &gemm_legacy<GemmQ5_0>;
    k.gemm[static_cast<int>(DType::kQ5_1)] = &gemm_legacy<GemmQ5_1>;
    k.gemm[static_cast<int>(DType::kQ8_0)] = &gemm_legacy<GemmQ8_0>;
}

}  // namespace frugal
