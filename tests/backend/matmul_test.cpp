// CpuMatmul and the CPU kernel tables: every weight dtype x every ISA variant this CPU runs x shapes x thread
// counts, against a double-precision reference over the dequantized weights and the dequantized *quantized*
// activations (so only float rounding differs). Checks error bounds, NaNs, that every output is written, and guard
// regions around y for out-of-bounds writes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/matmul.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "quant/block_formats.h"
#include "quant/quant_traits.h"

namespace frugal {
namespace {

constexpr uint32_t kPoisonBits = 0x7fc0dead;  // a NaN no kernel produces
constexpr int64_t kGuardFloats = 64;

std::vector<CpuIsa> supported_isas() {
    std::vector<CpuIsa> isas;
    for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
        if (cpu_isa_supported(isa)) isas.push_back(isa);
    }
    return isas;
}

std::vector<float> random_floats(int64_t n, uint32_t seed, float scale) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(n);
    for (float& f : v) f = dist(rng);
    return v;
}

float poison() {
    float f;
    std::memcpy(&f, &kPoisonBits, 4);
    return f;
}
bool is_poison(float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u == kPoisonBits;
}

struct MatmulCase {
    DType dtype;
    // |y - exact| <= max_relative_error * sum_i |w_i x_i| + 1e-6: float rounding of per-block scale products and
    // sums; the _1 formats also carry the fp16-rounded activation sums s = d * sum(q) of Q8_1.
    double max_relative_error;
};

constexpr MatmulCase kCases[] = {
    {DType::kF32, 2e-6},  {DType::kF16, 2e-6},  {DType::kBF16, 2e-6}, {DType::kQ4_0, 1e-5},
    {DType::kQ4_1, 2e-3}, {DType::kQ5_0, 1e-5}, {DType::kQ5_1, 2e-3}, {DType::kQ8_0, 1e-5},
    {DType::kQ4_K, 1e-5}, {DType::kQ5_K, 1e-5}, {DType::kQ6_K, 1e-5},
};

constexpr int64_t kTokens[] = {1, 2, 5, 16, 67};
constexpr int64_t kInputs[] = {256, 512, 2048 + 256};
constexpr int64_t kOutputs[] = {1, 7, 64, 300};
constexpr int kThreadCounts[] = {1, 2, 3};

// Runs every supported ISA with every pool on one (dtype, in, out) weight matrix and each token count, against the
// dequantized double-precision reference; *seed advances so every matrix is different.
void expect_matmul_matches_reference(const MatmulCase& c, int64_t in, int64_t out, const std::vector<int64_t>& tokens,
                                     const std::vector<std::unique_ptr<ThreadPool>>& pools, uint32_t* seed) {
    const QuantTraits& wt = quant_traits(c.dtype);
    const QuantTraits& xt = quant_traits(wt.vec_dot_type);
    // Weights: quantized once; reference uses their dequantized values.
    const std::vector<float> wf = random_floats(in * out, (*seed)++, 0.5f);
    const int64_t w_row_bytes = dtype_row_bytes(c.dtype, in);
    std::vector<uint8_t> w(w_row_bytes * out);
    for (int64_t o = 0; o < out; ++o) wt.quantize_row(wf.data() + o * in, w.data() + o * w_row_bytes, in);
    std::vector<float> w_deq(in * out);
    for (int64_t o = 0; o < out; ++o) wt.dequantize_row(w.data() + o * w_row_bytes, w_deq.data() + o * in, in);

    for (int64_t n : tokens) {
        const std::vector<float> x = random_floats(in * n, (*seed)++, 2.0f);
        // Reference activations: what the matmul sees after quantizing x to vec_dot_type.
        const int64_t x_row_bytes = dtype_row_bytes(wt.vec_dot_type, in);
        std::vector<uint8_t> xq(x_row_bytes * n);
        std::vector<float> x_deq(in * n);
        for (int64_t t = 0; t < n; ++t) {
            xt.quantize_row(x.data() + t * in, xq.data() + t * x_row_bytes, in);
            xt.dequantize_row(xq.data() + t * x_row_bytes, x_deq.data() + t * in, in);
        }
        std::vector<double> exact(n * out), magnitude(n * out);
        for (int64_t t = 0; t < n; ++t) {
            for (int64_t o = 0; o < out; ++o) {
                double s = 0.0, m = 0.0;
                const float* wr = w_deq.data() + o * in;
                const float* xr = x_deq.data() + t * in;
                for (int64_t i = 0; i < in; ++i) {
                    s += static_cast<double>(wr[i]) * xr[i];
                    m += std::fabs(static_cast<double>(wr[i]) * xr[i]);
                }
                exact[t * out + o] = s;
                magnitude[t * out + o] = m;
            }
        }

        for (CpuIsa isa : supported_isas()) {
            CpuMatmul matmul(cpu_kernels(isa));
            for (const auto& pool : pools) {
                // Guard floats before and after y, all poisoned; y itself poisoned so unwritten outputs show.
                std::vector<float> buffer(kGuardFloats + n * out + kGuardFloats, poison());
                float* yd = buffer.data() + kGuardFloats;
                const Tensor wt_view(w.data(), c.dtype, {in, out});
                const Tensor x_view(const_cast<float*>(x.data()), DType::kF32, {in, n});
                const Tensor y_view(yd, DType::kF32, {out, n});
                matmul.run(*pool, wt_view, x_view, y_view);

                const std::string where = std::string(dtype_name(c.dtype)) + " isa=" + std::string(cpu_isa_name(isa)) +
                                          " threads=" + std::to_string(pool->num_threads()) + " n=" +
                                          std::to_string(n) + " in=" + std::to_string(in) + " out=" + std::to_string(out);
                for (int64_t g = 0; g < kGuardFloats; ++g) {
                    ASSERT_TRUE(is_poison(buffer[g])) << "write before y, " << where;
                    ASSERT_TRUE(is_poison(yd[n * out + g])) << "write past y, " << where;
                }
                int failures = 0;
                for (int64_t i = 0; i < n * out && failures < 5; ++i) {
                    ASSERT_FALSE(is_poison(yd[i])) << "output " << i << " not written, " << where;
                    ASSERT_FALSE(std::isnan(yd[i])) << "NaN at " << i << ", " << where;
                    const double tol = c.max_relative_error * magnitude[i] + 1e-6;
                    if (std::fabs(yd[i] - exact[i]) > tol) {
                        ++failures;
                        ADD_FAILURE() << where << " y[" << i / out << "," << i % out << "] = " << yd[i] << ", exact "
                                      << exact[i] << ", tolerance " << tol;
                    }
                }
                ASSERT_EQ(failures, 0);
            }
        }
    }
}

std::vector<std::unique_ptr<ThreadPool>> make_pools() {
    std::vector<std::unique_ptr<ThreadPool>> pools;
    for (int threads : kThreadCounts) pools.push_back(std::make_unique<ThreadPool>(threads));
    return pools;
}

class MatmulTest : public ::testing::TestWithParam<MatmulCase> {};

TEST_P(MatmulTest, MatchesDequantizedReference) {
    const auto pools = make_pools();
    uint32_t seed = 1;
    for (int64_t in : kInputs) {
        for (int64_t out : kOutputs) {
            expect_matmul_matches_reference(GetParam(), in, out, std::vector<int64_t>(std::begin(kTokens), std::end(kTokens)),
                                            pools, &seed);
            if (HasFatalFailure() || HasFailure()) return;
        }
    }
}

// Long rows make the packed prefill GEMM split its token blocks into several L2-sized chunks (and 20 rows leave a
// partial 8-row band), which the shapes above never do.
TEST_P(MatmulTest, LongRowsSpanSeveralGemmChunks) {
    const auto pools = make_pools();
    uint32_t seed = 1000;
    expect_matmul_matches_reference(GetParam(), 16384, 20, {67}, pools, &seed);
}

INSTANTIATE_TEST_SUITE_P(AllWeightTypes, MatmulTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return std::string(dtype_name(info.param.dtype)); });

// The SIMD activation quantizers must produce the reference bytes exactly (the matmul reference above relies on it).
TEST(CpuKernelsTest, ActivationQuantizersMatchReferenceBitForBit) {
    for (CpuIsa isa : supported_isas()) {
        const CpuKernels& k = cpu_kernels(isa);
        for (DType t : {DType::kQ8_0, DType::kQ8_1, DType::kQ8_K}) {
            const int64_t n = 4096;
            std::vector<float> x = random_floats(n, 77, 3.0f);
            // Ties: a block whose amax is 127 puts k + 0.5 exactly on the rounding boundary; zeros; a negative max.
            for (int i = 0; i < 32; ++i) x[i] = i == 0 ? 127.0f : static_cast<float>(i) - 16.5f;
            for (int i = 32; i < 64; ++i) x[i] = 0.0f;
            for (int i = 256; i < 512; ++i) x[i] = (i == 300 ? -8.0f : (i == 400 ? 8.0f : 0.25f * (i % 7)));
            for (int i = 512; i < 768; ++i) x[i] = 0.0f;
            const int64_t bytes = dtype_row_bytes(t, n);
            std::vector<uint8_t> want(bytes), got(bytes, 0xcd);
            quant_traits(t).quantize_row(x.data(), want.data(), n);
            k.quantize_row[static_cast<int>(t)](x.data(), got.data(), n);
            EXPECT_EQ(got, want) << dtype_name(t) << " isa=" << cpu_isa_name(isa);
        }
    }
}

// vec_dot (the single-row entry) agrees with the tile entry and with the reference on every ISA.
TEST(CpuKernelsTest, VecDotMatchesReference) {
    for (CpuIsa isa : supported_isas()) {
        const CpuKernels& k = cpu_kernels(isa);
        for (const MatmulCase& c : kCases) {
            const QuantTraits& wt = quant_traits(c.dtype);
            const int64_t n = 4096;
            const std::vector<float> wf = random_floats(n, 5, 1.0f), xf = random_floats(n, 6, 1.0f);
            std::vector<uint8_t> w(dtype_row_bytes(c.dtype, n)), x(dtype_row_bytes(wt.vec_dot_type, n));
            wt.quantize_row(wf.data(), w.data(), n);
            quant_traits(wt.vec_dot_type).quantize_row(xf.data(), x.data(), n);
            const float want = wt.vec_dot(n, w.data(), x.data());
            const float got = k.vec_dot[static_cast<int>(c.dtype)](n, w.data(), x.data());
            float tiled = 0.0f;
            k.vec_dot_tile[static_cast<int>(c.dtype)](n, w.data(), 0, 1, x.data(), 0, 1, &tiled, 1);
            EXPECT_NEAR(got, want, 1e-4 * std::fabs(want) + 1e-3) << dtype_name(c.dtype) << " " << cpu_isa_name(isa);
            EXPECT_EQ(got, tiled) << dtype_name(c.dtype) << " " << cpu_isa_name(isa);
        }
    }
}

}  // namespace
}  // namespace frugal
