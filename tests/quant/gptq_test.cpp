// BlockGrid: the affine grid read off each format's dequantizer reproduces the reference quantizer's bytes when
// fed its own values; rescale() keeps the integers and scales the values. GPTQ: on a layer whose inputs are
// strongly correlated, it reaches a lower output error than round-to-nearest on the same grid (an inequality that
// fails if the error feedback is wrong), and it writes valid blocks of the target type.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "quant/block_grid.h"
#include "quant/calibrate/activation_stats.h"
#include "quant/calibrate/gptq.h"
#include "quant/quant_traits.h"

namespace frugal {
namespace {

std::vector<float> random_row(int64_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v) x = dist(rng);
    return v;
}

class BlockGridTest : public ::testing::TestWithParam<DType> {};

TEST_P(BlockGridTest, SnappingTheReferenceValuesGivesTheReferenceBytes) {
    const DType type = GetParam();
    const int64_t n = 512;
    const std::vector<float> row = random_row(n, 7);
    BlockGrid grid(type, row.data(), n);
    const std::vector<uint8_t> reference = grid.bytes();
    std::vector<float> deq(static_cast<size_t>(n));
    grid.dequantize(deq.data());
    // Scramble the integers, then set each element from its reference value: the bytes must come back.
    for (int64_t j = 0; j < n; ++j) grid.set(j, grid.q_max());
    for (int64_t j = 0; j < n; ++j) {
        int q = 0;
        const float v = grid.snap(j, deq[static_cast<size_t>(j)], &q);
        EXPECT_NEAR(v, deq[static_cast<size_t>(j)], 1e-5f * (1.0f + std::fabs(v))) << j;
        grid.set(j, q);
    }
    EXPECT_EQ(grid.bytes(), reference);
    // Doubling the parameters doubles every value.
    grid.rescale(2.0f);
    std::vector<float> twice(static_cast<size_t>(n));
    grid.dequantize(twice.data());
    for (int64_t j = 0; j < n; ++j) {
        EXPECT_NEAR(twice[static_cast<size_t>(j)], 2.0f * deq[static_cast<size_t>(j)],
                    2e-3f * (1.0f + std::fabs(deq[static_cast<size_t>(j)])));
    }
}

INSTANTIATE_TEST_SUITE_P(Types, BlockGridTest,
                         ::testing::Values(DType::kQ4_0, DType::kQ5_0, DType::kQ8_0, DType::kQ4_K, DType::kQ5_K,
                                           DType::kQ6_K),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// Output error sum over calibration inputs of ||(W - Wq) x||^2, for a quantized matrix in `type`.
double output_error(DType type, const std::vector<float>& w, const std::vector<uint8_t>& q, int64_t rows, int64_t cols,
                    const std::vector<float>& xs, int64_t n) {
    const auto row_bytes = static_cast<size_t>(dtype_row_bytes(type, cols));
    std::vector<float> deq(static_cast<size_t>(cols));
    double err = 0;
    for (int64_t r = 0; r < rows; ++r) {
        quant_traits(type).dequantize_row(q.data() + static_cast<size_t>(r) * row_bytes, deq.data(), cols);
        for (int64_t t = 0; t < n; ++t) {
            double e = 0;
            for (int64_t j = 0; j < cols; ++j) {
                e += (static_cast<double>(w[static_cast<size_t>(r * cols + j)]) - deq[static_cast<size_t>(j)]) *
                     xs[static_cast<size_t>(t * cols + j)];
            }
            err += e * e;
        }
    }
    return err;
}

class GptqTest : public ::testing::TestWithParam<DType> {};

TEST_P(GptqTest, LowersTheOutputErrorBelowRoundToNearest) {
    const DType type = GetParam();
    const int64_t rows = 16, cols = 256, n = 512;
    const std::vector<float> w = random_row(rows * cols, 3);
    // Correlated inputs: a few shared factors plus noise, with a handful of strong channels (as real activations).
    std::mt19937 rng(5);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> factors(8 * static_cast<size_t>(cols));
    for (float& f : factors) f = dist(rng);
    std::vector<float> xs(static_cast<size_t>(n * cols));
    for (int64_t t = 0; t < n; ++t) {
        float z[8];
        for (float& v : z) v = dist(rng);
        for (int64_t j = 0; j < cols; ++j) {
            float v = 0.3f * dist(rng);
            for (int k = 0; k < 8; ++k) v += z[k] * factors[static_cast<size_t>(k * cols + j)];
            xs[static_cast<size_t>(t * cols + j)] = v * (j % 37 == 0 ? 8.0f : 1.0f);
        }
    }
    WeightInputStats stats;
    stats.in_dim = cols;
    stats.add(xs.data(), n, /*with_hessian=*/true);
    ASSERT_EQ(stats.count, n);
    const auto row_bytes = static_cast<size_t>(dtype_row_bytes(type, cols));
    std::vector<uint8_t> rtn(row_bytes * rows), gptq(row_bytes * rows);
    for (int64_t r = 0; r < rows; ++r) {
        quant_traits(type).quantize_row(w.data() + r * cols, rtn.data() + static_cast<size_t>(r) * row_bytes, cols);
    }
    ThreadPool pool(2);
    ASSERT_TRUE(gptq_quantize(type, w.data(), rows, cols, stats.hessian, GptqOptions{}, gptq.data(), &pool).ok());
    const double e_rtn = output_error(type, w, rtn, rows, cols, xs, n);
    const double e_gptq = output_error(type, w, gptq, rows, cols, xs, n);
    EXPECT_LT(e_gptq, 0.8 * e_rtn) << "rtn " << e_rtn << " gptq " << e_gptq;
    // Without act-order too, and a wrong-sized Hessian is an error.
    GptqOptions natural;
    natural.act_order = false;
    ASSERT_TRUE(gptq_quantize(type, w.data(), rows, cols, stats.hessian, natural, gptq.data(), &pool).ok());
    EXPECT_LT(output_error(type, w, gptq, rows, cols, xs, n), e_rtn);
    EXPECT_FALSE(gptq_quantize(type, w.data(), rows, cols, std::vector<double>(10), natural, gptq.data(), &pool).ok());
}

INSTANTIATE_TEST_SUITE_P(Types, GptqTest, ::testing::Values(DType::kQ4_0, DType::kQ4_K, DType::kQ5_K, DType::kQ8_0),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace frugal
