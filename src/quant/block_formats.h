// Quantized block layouts, byte-for-byte as GGUF/ggml stores them. Each block holds block_size consecutive
// elements of one row; "d" is the scale (half precision unless noted), "m"/"dmin" the offset.
#pragma once

#include <cstdint>

namespace frugal {

inline constexpr int kQK4_0 = 32;  // elements per legacy block (Q4_0 .. Q8_1)
inline constexpr int kQK_K = 256;  // elements per K-quant super-block
inline constexpr int kKScaleBytes = 12;

#pragma pack(push, 1)
struct BlockQ4_0 {  // x = d * (q - 8); low nibbles hold elements 0..15, high nibbles 16..31
    uint16_t d;
    uint8_t qs[kQK4_0 / 2];
};
struct BlockQ4_1 {  // x = d * q + m
    uint16_t d;
    uint16_t m;
    uint8_t qs[kQK4_0 / 2];
};
struct BlockQ5_0 {  // x = d * (q - 16); bit 4 of element j is bit j of qh
    uint16_t d;
    uint8_t qh[4];
    uint8_t qs[kQK4_0 / 2];
};
struct BlockQ5_1 {  // x = d * q + m
    uint16_t d;
    uint16_t m;
    uint8_t qh[4];
    uint8_t qs[kQK4_0 / 2];
};
struct BlockQ8_0 {  // x = d * q
    uint16_t d;
    int8_t qs[kQK4_0];
};
struct BlockQ8_1 {  // x = d * q; s = d * sum(q), used as the activation format for Q4_1/Q5_1
    uint16_t d;
    uint16_t s;
    int8_t qs[kQK4_0];
};
// Q4_K: 8 sub-blocks of 32; 6-bit scale and min per sub-block packed in scales[12]; x = d*sc*q - dmin*m.
struct BlockQ4_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[kKScaleBytes];
    uint8_t qs[kQK_K / 2];
};
// Q5_K: as Q4_K with a fifth bit per element in qh.
struct BlockQ5_K {
    uint16_t d;
    uint16_t dmin;
    uint8_t scales[kKScaleBytes];
    uint8_t qh[kQK_K / 8];
    uint8_t qs[kQK_K / 2];
};
// Q6_K: 16 sub-blocks of 16 with int8 scales; x = d * scale * (q - 32), q = 4 low bits (ql) + 2 high bits (qh).
struct BlockQ6_K {
    uint8_t ql[kQK_K / 2];
    uint8_t qh[kQK_K / 4];
    int8_t scales[kQK_K / 16];
    uint16_t d;
};
// Q8_K: activation format for K-quant dot products; float scale and per-16 sums of q.
struct BlockQ8_K {
    float d;
    int8_t qs[kQK_K];
    int16_t bsums[kQK_K / 16];
};
#pragma pack(pop)

static_assert(sizeof(BlockQ4_0) == 18);
static_assert(sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ5_0) == 22);
static_assert(sizeof(BlockQ5_1) == 24);
static_assert(sizeof(BlockQ8_0) == 34);
static_assert(sizeof(BlockQ8_1) == 36);
static_assert(sizeof(BlockQ4_K) == 144);
static_assert(sizeof(BlockQ5_K) == 176);
static_assert(sizeof(BlockQ6_K) == 210);
static_assert(sizeof(BlockQ8_K) == 292);

}  // namespace frugal
