// quantize -> dequantize error on Gaussian rows, and reference vec_dot against a double-precision dot of the
// dequantized operands. Thresholds are named per type; they sit a little above what ggml's quantizers reach, so a
// broken search (or a bit-layout slip) fails them.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/half.h"
#include "quant/block_formats.h"
#include "quant_test_util.h"

namespace frugal {
namespace {

using testing::dequantize;
using testing::quantize;
using testing::random_row;

struct RoundTripCase {
    DType dtype;
    double max_relative_rmse;  // RMSE(dequantize(quantize(x)) - x) / RMS(x), Gaussian x
};

// Measured with these quantizers on 16 rows of 4096 Gaussian values: F16 0.00021, BF16 0.0017, Q8_0/Q8_1 0.0053,
// Q8_K 0.0069, Q4_0 0.086, Q4_1 0.078, Q5_0 0.042, Q5_1 0.038, Q4_K 0.071, Q5_K 0.036, Q6_K 0.0177. Bounds are
// 5-10% above, so a weaker scale search (plain min/max for Q4_K reaches 0.078) fails.
constexpr RoundTripCase kRoundTripCases[] = {
    {DType::kF32, 0.0},      {DType::kF16, 2.3e-4},   {DType::kBF16, 1.9e-3},  {DType::kQ8_0, 5.9e-3},
    {DType::kQ8_1, 5.9e-3},  {DType::kQ8_K, 7.6e-3},  {DType::kQ4_0, 0.095},   {DType::kQ4_1, 0.086},
    {DType::kQ5_0, 0.047},   {DType::kQ5_1, 0.042},   {DType::kQ4_K, 0.075},   {DType::kQ5_K, 0.040},
    {DType::kQ6_K, 0.0195},
};

class RoundTripTest : public ::testing::TestWithParam<RoundTripCase> {};

TEST_P(RoundTripTest, RelativeRmseBelowBound) {
    const RoundTripCase c = GetParam();
    constexpr int64_t kN = 4096;
    double err2 = 0.0, ref2 = 0.0;
    for (uint32_t seed = 1; seed <= 16; ++seed) {
        // Vary the scale so fp16 scales see a range of exponents.
        const std::vector<float> x = random_row(kN, seed, std::ldexp(1.0f, static_cast<int>(seed % 7) - 3));
        const std::vector<float> y = dequantize(c.dtype, quantize(c.dtype, x), kN);
        double e2 = 0.0, r2 = 0.0;
        for (int64_t i = 0; i < kN; ++i) {
            ASSERT_TRUE(std::isfinite(y[i])) << i;
            e2 += (static_cast<double>(y[i]) - x[i]) * (static_cast<double>(y[i]) - x[i]);
            r2 += static_cast<double>(x[i]) * x[i];
        }
        err2 += e2 / r2;
        ref2 += 1.0;
    }
    const double rel = std::sqrt(err2 / ref2);
    RecordProperty("relative_rmse", std::to_string(rel));
    EXPECT_LE(rel, c.max_relative_rmse) << dtype_name(c.dtype);
}

TEST_P(RoundTripTest, ZeroRowStaysZero) {
    const RoundTripCase c = GetParam();
    const std::vector<float> x(512, 0.0f);
    const std::vector<float> y = dequantize(c.dtype, quantize(c.dtype, x), 512);
    for (float v : y) EXPECT_EQ(v, 0.0f);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, RoundTripTest, ::testing::ValuesIn(kRoundTripCases),
                         [](const auto& info) { return std::string(dtype_name(info.param.dtype)); });

// Quantizing a row that is already exactly representable must give it back unchanged.
TEST(RoundTripTest, RepresentableRowsAreExact) {
    // Q8_0: integers -127..127 times a power-of-two scale, with amax 127 in every block.
    std::vector<float> x(256);
    for (int i = 0; i < 256; ++i) x[i] = (i % 32 == 0 ? 127 : (i * 37) % 255 - 127) * 0.25f;
    EXPECT_EQ(dequantize(DType::kQ8_0, quantize(DType::kQ8_0, x), 256), x);
    // Q4_0: (q - 8) * d with the most negative level -8 present in each block (so d = max / -8).
    for (int i = 0; i < 256; ++i) x[i] = (i % 32 == 5 ? -8 : (i * 5) % 15 - 7) * 0.5f;
    EXPECT_EQ(dequantize(DType::kQ4_0, quantize(DType::kQ4_0, x), 256), x);
}

struct VecDotCase {
    DType dtype;
    double max_relative_error;  // |vec_dot - exact| / sum |w_i x_i| over dequantized operands
};

// The reference dots are exact integer sums scaled in float; what remains is float rounding of the per-block
// scale products and, for Q4_1 / Q5_1, the fp16-rounded activation sum s = d * sum(q).
constexpr VecDotCase kVecDotCases[] = {
    {DType::kF32, 1e-6},  {DType::kF16, 1e-6},  {DType::kBF16, 1e-6}, {DType::kQ4_0, 1e-5},
    {DType::kQ4_1, 2e-3}, {DType::kQ5_0, 1e-5}, {DType::kQ5_1, 2e-3}, {DType::kQ8_0, 1e-5},
    {DType::kQ4_K, 1e-5}, {DType::kQ5_K, 1e-5}, {DType::kQ6_K, 1e-5},
};

class VecDotTest : public ::testing::TestWithParam<VecDotCase> {};

TEST_P(VecDotTest, MatchesDotOfDequantizedOperands) {
    const VecDotCase c = GetParam();
    const QuantTraits& wt = quant_traits(c.dtype);
    for (int64_t n : {256, 2048, 4352}) {
        for (uint32_t seed = 1; seed <= 4; ++seed) {
            const std::vector<uint8_t> w = quantize(c.dtype, random_row(n, seed));
            const std::vector<uint8_t> x = quantize(wt.vec_dot_type, random_row(n, seed + 100, 3.0f));
            const std::vector<float> wf = dequantize(c.dtype, w, n);
            const std::vector<float> xf = dequantize(wt.vec_dot_type, x, n);
            double exact = 0.0, magnitude = 0.0;
            for (int64_t i = 0; i < n; ++i) {
                exact += static_cast<double>(wf[i]) * xf[i];
                magnitude += std::fabs(static_cast<double>(wf[i]) * xf[i]);
            }
            const float got = wt.vec_dot(n, w.data(), x.data());
            EXPECT_LE(std::fabs(got - exact), c.max_relative_error * magnitude)
                << dtype_name(c.dtype) << " n=" << n << " seed=" << seed << " got " << got << " exact " << exact;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(AllWeightTypes, VecDotTest, ::testing::ValuesIn(kVecDotCases),
                         [](const auto& info) { return std::string(dtype_name(info.param.dtype)); });

TEST(VecDotTest, Q8_KBlockSumsMatchQuants) {
    const std::vector<float> x = random_row(512, 7);
    const std::vector<uint8_t> q = quantize(DType::kQ8_K, x);
    const BlockQ8_K* b = reinterpret_cast<const BlockQ8_K*>(q.data());
    for (int i = 0; i < 2; ++i) {
        for (int j = 0; j < 16; ++j) {
            int sum = 0;
            for (int l = 0; l < 16; ++l) sum += b[i].qs[16 * j + l];
            EXPECT_EQ(b[i].bsums[j], sum);
        }
    }
}

TEST(VecDotTest, Q8_1SumIsScaledQuantSum) {
    const std::vector<float> x = random_row(256, 9);
    const std::vector<uint8_t> q = quantize(DType::kQ8_1, x);
    const BlockQ8_1* b = reinterpret_cast<const BlockQ8_1*>(q.data());
    for (int i = 0; i < 8; ++i) {
        int sum = 0;
        for (int l = 0; l < 32; ++l) sum += b[i].qs[l];
        // s is rounded from sum * d with the unrounded float d, so allow fp16 rounding of both.
        const float expected = static_cast<float>(sum) * fp16_to_fp32(b[i].d);
        EXPECT_NEAR(fp16_to_fp32(b[i].s), expected, std::fabs(expected) * 2e-3f + 1e-6f);
    }
}

}  // namespace
}  // namespace frugal
