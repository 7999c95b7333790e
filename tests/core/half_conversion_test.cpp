// fp16 and bf16 conversions against an independent model of IEEE rounding: the value of every half / bf16 bit
// pattern is decoded with ldexp, and the correctly rounded result of a float is found by looking up its two
// representable neighbours and comparing distances in double (ties to the even bit pattern). The converters
// under test use bit tricks; this model uses none, so a shared mistake is unlikely.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/half.h"

namespace frugal {
namespace {

bool fp16_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x3ff) != 0; }
bool bf16_is_nan(uint16_t h) { return (h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0; }

// Value of a half from its fields: subnormal m * 2^-24, normal (1024 + m) * 2^(e - 25).
double fp16_value(uint16_t h) {
    const int e = (h >> 10) & 0x1f;
    const int m = h & 0x3ff;
    double v = 0;
    if (e == 31) {
        v = m == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
    } else if (e == 0) {
        v = std::ldexp(static_cast<double>(m), -24);
    } else {
        v = std::ldexp(static_cast<double>(1024 + m), e - 25);
    }
    return (h & 0x8000) ? -v : v;
}

// Value of a bf16 from its fields: subnormal m * 2^-133, normal (128 + m) * 2^(e - 134).
double bf16_value(uint16_t h) {
    const int e = (h >> 7) & 0xff;
    const int m = h & 0x7f;
    double v = 0;
    if (e == 255) {
        v = m == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
    } else if (e == 0) {
        v = std::ldexp(static_cast<double>(m), -133);
    } else {
        v = std::ldexp(static_cast<double>(128 + m), e - 134);
    }
    return (h & 0x8000) ? -v : v;
}

// Magnitudes of all finite non-negative encodings, ascending (bit order is value order for positive values),
// plus the virtual next value past the largest finite one: the rounding boundary to infinity lies halfway to it.
struct Grid {
    std::vector<double> values;  // values[b] = value of bit pattern b, for b in [0, num_finite]
    uint16_t inf_bits;
};

Grid make_grid(double (*value)(uint16_t), uint16_t inf_bits, double next_after_max) {
    Grid g;
    g.inf_bits = inf_bits;
    for (uint32_t b = 0; b < inf_bits; ++b) g.values.push_back(value(static_cast<uint16_t>(b)));
    g.values.push_back(next_after_max);
    return g;
}

// Correctly rounded (to nearest, ties to even) encoding of f on the grid, for finite f.
uint16_t round_on_grid(const Grid& g, float f) {
    const double a = std::fabs(static_cast<double>(f));
    const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
    // First grid value >= a.
    const auto it = std::lower_bound(g.values.begin(), g.values.end(), a);
    if (it == g.values.end()) return sign | g.inf_bits;  // beyond the virtual value: infinity
    const auto hi = static_cast<uint32_t>(it - g.values.begin());
    if (g.values[hi] == a) return static_cast<uint16_t>(sign | std::min<uint32_t>(hi, g.inf_bits));
    const uint32_t lo = hi - 1;
    const double dlo = a - g.values[lo];
    const double dhi = g.values[hi] - a;
    uint32_t pick = dlo < dhi ? lo : dhi < dlo ? hi : (lo % 2 == 0 ? lo : hi);
    return static_cast<uint16_t>(sign | std::min<uint32_t>(pick, g.inf_bits));
}

const Grid& fp16_grid() {
    static const Grid g = make_grid(fp16_value, 0x7c00, 65536.0);
    return g;
}
const Grid& bf16_grid() {
    static const Grid g = make_grid(bf16_value, 0x7f80, std::ldexp(1.0, 128));
    return g;
}

TEST(HalfConversionTest, EveryFp16DecodesToItsValue) {
    for (uint32_t b = 0; b < 65536; ++b) {
        const auto h = static_cast<uint16_t>(b);
        const float f = fp16_to_fp32(h);
        if (fp16_is_nan(h)) {
            ASSERT_TRUE(std::isnan(f)) << std::hex << b;
            ASSERT_EQ(std::signbit(f), (h & 0x8000) != 0) << "NaN sign, half 0x" << std::hex << b;
            continue;
        }
        ASSERT_EQ(static_cast<double>(f), fp16_value(h)) << "half 0x" << std::hex << b;
        ASSERT_EQ(std::signbit(f), (h & 0x8000) != 0) << "sign of half 0x" << std::hex << b;  // -0 stays -0
    }
}

TEST(HalfConversionTest, EveryFp16RoundTripsAndNaNsStayNaN) {
    for (uint32_t b = 0; b < 65536; ++b) {
        const auto h = static_cast<uint16_t>(b);
        const uint16_t back = fp32_to_fp16(fp16_to_fp32(h));
        if (fp16_is_nan(h)) {
            ASSERT_TRUE(fp16_is_nan(back)) << std::hex << b << " -> " << back;
            ASSERT_EQ(back & 0x8000, h & 0x8000) << "NaN sign, half 0x" << std::hex << b;
        } else {
            ASSERT_EQ(back, h) << "half 0x" << std::hex << b;
        }
    }
}

TEST(HalfConversionTest, Fp32ToFp16RoundsToNearestEvenOnMidpointsAndNeighbours) {
    const Grid& g = fp16_grid();
    int64_t checked = 0;
    // Every midpoint between adjacent halves (ties), and the floats one ulp on either side of it.
    for (uint32_t b = 0; b < 0x7c00; ++b) {
        const double mid = (g.values[b] + g.values[b + 1]) / 2;  // exact in double
        const auto fm = static_cast<float>(mid);                 // exact: halves have 11 significant bits
        ASSERT_EQ(static_cast<double>(fm), mid);
        for (float f : {fm, std::nextafter(fm, 0.0f), std::nextafter(fm, INFINITY), static_cast<float>(g.values[b])}) {
            for (float s : {f, -f}) {
                ASSERT_EQ(fp32_to_fp16(s), round_on_grid(g, s)) << "float " << s << " (0x" << std::hex
                                                                << f32_to_bits(s) << ")";
                ++checked;
            }
        }
    }
    EXPECT_GT(checked, 200000);
}

TEST(HalfConversionTest, Fp32ToFp16MatchesModelOnAStrideOfAllFloats) {
    const Grid& g = fp16_grid();
    // A prime stride visits every exponent and many mantissa patterns: ~17 million floats.
    for (uint64_t u = 0; u < (1ull << 32); u += 251) {
        const auto bits = static_cast<uint32_t>(u);
        const float f = bits_to_f32(bits);
        const uint16_t got = fp32_to_fp16(f);
        if (std::isnan(f)) {
            ASSERT_TRUE(fp16_is_nan(got)) << std::hex << bits;
            continue;
        }
        ASSERT_EQ(got, round_on_grid(g, f)) << "float bits 0x" << std::hex << bits << " = " << f;
    }
}

TEST(HalfConversionTest, Fp16ChosenValues) {
    EXPECT_EQ(fp32_to_fp16(0.0f), 0x0000);
    EXPECT_EQ(fp32_to_fp16(-0.0f), 0x8000);
    EXPECT_EQ(fp32_to_fp16(1.0f), 0x3c00);
    EXPECT_EQ(fp32_to_fp16(0.1f), 0x2e66);
    EXPECT_EQ(fp32_to_fp16(65504.0f), 0x7bff);
    EXPECT_EQ(fp32_to_fp16(65519.99f), 0x7bff);  // just below the boundary to infinity
    EXPECT_EQ(fp32_to_fp16(65520.0f), 0x7c00);   // the tie rounds to even: infinity
    EXPECT_EQ(fp32_to_fp16(1e10f), 0x7c00);
    EXPECT_EQ(fp32_to_fp16(-INFINITY), 0xfc00);
    EXPECT_EQ(fp32_to_fp16(2049.0f), 0x6800);    // tie between 2048 (even) and 2050
    EXPECT_EQ(fp32_to_fp16(2051.0f), 0x6802);    // tie between 2050 (odd) and 2052 (even)
    EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -24)), 0x0001);
    EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -26)), 0x0000);  // below half the smallest subnormal
    EXPECT_EQ(fp32_to_fp16(std::ldexp(1.5f, -24)), 0x0002);  // tie between 1 and 2 ulp: even
    EXPECT_EQ(fp32_to_fp16(std::ldexp(1.0f, -14) - std::ldexp(1.0f, -25)), 0x0400);  // rounds up into normals
    EXPECT_EQ(fp32_to_fp16(std::numeric_limits<float>::denorm_min()), 0x0000);
    EXPECT_TRUE(fp16_is_nan(fp32_to_fp16(std::numeric_limits<float>::quiet_NaN())));
    // A NaN whose payload lives only in the low 13 bits must not become infinity.
    EXPECT_TRUE(fp16_is_nan(fp32_to_fp16(bits_to_f32(0x7f800001u))));
    EXPECT_TRUE(fp16_is_nan(fp32_to_fp16(bits_to_f32(0xff800001u))));
}

TEST(HalfConversionTest, EveryBf16DecodesAndRoundTrips) {
    for (uint32_t b = 0; b < 65536; ++b) {
        const auto h = static_cast<uint16_t>(b);
        const float f = bf16_to_fp32(h);
        const uint16_t back = fp32_to_bf16(f);
        if (bf16_is_nan(h)) {
            ASSERT_TRUE(std::isnan(f)) << std::hex << b;
            ASSERT_TRUE(bf16_is_nan(back)) << std::hex << b;
            ASSERT_EQ(back & 0x8000, h & 0x8000) << std::hex << b;
            continue;
        }
        ASSERT_EQ(static_cast<double>(f), bf16_value(h)) << "bf16 0x" << std::hex << b;
        ASSERT_EQ(back, h) << "bf16 0x" << std::hex << b;
    }
}

TEST(HalfConversionTest, Fp32ToBf16RoundsToNearestEven) {
    const Grid& g = bf16_grid();
    // Ties and their neighbours for every bf16 value (the midpoint is the float with bit 15 set).
    for (uint32_t b = 0; b < 0x7f80; ++b) {
        const uint32_t mid_bits = (b << 16) | 0x8000;
        for (uint32_t bits : {mid_bits, mid_bits - 1, mid_bits + 1, b << 16}) {
            for (uint32_t s : {0u, 0x80000000u}) {
                const float f = bits_to_f32(bits | s);
                ASSERT_EQ(fp32_to_bf16(f), round_on_grid(g, f)) << "float bits 0x" << std::hex << (bits | s);
            }
        }
    }
    for (uint64_t u = 0; u < (1ull << 32); u += 509) {
        const float f = bits_to_f32(static_cast<uint32_t>(u));
        if (std::isnan(f)) {
            ASSERT_TRUE(bf16_is_nan(fp32_to_bf16(f))) << std::hex << u;
            continue;
        }
        ASSERT_EQ(fp32_to_bf16(f), round_on_grid(g, f)) << "float bits 0x" << std::hex << u;
    }
    // NaNs whose payload is only in the low 16 bits stay NaN (truncation alone would make them infinity).
    EXPECT_TRUE(bf16_is_nan(fp32_to_bf16(bits_to_f32(0x7f800001u))));
    EXPECT_TRUE(bf16_is_nan(fp32_to_bf16(bits_to_f32(0xffff0000u | 0x1u))));
    EXPECT_EQ(fp32_to_bf16(std::numeric_limits<float>::max()), 0x7f80);  // rounds up to infinity
    EXPECT_EQ(fp32_to_bf16(1.0f), 0x3f80);
}

}  // namespace
}  // namespace frugal
