// Hand-built blocks with known bits -> exact dequantized values, checked against the GGUF formulas written out
// independently here (and a few values worked out by hand).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "core/half.h"
#include "quant/block_formats.h"
#include "quant/quant_traits.h"

namespace frugal {
namespace {

template <typename Block>
std::vector<float> dequantize_block(DType t, const Block& b) {
    const int64_t n = dtype_layout(t).block_size;
    EXPECT_EQ(dtype_layout(t).block_bytes, static_cast<int64_t>(sizeof(Block)));
    std::vector<float> out(n);
    quant_traits(t).dequantize_row(&b, out.data(), n);
    return out;
}

TEST(DequantizeTest, Q4_0) {
    BlockQ4_0 b{};
    b.d = fp32_to_fp16(0.5f);
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    const std::vector<float> y = dequantize_block(DType::kQ4_0, b);
    for (int j = 0; j < 16; ++j) {
        EXPECT_EQ(y[j], (j - 8) * 0.5f);
        EXPECT_EQ(y[j + 16], (15 - j - 8) * 0.5f);
    }
    EXPECT_EQ(y[0], -4.0f);
    EXPECT_EQ(y[16], 3.5f);
}

TEST(DequantizeTest, Q4_1) {
    BlockQ4_1 b{};
    b.d = fp32_to_fp16(0.25f);
    b.m = fp32_to_fp16(-1.0f);
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(j | ((15 - j) << 4));
    const std::vector<float> y = dequantize_block(DType::kQ4_1, b);
    for (int j = 0; j < 16; ++j) {
        EXPECT_EQ(y[j], j * 0.25f - 1.0f);
        EXPECT_EQ(y[j + 16], (15 - j) * 0.25f - 1.0f);
    }
    EXPECT_EQ(y[16], 2.75f);
}

TEST(DequantizeTest, Q5_0) {
    BlockQ5_0 b{};
    b.d = fp32_to_fp16(2.0f);
    const uint32_t qh = 0xa5a5f00fu;
    std::memcpy(b.qh, &qh, 4);
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(((j * 3) & 15) | (((j * 5 + 1) & 15) << 4));
    const std::vector<float> y = dequantize_block(DType::kQ5_0, b);
    for (int j = 0; j < 16; ++j) {
        const int q0 = ((j * 3) & 15) | (((qh >> j) & 1) << 4);
        const int q1 = ((j * 5 + 1) & 15) | (((qh >> (j + 16)) & 1) << 4);
        EXPECT_EQ(y[j], (q0 - 16) * 2.0f);
        EXPECT_EQ(y[j + 16], (q1 - 16) * 2.0f);
    }
    EXPECT_EQ(y[0], 2.0f * (16 - 16));  // qh bit 0 set, low nibble 0 -> q = 16
    EXPECT_EQ(y[4], 2.0f * (12 - 16));  // qh bit 4 clear, low nibble 12
}

TEST(DequantizeTest, Q5_1) {
    BlockQ5_1 b{};
    b.d = fp32_to_fp16(0.5f);
    b.m = fp32_to_fp16(3.0f);
    const uint32_t qh = 0x0ff0c3a5u;
    std::memcpy(b.qh, &qh, 4);
    for (int j = 0; j < 16; ++j) b.qs[j] = static_cast<uint8_t>(((j * 7) & 15) | (((j + 9) & 15) << 4));
    const std::vector<float> y = dequantize_block(DType::kQ5_1, b);
    for (int j = 0; j < 16; ++j) {
        const int q0 = ((j * 7) & 15) | (((qh >> j) & 1) << 4);
        const int q1 = ((j + 9) & 15) | (((qh >> (j + 16)) & 1) << 4);
        EXPECT_EQ(y[j], q0 * 0.5f + 3.0f);
        EXPECT_EQ(y[j + 16], q1 * 0.5f + 3.0f);
    }
    EXPECT_EQ(y[0], 16 * 0.5f + 3.0f);  // qh bit 0 set
}

TEST(DequantizeTest, Q8_0AndQ8_1) {
    BlockQ8_0 b{};
    b.d = fp32_to_fp16(0.125f);
    for (int j = 0; j < 32; ++j) b.qs[j] = static_cast<int8_t>(j * 8 - 128);
    const std::vector<float> y = dequantize_block(DType::kQ8_0, b);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(y[j], (j * 8 - 128) * 0.125f);

    BlockQ8_1 c{};
    c.d = fp32_to_fp16(-0.5f);
    c.s = fp32_to_fp16(123.0f);  // s does not take part in dequantization
    for (int j = 0; j < 32; ++j) c.qs[j] = static_cast<int8_t>(127 - j);
    const std::vector<float> z = dequantize_block(DType::kQ8_1, c);
    for (int j = 0; j < 32; ++j) EXPECT_EQ(z[j], (127 - j) * -0.5f);
}

// Packs 6-bit scales and mins the way GGUF lays them out (written out independently of quant_math.h).
void pack_k_scales(const int* sc, const int* m, uint8_t* q) {
    for (int j = 0; j < 4; ++j) {
        q[j] = static_cast<uint8_t>((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        q[j + 4] = static_cast<uint8_t>((m[j] & 63) | ((m[j + 4] >> 4) << 6));
        q[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
    }
}

constexpr int kScales[8] = {1, 17, 63, 32, 48, 5, 60, 33};
constexpr int kMins[8] = {63, 0, 20, 47, 16, 61, 2, 31};

// Nibble of element e: elements 64c..64c+31 are low nibbles of qs[32c..32c+31], 64c+32.. the high nibbles.
int test_nibble(int e) { return (e * 7 + 3) & 15; }

TEST(DequantizeTest, Q4_K) {
    BlockQ4_K b{};
    b.d = fp32_to_fp16(0.5f);
    b.dmin = fp32_to_fp16(0.25f);
    pack_k_scales(kScales, kMins, b.scales);
    for (int c = 0; c < 4; ++c) {
        for (int l = 0; l < 32; ++l) {
            b.qs[32 * c + l] = static_cast<uint8_t>(test_nibble(64 * c + l) | (test_nibble(64 * c + 32 + l) << 4));
        }
    }
    const std::vector<float> y = dequantize_block(DType::kQ4_K, b);
    for (int e = 0; e < 256; ++e) {
        const int j = e / 32;
        EXPECT_EQ(y[e], 0.5f * kScales[j] * test_nibble(e) - 0.25f * kMins[j]) << e;
    }
    // By hand: element 0 has nibble 3, scale 1, min 63 -> 0.5 * 3 - 0.25 * 63; element 200 (sub-block 6: scale 60,
    // min 2) has nibble (1403 & 15) = 11 -> 0.5 * 60 * 11 - 0.5.
    EXPECT_EQ(y[0], 1.5f - 15.75f);
    EXPECT_EQ(y[200], 329.5f);
}

TEST(DequantizeTest, Q5_K) {
    BlockQ5_K b{};
    b.d = fp32_to_fp16(0.125f);
    b.dmin = fp32_to_fp16(1.0f);
    pack_k_scales(kScales, kMins, b.scales);
    auto high_bit = [](int e) { return ((e * 13) >> 3) & 1; };
    for (int c = 0; c < 4; ++c) {
        for (int l = 0; l < 32; ++l) {
            b.qs[32 * c + l] = static_cast<uint8_t>(test_nibble(64 * c + l) | (test_nibble(64 * c + 32 + l) << 4));
        }
    }
    // The fifth bit of element e sits in qh[e % 32], bit e / 32.
    for (int e = 0; e < 256; ++e) b.qh[e % 32] |= static_cast<uint8_t>(high_bit(e) << (e / 32));
    const std::vector<float> y = dequantize_block(DType::kQ5_K, b);
    for (int e = 0; e < 256; ++e) {
        const int j = e / 32;
        const int q = test_nibble(e) + 16 * high_bit(e);
        EXPECT_EQ(y[e], 0.125f * kScales[j] * q - 1.0f * kMins[j]) << e;
    }
}

TEST(DequantizeTest, Q6_K) {
    BlockQ6_K b{};
    b.d = fp32_to_fp16(0.0625f);
    for (int j = 0; j < 16; ++j) b.scales[j] = static_cast<int8_t>(j * 17 - 128 + (j == 15 ? 0 : 1));
    auto level = [](int e) { return (e * 37 + 11) & 63; };  // stored 6-bit level; value is level - 32
    // Element e = 128h + 32k + l: low 4 bits in ql[64h + l + 32(k%2)] (high nibble for k >= 2), top 2 bits in
    // qh[32h + l] at bits 2k.
    for (int e = 0; e < 256; ++e) {
        const int h = e / 128, k = (e % 128) / 32, l = e % 32;
        const int q = level(e);
        b.ql[64 * h + l + 32 * (k % 2)] |= static_cast<uint8_t>((q & 15) << (k >= 2 ? 4 : 0));
        b.qh[32 * h + l] |= static_cast<uint8_t>((q >> 4) << (2 * k));
    }
    const std::vector<float> y = dequantize_block(DType::kQ6_K, b);
    for (int e = 0; e < 256; ++e) {
        EXPECT_EQ(y[e], 0.0625f * b.scales[e / 16] * (level(e) - 32)) << e;
    }
    // By hand: element 0 has level 11 and scale -127 -> 0.0625 * -127 * -21.
    EXPECT_EQ(y[0], 166.6875f);
}

TEST(DequantizeTest, Q8_K) {
    BlockQ8_K b{};
    b.d = 0.001f;
    for (int e = 0; e < 256; ++e) b.qs[e] = static_cast<int8_t>(e - 128);
    const std::vector<float> y = dequantize_block(DType::kQ8_K, b);
    for (int e = 0; e < 256; ++e) EXPECT_EQ(y[e], 0.001f * (e - 128));
}

TEST(DequantizeTest, FloatTypes) {
    const float f[4] = {1.5f, -0.0f, 65504.0f, 3.0e-8f};
    std::vector<float> out(4);
    quant_traits(DType::kF32).dequantize_row(f, out.data(), 4);
    for (int i = 0; i < 4; ++i) EXPECT_EQ(std::memcmp(&out[i], &f[i], 4), 0);

    const uint16_t h[4] = {0x3e00, 0x8000, 0x7bff, 0x0001};
    quant_traits(DType::kF16).dequantize_row(h, out.data(), 4);
    EXPECT_EQ(out[0], 1.5f);
    EXPECT_TRUE(std::signbit(out[1]) && out[1] == 0.0f);
    EXPECT_EQ(out[2], 65504.0f);
    EXPECT_EQ(out[3], std::ldexp(1.0f, -24));

    const uint16_t bf[2] = {0x3fc0, 0xc2f7};
    quant_traits(DType::kBF16).dequantize_row(bf, out.data(), 2);
    EXPECT_EQ(out[0], 1.5f);
    EXPECT_EQ(out[1], -123.5f);
}

TEST(QuantTraitsTest, VecDotTypes) {
    EXPECT_EQ(quant_traits(DType::kQ4_0).vec_dot_type, DType::kQ8_0);
    EXPECT_EQ(quant_traits(DType::kQ5_0).vec_dot_type, DType::kQ8_0);
    EXPECT_EQ(quant_traits(DType::kQ8_0).vec_dot_type, DType::kQ8_0);
    EXPECT_EQ(quant_traits(DType::kQ4_1).vec_dot_type, DType::kQ8_1);
    EXPECT_EQ(quant_traits(DType::kQ5_1).vec_dot_type, DType::kQ8_1);
    EXPECT_EQ(quant_traits(DType::kQ4_K).vec_dot_type, DType::kQ8_K);
    EXPECT_EQ(quant_traits(DType::kQ5_K).vec_dot_type, DType::kQ8_K);
    EXPECT_EQ(quant_traits(DType::kQ6_K).vec_dot_type, DType::kQ8_K);
    EXPECT_EQ(quant_traits(DType::kF16).vec_dot_type, DType::kF32);
    EXPECT_EQ(quant_traits(DType::kBF16).vec_dot_type, DType::kF32);
    EXPECT_FALSE(has_quant_traits(DType::kQ2_K));
    EXPECT_FALSE(has_quant_traits(DType::kI32));
}

}  // namespace
}  // namespace frugal
