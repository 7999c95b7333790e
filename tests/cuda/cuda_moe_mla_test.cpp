// The CUDA backend's mixture-of-experts and multi-head latent attention ops against the CPU's scalar reference
// (reference_ops.h) or a double-precision product of the reference-dequantized weights: moe_route (softmax and
// sigmoid scoring, correction bias, group limits, ties), moe_ffn over every weight dtype the GPU computes with and
// token counts on both sides of the decode / prefill sizes, sigmoid_scale_rows, copy_cols, matmul_heads,
// mla_attention over several sequences with F32 and F16 caches, and store_kv of rows of different widths (the latent
// caches). Outputs start as NaN, so an element an op leaves unwritten fails. Without a GPU every test reports
// itself skipped. The seed comes from std::random_device (or FRUGAL_TEST_SEED to replay) and is printed on failure.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/reference/reference_ops.h"
#include "backend/cuda/cuda_backend.h"
#include "core/half.h"
#include "quant/quant_traits.h"

namespace frugal {
namespace {

// Activations quantized per 32 values to int8, scale amax / 127 (quantized weights): half a step per element, plus
// the float rounding of x / d (cuda_ops_test.cpp's kInt8StepError).
constexpr double kInt8StepError = (0.5 + 1e-4) / 127.0;
// Float accumulation, relative to the sum of the products' magnitudes (cuda_ops_test.cpp's kMatmulRel).
constexpr double kMatmulRel = 1e-5;
constexpr double kMatmulAbs = 1e-6;
// |d act(g) / dg| <= 1.2 for silu and tanh-gelu.
constexpr double kGluSlope = 1.2;
// Routing weights: the GPU computes them in double as the reference does; exp() may differ by a double ulp.
constexpr double kRouteWeightRel = 1e-6;
// MLA: float scores and online softmax against the reference's double; outputs are convex combinations of latents,
// so the bound scales with max |latent| (cuda_ops_test.cpp's kAttentionRel).
constexpr double kMlaRel = 1e-4;

uint32_t seed() {
    static const uint32_t s = [] {
        if (const char* e = std::getenv("FRUGAL_TEST_SEED")) return static_cast<uint32_t>(std::strtoul(e, nullptr, 0));
        return static_cast<uint32_t>(std::random_device{}());
    }();
    return s;
}

class CudaMoeMlaTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string why;
        if (!cuda_device_available(&why)) GTEST_SKIP() << why;
        Result<std::unique_ptr<Backend>> be = create_cuda_backend(CudaBackendOptions{});
        ASSERT_TRUE(be.ok()) << be.status().message();
        be_ = std::move(be.value());
        rng_.seed(seed());
        RecordProperty("seed", std::to_string(seed()));
    }

    // A device buffer holding v.
    template <typename T>
    Tensor upload(const std::vector<T>& v, DType dtype, std::initializer_list<int64_t> shape) {
        buffers_.push_back(be_->allocate(v.size() * sizeof(T)));
        Tensor t(buffers_.back()->data(), dtype, shape);
        CHECK_EQ(t.size_bytes(), static_cast<int64_t>(v.size() * sizeof(T)));
        be_->copy_to_device(t, v.data(), v.size() * sizeof(T));
        return t;
    }
    // An F32 output buffer filled with NaN.
    Tensor output(std::initializer_list<int64_t> shape) {
        Tensor t(nullptr, DType::kF32, shape);
        return upload(std::vector<float>(static_cast<size_t>(t.num_elements()), std::nanf("")), DType::kF32, shape);
    }
    template <typename T>
    std::vector<T> download(const Tensor& t) {
        std::vector<T> v(static_cast<size_t>(t.size_bytes()) / sizeof(T));
        be_->copy_to_host(v.data(), t, v.size() * sizeof(T));
        return v;
    }
    std::vector<float> normal(int64_t n, float scale) {
        std::normal_distribution<float> dist(0.0f, scale);
        std::vector<float> v(static_cast<size_t>(n));
        for (float& f : v) f = dist(rng_);
        return v;
    }

    // A random weight [rows][cols] quantized to dtype and placed; *deq gets the reference dequantization.
    Tensor place(DType dtype, std::initializer_list<int64_t> shape, std::vector<float>* deq) {
        Tensor t(nullptr, dtype, shape);
        const int64_t rows = t.rows(), cols = t.cols();
        const std::vector<float> src = normal(rows * cols, 0.5f);
        const QuantTraits& qt = quant_traits(dtype);
        const int64_t row_bytes = dtype_row_bytes(dtype, cols);
        std::vector<uint8_t> q(static_cast<size_t>(row_bytes * rows));
        deq->assign(src.size(), 0.0f);
        for (int64_t r = 0; r < rows; ++r) {
            qt.quantize_row(src.data() + r * cols, q.data() + r * row_bytes, cols);
            qt.dequantize_row(q.data() + r * row_bytes, deq->data() + r * cols, cols);
        }
        Result<Tensor> placed = be_->place_weight(fmt::format("w{}", counter_++), dtype, shape, q.data());
        CHECK(placed.ok()) << placed.status().message();
        return placed.value();
    }

    std::unique_ptr<Backend> be_;
    std::mt19937 rng_;
    std::vector<std::unique_ptr<DeviceBuffer>> buffers_;
    int counter_ = 0;
};

// Checks |got - want| <= tol elementwise; NaN (unwritten) fails. Reports the largest error relative to its bound.
::testing::AssertionResult close(const std::vector<float>& got, const std::vector<double>& want,
                                 const std::vector<double>& tol) {
    if (got.size() < want.size()) return ::testing::AssertionFailure() << "output too short";
    int bad = 0;
    ::testing::AssertionResult r = ::testing::AssertionFailure();
    for (size_t i = 0; i < want.size(); ++i) {
        const double err = std::fabs(double{got[i]} - want[i]);
        if (std::isfinite(got[i]) && err <= tol[i]) continue;
        if (++bad <= 5) r << "\n  [" << i << "] got " << got[i] << ", want " << want[i] << ", tolerance " << tol[i];
    }
    if (bad == 0) return ::testing::AssertionSuccess();
    return r << "\n  " << bad << " of " << want.size() << " elements differ (seed " << seed() << ")";
}

bool quantized_on_gpu(DType t) { return t != DType::kF32 && t != DType::kF16 && t != DType::kBF16; }

// Per element of x [rows][cols]: the int8 quantization error bound (0 for float paths).
std::vector<double> act_error(const std::vector<double>& x, int64_t rows, int64_t cols, bool int8) {
    std::vector<double> e(x.size(), 0.0);
    if (!int8) return e;
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t b = 0; b < cols; b += 32) {
            double amax = 0;
            for (int64_t i = b; i < std::min(b + 32, cols); ++i) amax = std::max(amax, std::fabs(x[r * cols + i]));
            for (int64_t i = b; i < std::min(b + 32, cols); ++i) e[r * cols + i] = amax * kInt8StepError;
        }
    }
    return e;
}

// A weight's reference values and, per element, the largest |w| of its 32-block (the int8 kernels' per-block
// offset terms round too).
struct RefWeight {
    std::vector<float> w;
    std::vector<double> block_max;
};

RefWeight ref_weight(std::vector<float> w, int64_t cols) {
    RefWeight r{std::move(w), {}};
    r.block_max.assign(r.w.size(), 0.0);
    const auto rows = static_cast<int64_t>(r.w.size()) / cols;
    for (int64_t row = 0; row < rows; ++row) {
        for (int64_t b = 0; b < cols; b += 32) {
            const int64_t e = std::min(b + 32, cols);
            double m = 0;
            for (int64_t k = b; k < e; ++k) m = std::max(m, double{std::fabs(r.w[row * cols + k])});
            for (int64_t k = b; k < e; ++k) r.block_max[row * cols + k] = m;
        }
    }
    return r;
}

// One row's product and its error bound: w row (cols wide) . x, with x's per-element error ex.
void row_product(const RefWeight& w, int64_t row, int64_t cols, const double* x, const double* ex, bool int8,
                 double* value, double* err) {
    double s = 0, e = 0, mag = 0;
    for (int64_t k = 0; k < cols; ++k) {
        const double wk = w.w[row * cols + k];
        s += wk * x[k];
        e += std::fabs(wk) * ex[k];
        const double wm = int8 ? std::fabs(wk) + w.block_max[row * cols + k] : std::fabs(wk);
        mag += wm * (std::fabs(x[k]) + ex[k]);
    }
    *value = s;
    *err = e + kMatmulRel * mag + kMatmulAbs;
}

double glu_act(GluKind kind, double g) {
    if (kind == GluKind::kSilu) return g / (1.0 + std::exp(-g));
    return 0.5 * g * (1.0 + std::tanh(std::sqrt(2.0 / 3.14159265358979323846) * (g + 0.044715 * g * g * g)));
}

// ---- moe_route ----

struct RouteCase {
    int64_t n, num_experts;
    MoeRouting r;
    bool bias = false;
    bool ties = false;  // logits from a handful of values, so scores tie often
};

TEST_F(CudaMoeMlaTest, MoeRouteMatchesReference) {
    std::vector<RouteCase> cases;
    auto add = [&](int64_t n, int64_t e, int k, MoeGating g, bool norm, float scale, bool bias, int groups, int used,
                   MoeGroupScore gs, bool ties) {
        RouteCase c{n, e, {}, bias, ties};
        c.r.top_k = k;
        c.r.gating = g;
        c.r.normalize = norm;
        c.r.scale = scale;
        c.r.num_groups = groups;
        c.r.groups_used = used;
        c.r.group_score = gs;
        cases.push_back(c);
    };
    const auto kSm = MoeGating::kSoftmax, kSg = MoeGating::kSigmoid;
    const auto kMax = MoeGroupScore::kMax, kTop2 = MoeGroupScore::kTop2Sum;
    add(5, 8, 2, kSm, true, 1.0f, false, 0, 0, kMax, false);       // Mixtral
    add(33, 60, 4, kSm, false, 1.0f, false, 0, 0, kMax, false);    // Qwen2-MoE
    add(17, 128, 8, kSm, true, 1.0f, false, 0, 0, kMax, false);    // Qwen3-MoE
    add(40, 64, 6, kSm, false, 1.0f, false, 1, 1, kMax, false);    // DeepSeek-V2-Lite (one group: no limit)
    add(21, 160, 6, kSm, false, 16.0f, false, 8, 3, kMax, false);  // DeepSeek-V2
    add(40, 256, 8, kSg, true, 2.5f, true, 8, 4, kTop2, false);    // DeepSeek-V3
    add(9, 8, 2, kSg, true, 2.5f, true, 4, 2, kTop2, false);       // the deepseek_v3 fixture's shape
    add(64, 16, 4, kSm, true, 1.0f, false, 4, 2, kMax, true);      // ties in scores and group scores
    add(64, 32, 5, kSg, false, 1.0f, false, 8, 3, kTop2, true);
    add(3, 512, 64, kSg, true, 1.0f, true, 0, 0, kMax, true);  // the kernel's largest sizes
    for (const RouteCase& c : cases) {
        SCOPED_TRACE(fmt::format("n {} experts {} top_k {} groups {}/{} ties {}", c.n, c.num_experts, c.r.top_k,
                                 c.r.groups_used, c.r.num_groups, c.ties));
        std::vector<float> logits = normal(c.n * c.num_experts, 2.0f);
        if (c.ties) {
            for (float& v : logits) v = std::round(v) / 2.0f;
        }
        std::vector<float> bias = normal(c.num_experts, 0.3f);
        if (c.ties) {
            for (float& v : bias) v = std::round(v * 4.0f) / 8.0f;
        }
        MoeRouting r = c.r;
        const Tensor bias_t = upload(bias, DType::kF32, {c.num_experts});
        r.selection_bias = c.bias ? &bias_t : nullptr;
        const Tensor lt = upload(logits, DType::kF32, {c.num_experts, c.n});
        const Tensor ids = upload(std::vector<int32_t>(c.n * r.top_k, -7), DType::kI32, {r.top_k, c.n});
        const Tensor ws = output({r.top_k, c.n});
        be_->moe_route(lt, r, ids, ws);
        const std::vector<int32_t> got_ids = download<int32_t>(ids);
        const std::vector<float> got_w = download<float>(ws);
        std::vector<int32_t> want_ids(got_ids.size());
        std::vector<float> want_w(got_w.size());
        reference::moe_route(logits.data(), c.num_experts, r, c.bias ? bias.data() : nullptr, 0, c.n, want_ids.data(),
                             want_w.data());
        ASSERT_EQ(got_ids, want_ids) << "seed " << seed();
        std::vector<double> want(want_w.begin(), want_w.end()), tol(want.size());
        for (size_t i = 0; i < want.size(); ++i) tol[i] = kRouteWeightRel * std::fabs(want[i]) + 1e-12;
        ASSERT_TRUE(close(got_w, want, tol));
    }
}

// ---- moe_ffn ----

struct FfnCase {
    DType gate, up, down;
    int64_t dim, ffn, num_experts, top_k;
    GluKind kind = GluKind::kSilu;
};

TEST_F(CudaMoeMlaTest, MoeFfnMatchesReference) {
    std::vector<FfnCase> cases = {
        {DType::kF32, DType::kF32, DType::kF32, 64, 48, 8, 2},                      // the mixtral fixture's shape
        {DType::kF32, DType::kF32, DType::kF32, 72, 20, 6, 3, GluKind::kGeluTanh},  // rows not 16-byte multiples
        {DType::kF16, DType::kF16, DType::kF16, 128, 96, 8, 2},
        {DType::kBF16, DType::kBF16, DType::kBF16, 256, 64, 16, 4},
        {DType::kQ8_0, DType::kQ8_0, DType::kQ8_0, 256, 128, 8, 2},
        {DType::kQ4_0, DType::kQ4_0, DType::kQ4_0, 128, 64, 8, 2},
        {DType::kQ4_K, DType::kQ4_K, DType::kQ4_K, 256, 512, 16, 6},
        {DType::kQ4_K, DType::kQ4_K, DType::kQ6_K, 512, 256, 8, 3},  // Q4_K_M's expert mix
        {DType::kQ5_K, DType::kQ5_K, DType::kQ8_0, 256, 256, 4, 2},
        {DType::kF16, DType::kBF16, DType::kQ8_0, 64, 64, 4, 2},  // gate and up of different dtypes
    };
    for (const FfnCase& c : cases) {
        std::vector<float> g_deq, u_deq, d_deq;
        const Tensor gate = place(c.gate, {c.dim, c.ffn, c.num_experts}, &g_deq);
        const Tensor up = place(c.up, {c.dim, c.ffn, c.num_experts}, &u_deq);
        const Tensor down = place(c.down, {c.ffn, c.dim, c.num_experts}, &d_deq);
        const RefWeight wg = ref_weight(g_deq, c.dim), wu = ref_weight(u_deq, c.dim), wd = ref_weight(d_deq, c.ffn);
        for (int64_t n : {1, 3, 16, 37, 100}) {  // up to 16: one product per pair; more: pairs grouped by expert
            SCOPED_TRACE(fmt::format("{}/{}/{} dim {} ffn {} experts {} top_k {} n {}", dtype_name(c.gate),
                                     dtype_name(c.up), dtype_name(c.down), c.dim, c.ffn, c.num_experts, c.top_k, n));
            std::vector<float> x = normal(n * c.dim, 1.0f);
            // Distinct experts per token (as the router picks them); the first two tokens share their first expert.
            std::vector<int32_t> ids(n * c.top_k);
            std::vector<float> weights(n * c.top_k);
            std::uniform_real_distribution<float> wdist(0.05f, 1.0f);
            for (int64_t t = 0; t < n; ++t) {
                std::vector<int32_t> perm(c.num_experts);
                std::iota(perm.begin(), perm.end(), 0);
                std::shuffle(perm.begin(), perm.end(), rng_);
                for (int64_t j = 0; j < c.top_k; ++j) {
                    ids[t * c.top_k + j] = perm[j];
                    weights[t * c.top_k + j] = wdist(rng_);
                }
            }
            if (n > 1) {
                for (int64_t j = 1; j < c.top_k; ++j) {
                    if (ids[c.top_k + j] == ids[0]) std::swap(ids[c.top_k + j], ids[c.top_k]);
                }
                ids[c.top_k] = ids[0];
            }
            const Tensor xt = upload(x, DType::kF32, {c.dim, n});
            const Tensor it = upload(ids, DType::kI32, {c.top_k, n});
            const Tensor wt = upload(weights, DType::kF32, {c.top_k, n});
            const Tensor out = output({c.dim, n});
            be_->moe_ffn(gate, up, down, xt, it, wt, c.kind, out);
            const std::vector<float> got = download<float>(out);

            // The double reference and its bound, stage by stage.
            const std::vector<double> xd(x.begin(), x.end());
            const std::vector<double> ex = act_error(xd, n, c.dim, quantized_on_gpu(c.gate));
            const std::vector<double> exu = act_error(xd, n, c.dim, quantized_on_gpu(c.up));
            std::vector<double> want(n * c.dim, 0.0), tol(n * c.dim, 1e-6);
            for (int64_t t = 0; t < n; ++t) {
                for (int64_t j = 0; j < c.top_k; ++j) {
                    const int64_t e = ids[t * c.top_k + j];
                    const double w = weights[t * c.top_k + j];
                    std::vector<double> h(c.ffn), dh(c.ffn);
                    for (int64_t i = 0; i < c.ffn; ++i) {
                        double g, dg, u, du;
                        row_product(wg, e * c.ffn + i, c.dim, &xd[t * c.dim], &ex[t * c.dim], quantized_on_gpu(c.gate),
                                    &g, &dg);
                        row_product(wu, e * c.ffn + i, c.dim, &xd[t * c.dim], &exu[t * c.dim], quantized_on_gpu(c.up),
                                    &u, &du);
                        const double a = glu_act(c.kind, g);
                        h[i] = a * u;
                        dh[i] = kGluSlope * dg * (std::fabs(u) + du) + std::fabs(a) * du + 1e-6 * std::fabs(h[i]);
                    }
                    // The GPU quantizes its own h, whose block maxima may exceed the reference's by dh.
                    std::vector<double> h_mag(c.ffn);
                    for (int64_t i = 0; i < c.ffn; ++i) h_mag[i] = std::fabs(h[i]) + dh[i];
                    std::vector<double> eh = act_error(h_mag, 1, c.ffn, quantized_on_gpu(c.down));
                    for (int64_t i = 0; i < c.ffn; ++i) eh[i] += dh[i];
                    for (int64_t o = 0; o < c.dim; ++o) {
                        double y, dy;
                        row_product(wd, e * c.dim + o, c.ffn, h.data(), eh.data(), quantized_on_gpu(c.down), &y, &dy);
                        want[t * c.dim + o] += w * y;
                        tol[t * c.dim + o] += std::fabs(w) * dy;
                    }
                }
            }
            ASSERT_TRUE(close(got, want, tol));
        }
    }
}

// ---- sigmoid_scale_rows, copy_cols, store_kv of two widths ----

TEST_F(CudaMoeMlaTest, SigmoidScaleRowsCopyColsAndStoreKvOfTwoWidths) {
    const int64_t rows = 7, d = 80;
    const std::vector<float> x = normal(rows * d, 2.0f), gate = normal(rows, 3.0f);
    const Tensor xt = upload(x, DType::kF32, {d, rows});
    be_->sigmoid_scale_rows(xt, upload(gate, DType::kF32, {rows}));
    std::vector<double> want(x.size()), tol(x.size());
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = 0; i < d; ++i) {
            want[r * d + i] = x[r * d + i] / (1.0 + std::exp(-double{gate[r]}));
            tol[r * d + i] = 1e-6 * std::fabs(want[r * d + i]) + 1e-30;
        }
    }
    ASSERT_TRUE(close(download<float>(xt), want, tol));

    const int64_t src_width = 24;
    const std::vector<float> src = normal(rows * src_width, 1.0f);
    const Tensor st = upload(src, DType::kF32, {src_width, rows});
    for (auto [offset, width] : {std::pair<int64_t, int64_t>{0, 16}, {16, 8}, {3, 21}}) {
        const Tensor dst = output({width, rows});
        be_->copy_cols(st, offset, dst);
        const std::vector<float> got = download<float>(dst);
        for (int64_t r = 0; r < rows; ++r) {
            for (int64_t i = 0; i < width; ++i) {
                ASSERT_EQ(got[r * width + i], src[r * src_width + offset + i]) << r << " " << i << " offset " << offset;
            }
        }
    }

    // store_kv of latents (L wide) and rotary keys (R wide) into caches of those widths, F32 and F16.
    const int64_t n = 5, L = 32, R = 8, num_slots = 12;
    const std::vector<float> lat = normal(n * L, 1.0f), rot = normal(n * R, 1.0f);
    const std::vector<int32_t> slots = {3, 0, 11, 7, 8};
    for (DType cache_dtype : {DType::kF32, DType::kF16}) {
        const int64_t es = cache_dtype == DType::kF32 ? 4 : 2;
        const Tensor lc = upload(std::vector<uint8_t>(num_slots * L * es, 0), cache_dtype, {L, 1, num_slots});
        const Tensor rc = upload(std::vector<uint8_t>(num_slots * R * es, 0), cache_dtype, {R, 1, num_slots});
        be_->store_kv(upload(lat, DType::kF32, {L, 1, n}), upload(rot, DType::kF32, {R, 1, n}),
                      upload(slots, DType::kI32, {n}), lc, rc);
        const std::vector<uint8_t> lg = download<uint8_t>(lc), rg = download<uint8_t>(rc);
        for (int64_t s = 0; s < num_slots; ++s) {
            const auto it = std::find(slots.begin(), slots.end(), s);
            const int64_t t = it == slots.end() ? -1 : it - slots.begin();
            for (int64_t w : {L, R}) {
                const std::vector<uint8_t>& g = w == L ? lg : rg;
                const std::vector<float>& v = w == L ? lat : rot;
                for (int64_t i = 0; i < w; ++i) {
                    const float want_v = t < 0                        ? 0.0f
                                         : cache_dtype == DType::kF32 ? v[t * w + i]
                                                                      : fp16_to_fp32(fp32_to_fp16(v[t * w + i]));
                    const float got_v = cache_dtype == DType::kF32
                                            ? reinterpret_cast<const float*>(g.data())[s * w + i]
                                            : fp16_to_fp32(reinterpret_cast<const uint16_t*>(g.data())[s * w + i]);
                    ASSERT_EQ(got_v, want_v) << dtype_name(cache_dtype) << " slot " << s << " width " << w << " " << i;
                }
            }
        }
    }
}

// ---- matmul_heads ----

TEST_F(CudaMoeMlaTest, MatmulHeadsMatchesReference) {
    struct Case {
        DType dtype;
        int64_t heads, in, out;
    };
    const std::vector<Case> cases = {
        {DType::kF32, 4, 16, 32},    {DType::kF32, 4, 32, 16},  // the deepseek fixtures' wk_b and wv_b
        {DType::kF32, 3, 20, 12},    {DType::kF16, 16, 128, 512}, {DType::kBF16, 16, 512, 128},
        {DType::kQ8_0, 8, 128, 512}, {DType::kQ4_0, 4, 64, 96},   {DType::kQ4_K, 16, 512, 128},
        {DType::kQ6_K, 4, 256, 64},  {DType::kQ5_K, 2, 256, 32},
    };
    for (const Case& c : cases) {
        std::vector<float> deq;
        const Tensor wt = place(c.dtype, {c.in, c.out, c.heads}, &deq);
        const RefWeight w = ref_weight(deq, c.in);
        for (int64_t n : {1, 4, 16, 29}) {
            SCOPED_TRACE(fmt::format("{} heads {} in {} out {} n {}", dtype_name(c.dtype), c.heads, c.in, c.out, n));
            const std::vector<float> x = normal(n * c.heads * c.in, 1.0f);
            const Tensor y = output({c.out, c.heads, n});
            be_->matmul_heads(wt, upload(x, DType::kF32, {c.in, c.heads, n}), y);
            const std::vector<double> xd(x.begin(), x.end());
            const std::vector<double> ex = act_error(xd, n * c.heads, c.in, quantized_on_gpu(c.dtype));
            std::vector<double> want(n * c.heads * c.out), tol(want.size());
            for (int64_t t = 0; t < n; ++t) {
                for (int64_t h = 0; h < c.heads; ++h) {
                    for (int64_t o = 0; o < c.out; ++o) {
                        const int64_t a = (t * c.heads + h) * c.in;
                        const int64_t k = (t * c.heads + h) * c.out + o;
                        row_product(w, h * c.out + o, c.in, &xd[a], &ex[a], quantized_on_gpu(c.dtype), &want[k],
                                    &tol[k]);
                    }
                }
            }
            ASSERT_TRUE(close(download<float>(y), want, tol));
        }
    }
}

// ---- mla_attention ----

struct MlaCase {
    int64_t heads, L, R;
    DType cache_dtype;
    bool decode;  // one token per sequence at its last position; else every position of every sequence
    int sliding_window = 0;
    float softcap = 0.0f;
};

TEST_F(CudaMoeMlaTest, MlaAttentionMatchesReference) {
    const std::vector<MlaCase> cases = {
        {4, 32, 8, DType::kF32, false},           {4, 32, 8, DType::kF32, true},       // the deepseek fixtures' shape
        {16, 512, 64, DType::kF16, true},         {16, 512, 64, DType::kF16, false},   // DeepSeek-V2-Lite
        {8, 512, 64, DType::kF32, true},          {2, 96, 24, DType::kF16, false, 5},  // a sliding window
        {4, 64, 16, DType::kF32, true, 0, 30.0f},                                      // softcap
        {4, 64, 16, DType::kF16, true, 40},  // a window in decode (its keys in a few slices)
        {1, 1024, 0, DType::kF32, true},     // the largest latent, no rope part
        {3, 1024, 0, DType::kF16, true},     // the same in F16 (two key groups per fold)
        {3, 8, 8, DType::kF16, false},       // the narrowest F16 rows (one 16-byte vector each)
        {4, 256, 32, DType::kF16, true, 0, 30.0f},  // softcap with F16 caches
    };
    const int block_size = 16;
    const std::vector<int64_t> seq_lens = {1, 17, 70, 200};  // past several chunks of keys
    for (const MlaCase& c : cases) {
        SCOPED_TRACE(fmt::format("heads {} L {} R {} {} {} window {} softcap {}", c.heads, c.L, c.R,
                                 dtype_name(c.cache_dtype), c.decode ? "decode" : "prefill", c.sliding_window,
                                 c.softcap));
        const auto num_seqs = static_cast<int64_t>(seq_lens.size());
        const int64_t max_blocks = (*std::max_element(seq_lens.begin(), seq_lens.end()) + block_size - 1) / block_size;
        // Blocks of all sequences in shuffled order; unused table entries -1.
        int64_t total_blocks = 0;
        for (int64_t len : seq_lens) total_blocks += (len + block_size - 1) / block_size;
        std::vector<int32_t> block_ids(total_blocks);
        std::iota(block_ids.begin(), block_ids.end(), 0);
        std::shuffle(block_ids.begin(), block_ids.end(), rng_);
        std::vector<int32_t> tables(num_seqs * max_blocks, -1);
        for (int64_t s = 0, next = 0; s < num_seqs; ++s) {
            for (int64_t b = 0; b < (seq_lens[s] + block_size - 1) / block_size; ++b) {
                tables[s * max_blocks + b] = block_ids[next++];
            }
        }
        std::vector<int32_t> positions, token_seq;
        for (int64_t s = 0; s < num_seqs; ++s) {
            for (int64_t p = c.decode ? seq_lens[s] - 1 : 0; p < seq_lens[s]; ++p) {
                positions.push_back(static_cast<int32_t>(p));
                token_seq.push_back(static_cast<int32_t>(s));
            }
        }
        const auto n = static_cast<int64_t>(positions.size());
        const int64_t num_slots = total_blocks * block_size;
        std::vector<float> lat = normal(num_slots * c.L, 1.0f),
                           rot = normal(num_slots * std::max<int64_t>(c.R, 1), 1.0f);
        std::vector<uint8_t> lat_bytes, rot_bytes;
        auto to_cache = [&](std::vector<float>& v, std::vector<uint8_t>* bytes) {
            if (c.cache_dtype == DType::kF32) {
                bytes->resize(v.size() * 4);
                std::memcpy(bytes->data(), v.data(), bytes->size());
            } else {
                bytes->resize(v.size() * 2);
                for (size_t i = 0; i < v.size(); ++i) {
                    const uint16_t h = fp32_to_fp16(v[i]);
                    std::memcpy(bytes->data() + 2 * i, &h, 2);
                }
            }
        };
        to_cache(lat, &lat_bytes);
        to_cache(rot, &rot_bytes);
        const std::vector<float> ql = normal(n * c.heads * c.L, 0.2f),
                                 qr = normal(n * c.heads * std::max<int64_t>(c.R, 1), 0.5f);
        const Tensor lc = upload(lat_bytes, c.cache_dtype, {c.L, 1, num_slots});
        const Tensor rc = upload(rot_bytes, c.cache_dtype, {std::max<int64_t>(c.R, 1), 1, num_slots});
        const Tensor rc_view(rc.data, c.cache_dtype, {c.R, 1, num_slots});
        AttentionBatch batch;
        batch.positions = upload(positions, DType::kI32, {n});
        batch.token_seq = upload(token_seq, DType::kI32, {n});
        batch.block_tables = upload(tables, DType::kI32, {max_blocks, num_seqs});
        batch.block_size = block_size;
        AttentionParams params;
        params.scale = 1.0f / std::sqrt(static_cast<float>(c.L / 4 + c.R));
        params.sliding_window = c.sliding_window;
        params.softcap = c.softcap;
        const Tensor out = output({c.L, c.heads, n});
        be_->mla_attention(upload(ql, DType::kF32, {c.L, c.heads, n}),
                           Tensor(upload(qr, DType::kF32, {std::max<int64_t>(c.R, 1) * c.heads * n}).data, DType::kF32,
                                  {c.R, c.heads, n}),
                           lc, rc_view, batch, params, out);
        std::vector<float> want_f(n * c.heads * c.L);
        reference::MlaShape s;
        s.heads = c.heads;
        s.latent_dim = c.L;
        s.rope_dim = c.R;
        s.max_blocks_per_seq = max_blocks;
        s.block_size = block_size;
        s.cache_dtype = c.cache_dtype;
        reference::mla_attention(ql.data(), qr.data(), lat_bytes.data(), rot_bytes.data(), positions.data(),
                                 token_seq.data(), tables.data(), s, params, 0, n * c.heads, want_f.data());
        double max_lat = 0;
        for (float v : lat) max_lat = std::max(max_lat, double{std::fabs(v)});
        const std::vector<double> want(want_f.begin(), want_f.end());
        ASSERT_TRUE(close(download<float>(out), want, std::vector<double>(want.size(), kMlaRel * max_lat)));
    }
}

}  // namespace
}  // namespace frugal
