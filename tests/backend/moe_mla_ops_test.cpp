// The CPU backend's mixture-of-experts and multi-head latent attention ops against independent compositions:
// moe_ffn against per-expert matmul + glu through the backend's own (conformance-tested) ops, in double for F32
// weights; moe_route against hand-worked cases (softmax and sigmoid scoring, ties, correction bias, group limits);
// matmul_heads against the reference matmul per head; mla_attention against the scalar reference.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/reference/reference_ops.h"
#include "core/half.h"
#include "quant/quant_traits.h"

namespace frugal {
namespace {

CpuBackend make_backend(int threads) {
    CpuBackendOptions o;
    o.num_threads = threads;
    o.huge_page_weights = false;
    return CpuBackend(o);
}

std::vector<float> random_floats(std::mt19937& rng, size_t n, float scale = 1.0f) {
    std::normal_distribution<float> d(0.0f, scale);
    std::vector<float> v(n);
    for (float& x : v) x = d(rng);
    return v;
}

// Quantizes rows of a [rows, cols] float matrix into dtype.
std::vector<uint8_t> quantize(DType dtype, const std::vector<float>& w, int64_t cols) {
    const int64_t rows = static_cast<int64_t>(w.size()) / cols;
    const int64_t row_bytes = dtype_row_bytes(dtype, cols);
    std::vector<uint8_t> out(static_cast<size_t>(row_bytes * rows));
    for (int64_t r = 0; r < rows; ++r)
        quant_traits(dtype).quantize_row(w.data() + r * cols, out.data() + r * row_bytes, cols);
    return out;
}

double max_abs(const std::vector<float>& v) {
    double m = 0;
    for (float x : v) m = std::max(m, static_cast<double>(std::abs(x)));
    return m;
}

struct MoeCase {
    DType gate_type, down_type;
    int64_t tokens;
};

class MoeFfn : public ::testing::TestWithParam<MoeCase> {};

// out[t] = sum_j weight[t, j] * down_e(silu(gate_e x) * up_e x), composed here from matmul/glu on expert slices.
TEST_P(MoeFfn, MatchesPerExpertComposition) {
    const MoeCase c = GetParam();
    std::mt19937 rng(1234 + static_cast<int>(c.tokens));
    const int64_t dim = 256, ffn = 256, experts = 8, top_k = 2, n = c.tokens;
    const std::vector<float> gate_f = random_floats(rng, experts * ffn * dim, 1.0f / 16);
    const std::vector<float> up_f = random_floats(rng, experts * ffn * dim, 1.0f / 16);
    const std::vector<float> down_f = random_floats(rng, experts * dim * ffn, 1.0f / 16);
    std::vector<uint8_t> gate_q = quantize(c.gate_type, gate_f, dim);
    std::vector<uint8_t> up_q = quantize(c.gate_type, up_f, dim);
    std::vector<uint8_t> down_q = quantize(c.down_type, down_f, ffn);
    const Tensor gate(gate_q.data(), c.gate_type, {dim, ffn, experts});
    const Tensor up(up_q.data(), c.gate_type, {dim, ffn, experts});
    const Tensor down(down_q.data(), c.down_type, {ffn, dim, experts});
    std::vector<float> x = random_floats(rng, n * dim);
    std::vector<int32_t> ids(n * top_k);
    std::vector<float> weights(n * top_k);
    for (int64_t t = 0; t < n; ++t) {
        ids[t * top_k] = static_cast<int32_t>(rng() % experts);
        ids[t * top_k + 1] = static_cast<int32_t>((ids[t * top_k] + 1 + rng() % (experts - 1)) % experts);
        weights[t * top_k] = 0.7f;
        weights[t * top_k + 1] = 0.3f;
    }
    for (int threads : {1, 3}) {
        SCOPED_TRACE(threads);
        CpuBackend backend = make_backend(threads);
        std::vector<float> out(n * dim, NAN);
        backend.moe_ffn(gate, up, down, Tensor(x.data(), DType::kF32, {dim, n}),
                        Tensor(ids.data(), DType::kI32, {top_k, n}), Tensor(weights.data(), DType::kF32, {top_k, n}),
                        GluKind::kSilu, Tensor(out.data(), DType::kF32, {dim, n}));
        // The composition, one (token, expert) at a time.
        std::vector<float> want(n * dim, 0.0f), g(ffn), u(ffn), d(dim);
        for (int64_t t = 0; t < n; ++t) {
            for (int64_t j = 0; j < top_k; ++j) {
                const int64_t e = ids[t * top_k + j];
                auto slice = [e](const Tensor& w) {
                    return Tensor(w.row(e * w.shape[1]), w.dtype, {w.shape[0], w.shape[1]});
                };
                const Tensor xt(x.data() + t * dim, DType::kF32, {dim, 1});
                backend.matmul(slice(gate), xt, Tensor(g.data(), DType::kF32, {ffn, 1}));
                backend.matmul(slice(up), xt, Tensor(u.data(), DType::kF32, {ffn, 1}));
                backend.glu(Tensor(g.data(), DType::kF32, {ffn, 1}), Tensor(u.data(), DType::kF32, {ffn, 1}),
                            GluKind::kSilu, Tensor(g.data(), DType::kF32, {ffn, 1}));
                backend.matmul(slice(down), Tensor(g.data(), DType::kF32, {ffn, 1}),
                               Tensor(d.data(), DType::kF32, {dim, 1}));
                for (int64_t i = 0; i < dim; ++i) want[t * dim + i] += weights[t * top_k + j] * d[i];
            }
        }
        // Same kernels and activation quantization on both sides; only the batching (tile vs GEMM) and the order
        // of float accumulation differ.
        const double tol = 1e-4 * max_abs(want) + 1e-6;
        for (int64_t i = 0; i < n * dim; ++i) ASSERT_NEAR(out[i], want[i], tol) << "element " << i;
    }
}

INSTANTIATE_TEST_SUITE_P(Types, MoeFfn,
                         ::testing::Values(MoeCase{DType::kF32, DType::kF32, 1}, MoeCase{DType::kF32, DType::kF32, 20},
                                           MoeCase{DType::kQ8_0, DType::kQ8_0, 1},
                                           MoeCase{DType::kQ8_0, DType::kQ8_0, 5},
                                           MoeCase{DType::kQ4_K, DType::kQ5_0, 1},
                                           MoeCase{DType::kQ4_K, DType::kQ5_0, 3},
                                           MoeCase{DType::kQ4_K, DType::kQ5_0, 40}));

struct Routed {
    std::vector<int32_t> ids;
    std::vector<float> weights;
};

Routed route(const std::vector<float>& logits, const MoeRouting& r) {
    CpuBackend backend = make_backend(1);
    const int64_t experts = static_cast<int64_t>(logits.size());
    Routed out{std::vector<int32_t>(r.top_k), std::vector<float>(r.top_k)};
    std::vector<float> l = logits;
    backend.moe_route(Tensor(l.data(), DType::kF32, {experts, 1}), r, Tensor(out.ids.data(), DType::kI32, {r.top_k, 1}),
                      Tensor(out.weights.data(), DType::kF32, {r.top_k, 1}));
    return out;
}

TEST(MoeRoute, SoftmaxTopKRenormalized) {
    MoeRouting r;
    r.top_k = 2;
    r.normalize = true;
    const Routed got = route({1.0f, 3.0f, 2.0f, 0.0f}, r);
    EXPECT_EQ(got.ids, (std::vector<int32_t>{1, 2}));
    const double a = std::exp(3.0), b = std::exp(2.0);
    EXPECT_NEAR(got.weights[0], a / (a + b), 1e-6);
    EXPECT_NEAR(got.weights[1], b / (a + b), 1e-6);
}

TEST(MoeRoute, SoftmaxNotRenormalizedAndScaled) {
    MoeRouting r;
    r.top_k = 1;
    r.scale = 2.0f;
    const Routed got = route({0.0f, std::log(3.0f)}, r);
    EXPECT_EQ(got.ids, (std::vector<int32_t>{1}));
    EXPECT_NEAR(got.weights[0], 2.0 * 0.75, 1e-6);
}

TEST(MoeRoute, TiesGoToTheLowerId) {
    MoeRouting r;
    r.top_k = 1;
    EXPECT_EQ(route({1.0f, 2.0f, 2.0f, 1.0f}, r).ids, (std::vector<int32_t>{1}));
}

// DeepSeek-V3: sigmoid scores, a selection bias, 2 groups of 2 experts, 1 group used, group score = sum of its
// best two. Expert 2 alone scores highest, but group {0, 1} sums higher, so the choice stays inside it; the
// weights are the unbiased sigmoid scores, renormalized and scaled.
TEST(MoeRoute, SigmoidWithBiasAndGroupLimit) {
    MoeRouting r;
    r.top_k = 2;
    r.gating = MoeGating::kSigmoid;
    r.normalize = true;
    r.scale = 2.5f;
    r.num_groups = 2;
    r.groups_used = 1;
    r.group_score = MoeGroupScore::kTop2Sum;
    std::vector<float> bias = {0.0f, 0.5f, 0.0f, -1.0f};
    const Tensor bias_t(bias.data(), DType::kF32, {4});
    r.selection_bias = &bias_t;
    const std::vector<float> logits = {1.0f, -1.0f, 3.0f, 0.0f};
    const Routed got = route(logits, r);
    // Choice scores: group {0, 1}: 0.73, 0.77 (sum 1.50); group {2, 3}: 0.95, -0.5 (sum 0.45). Descending order of
    // the biased choice score: expert 1 (0.27 + 0.5) before expert 0 (0.73).
    EXPECT_EQ(got.ids, (std::vector<int32_t>{1, 0}));
    auto sig = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
    const double s0 = sig(1.0), s1 = sig(-1.0);
    for (int j = 0; j < 2; ++j) {
        const double s = got.ids[j] == 0 ? s0 : s1;
        EXPECT_NEAR(got.weights[j], 2.5 * s / (s0 + s1), 1e-6);
    }
    // Without the group limit expert 2 wins.
    r.num_groups = 0;
    EXPECT_EQ(route(logits, r).ids[0], 2);
}

TEST(MoeRoute, GroupLimitedGreedyUsesTheGroupMaximum) {
    MoeRouting r;
    r.top_k = 2;
    r.num_groups = 2;
    r.groups_used = 1;
    r.group_score = MoeGroupScore::kMax;
    // Group {0, 1} has the single best expert; group {2, 3} the best pair. kMax picks group {0, 1}.
    const Routed got = route({3.0f, 0.0f, 2.5f, 2.5f}, r);
    EXPECT_EQ(got.ids, (std::vector<int32_t>{0, 1}));
}

TEST(MatmulHeads, MatchesReferencePerHead) {
    std::mt19937 rng(7);
    const int64_t heads = 4, in = 64, out = 96;
    for (DType dtype : {DType::kF32, DType::kQ8_0}) {
        for (int64_t n : {1, 9}) {
            SCOPED_TRACE(std::string(dtype_name(dtype)) + " n=" + std::to_string(n));
            const std::vector<float> wf = random_floats(rng, heads * out * in, 0.1f);
            std::vector<uint8_t> wq =
                dtype == DType::kF32 ? std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(wf.data()),
                                                            reinterpret_cast<const uint8_t*>(wf.data() + wf.size()))
                                     : quantize(dtype, wf, in);
            const Tensor w(wq.data(), dtype, {in, out, heads});
            std::vector<float> x = random_floats(rng, n * heads * in), y(n * heads * out, NAN);
            CpuBackend backend = make_backend(3);
            backend.matmul_heads(w, Tensor(x.data(), DType::kF32, {in, heads, n}),
                                 Tensor(y.data(), DType::kF32, {out, heads, n}));
            for (int64_t h = 0; h < heads; ++h) {
                std::vector<float> xs(n * in), ys(n * out);
                for (int64_t t = 0; t < n; ++t) std::copy_n(x.data() + (t * heads + h) * in, in, xs.data() + t * in);
                const Tensor wh(w.row(h * out), dtype, {in, out});
                reference::matmul(wh, xs.data(), n, ys.data(), 0, out);
                // Q8_0 weights: the kernels quantize x to Q8_0 too (reference::matmul does not).
                const double tol = dtype == DType::kF32 ? 1e-4 : 3e-2;
                for (int64_t t = 0; t < n; ++t) {
                    for (int64_t o = 0; o < out; ++o) {
                        ASSERT_NEAR(y[(t * heads + h) * out + o], ys[t * out + o], tol) << "head " << h;
                    }
                }
            }
        }
    }
}

TEST(MlaAttention, MatchesReference) {
    std::mt19937 rng(11);
    const int64_t heads = 4, latent = 32, rope = 8, block_size = 4, blocks_per_seq = 4, slots = 64;
    for (DType cache_dtype : {DType::kF32, DType::kF16}) {
        SCOPED_TRACE(dtype_name(cache_dtype));
        // Two sequences: 7 and 13 cached tokens; the step holds the last 2 tokens of the first and the last 3 of
        // the second.
        const std::vector<int32_t> tables = {3, 0, 9, -1, 5, 1, 2, 14};
        const std::vector<int32_t> positions = {5, 6, 10, 11, 12};
        const std::vector<int32_t> token_seq = {0, 0, 1, 1, 1};
        const int64_t n = static_cast<int64_t>(positions.size());
        const std::vector<float> lat_f = random_floats(rng, slots * latent), rope_f = random_floats(rng, slots * rope);
        std::vector<uint8_t> lat(dtype_row_bytes(cache_dtype, slots * latent)),
            rp(dtype_row_bytes(cache_dtype, slots * rope));
        for (int64_t i = 0; i < slots * latent; ++i) {
            if (cache_dtype == DType::kF32)
                reinterpret_cast<float*>(lat.data())[i] = lat_f[i];
            else
                reinterpret_cast<uint16_t*>(lat.data())[i] = fp32_to_fp16(lat_f[i]);
        }
        for (int64_t i = 0; i < slots * rope; ++i) {
            if (cache_dtype == DType::kF32)
                reinterpret_cast<float*>(rp.data())[i] = rope_f[i];
            else
                reinterpret_cast<uint16_t*>(rp.data())[i] = fp32_to_fp16(rope_f[i]);
        }
        std::vector<float> ql = random_floats(rng, n * heads * latent, 0.3f),
                           qr = random_floats(rng, n * heads * rope, 0.3f);
        std::vector<float> out(n * heads * latent, NAN), want(n * heads * latent);
        std::vector<int32_t> pos = positions, seq = token_seq, tab = tables;
        AttentionBatch batch;
        batch.positions = Tensor(pos.data(), DType::kI32, {n});
        batch.token_seq = Tensor(seq.data(), DType::kI32, {n});
        batch.block_tables = Tensor(tab.data(), DType::kI32, {blocks_per_seq, 2});
        batch.block_size = static_cast<int>(block_size);
        AttentionParams params;
        params.scale = 0.2f;
        CpuBackend backend = make_backend(3);
        backend.mla_attention(
            Tensor(ql.data(), DType::kF32, {latent, heads, n}), Tensor(qr.data(), DType::kF32, {rope, heads, n}),
            Tensor(lat.data(), cache_dtype, {latent, 1, slots}), Tensor(rp.data(), cache_dtype, {rope, 1, slots}),
            batch, params, Tensor(out.data(), DType::kF32, {latent, heads, n}));
        reference::MlaShape s{heads, latent, rope, blocks_per_seq, static_cast<int>(block_size), cache_dtype};
        reference::mla_attention(ql.data(), qr.data(), lat.data(), rp.data(), pos.data(), seq.data(), tab.data(), s,
                                 params, 0, n * heads, want.data());
        for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], want[i], 5e-5) << "element " << i;
    }
}

TEST(CopyCols, CopiesTheColumnBlock) {
    std::vector<float> src = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, dst(6, NAN);
    CpuBackend backend = make_backend(1);
    backend.copy_cols(Tensor(src.data(), DType::kF32, {4, 3}), 1, Tensor(dst.data(), DType::kF32, {2, 3}));
    EXPECT_EQ(dst, (std::vector<float>{1, 2, 5, 6, 9, 10}));
}

TEST(SigmoidScaleRows, ScalesEachRow) {
    std::vector<float> x = {1, 2, 3, 4}, gate = {0.0f, std::log(3.0f)};
    CpuBackend backend = make_backend(1);
    backend.sigmoid_scale_rows(Tensor(x.data(), DType::kF32, {2, 2}), Tensor(gate.data(), DType::kF32, {2}));
    EXPECT_FLOAT_EQ(x[0], 0.5f);
    EXPECT_FLOAT_EQ(x[1], 1.0f);
    EXPECT_FLOAT_EQ(x[2], 2.25f);
    EXPECT_FLOAT_EQ(x[3], 3.0f);
}

}  // namespace
}  // namespace frugal
