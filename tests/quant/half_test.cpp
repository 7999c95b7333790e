#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>

#include "core/half.h"

namespace frugal {
namespace {

bool fp16_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }
bool bf16_is_nan(uint16_t h) { return (h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0; }

TEST(HalfTest, EveryFp16RoundTripsThroughFp32) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const uint16_t bits = static_cast<uint16_t>(h);
        const float f = fp16_to_fp32(bits);
        if (fp16_is_nan(bits)) {
            EXPECT_TRUE(std::isnan(f)) << std::hex << h;
            EXPECT_TRUE(fp16_is_nan(fp32_to_fp16(f))) << std::hex << h;
            continue;
        }
        ASSERT_EQ(fp32_to_fp16(f), bits) << "half 0x" << std::hex << h << " -> " << f;
    }
}

TEST(HalfTest, EveryBf16RoundTripsThroughFp32) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const uint16_t bits = static_cast<uint16_t>(h);
        const float f = bf16_to_fp32(bits);
        if (bf16_is_nan(bits)) {
            EXPECT_TRUE(bf16_is_nan(fp32_to_bf16(f))) << std::hex << h;
            continue;
        }
        ASSERT_EQ(fp32_to_bf16(f), bits) << "bf16 0x" << std::hex << h;
    }
}

TEST(HalfTest, Fp16RoundsToNearestEven) {
    EXPECT_EQ(fp32_to_fp16(1.0f), 0x3c00);
    EXPECT_EQ(fp32_to_fp16(-2.0f), 0xc000);
    EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);                    // largest finite half
    EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);                    // halfway to the next binade rounds to inf
    EXPECT_EQ(fp32_to_fp16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie, even mantissa stays
    EXPECT_EQ(fp32_to_fp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie, odd mantissa rounds up
    EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -24)), 0x0001);           // smallest subnormal
    EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);           // tie between 0 and 1 ulp: even
    EXPECT_EQ(fp32_to_fp16(3 * std::ldexp(1.0f, -25)), 0x0002);       // tie between 1 and 2 ulp: even
    EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -14)), 0x0400);           // smallest normal
}

TEST(HalfTest, Bf16RoundsToNearestEven) {
    EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
    EXPECT_EQ(fp32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);      // tie, even stays
    EXPECT_EQ(fp32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);  // tie, odd rounds up
    EXPECT_EQ(fp32_to_bf16(-3.0f), 0xc040);
}

}  // namespace
}  // namespace frugal
