// CpuBackend's mixture-of-experts and multi-head latent attention ops.
//
// moe_ffn groups the step's (token, expert) pairs by expert, so each selected expert's weights are read once per
// step however many tokens chose it, and experts nobody chose are not read at all; each group runs through the
// same quantized matmul kernels as dense layers, over a slice of the stacked expert tensor.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backend/cpu/cpu_attention.h"
#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/matmul.h"
#include "backend/cpu/reference/reference_ops.h"

namespace frugal {
namespace {

// Expert e's matrix inside a stacked [num_experts, rows, cols] weight: a contiguous run of rows.
Tensor expert_slice(const Tensor& stacked, int64_t e) {
    const int64_t rows = stacked.shape[1];
    return Tensor(stacked.row(e * rows), stacked.dtype, {stacked.shape[0], rows});
}

// Experts with at least this many tokens in a step go through the GEMM path (CpuMatmul's kGemmMinTokens).
constexpr int64_t kMoeGemmTokens = 8;

}  // namespace

void CpuBackend::moe_route(const Tensor& logits, const MoeRouting& routing, const Tensor& expert_ids,
                           const Tensor& expert_weights) {
    const int64_t n = logits.rows();
    const int64_t num_experts = logits.cols();
    CHECK_EQ(expert_ids.num_elements(), n * routing.top_k);
    CHECK_EQ(expert_weights.num_elements(), n * routing.top_k);
    const float* bias = nullptr;
    if (routing.selection_bias != nullptr) {
        CHECK_EQ(routing.selection_bias->num_elements(), num_experts);
        bias = routing.selection_bias->as<float>();
    }
    pool_.parallel_for(n, [&](int64_t b, int64_t e) {
        reference::moe_route(logits.as<float>(), num_experts, routing, bias, b, e, expert_ids.as<int32_t>(),
                             expert_weights.as<float>());
    });
}

void CpuBackend::moe_ffn(const Tensor& gate_exps, const Tensor& up_exps, const Tensor& down_exps, const Tensor& x,
                         const Tensor& expert_ids, const Tensor& expert_weights, GluKind kind, const Tensor& out) {
    const int64_t n = x.rows();
    const int64_t dim = x.cols();
    const int64_t num_experts = gate_exps.shape[2];
    const int64_t ffn = gate_exps.shape[1];
    const int64_t top_k = expert_ids.num_elements() / n;
    CHECK_EQ(gate_exps.shape[0], dim);
    CHECK_EQ(down_exps.shape[0], ffn);
    CHECK_EQ(down_exps.shape[1], dim);
    CHECK_EQ(out.num_elements(), n * dim);
    const int32_t* ids = expert_ids.as<int32_t>();
    const float* weights = expert_weights.as<float>();

    // tokens_of[e]: the (token, slot) pairs routed to expert e, in token order.
    std::vector<std::vector<int64_t>> tokens_of(static_cast<size_t>(num_experts));
    for (int64_t i = 0; i < n * top_k; ++i) {
        CHECK(ids[i] >= 0 && ids[i] < num_experts) << "expert id " << ids[i];
        tokens_of[ids[i]].push_back(i);
    }
    std::fill_n(out.as<float>(), n * dim, 0.0f);

    // Every chosen expert's rows of x, gathered once: expert after expert, each over its tokens.
    const int64_t total = n * top_k;
    std::vector<float> xs(total * dim), gate(total * ffn), up(total * ffn), down(total * dim);
    std::vector<CpuMatmul::ExpertRows> rows;
    int64_t max_tokens = 0;
    for (int64_t e = 0, at = 0; e < num_experts; ++e) {
        const std::vector<int64_t>& pairs = tokens_of[e];
        if (pairs.empty()) continue;
        const auto m = static_cast<int64_t>(pairs.size());
        for (int64_t r = 0; r < m; ++r) {
            std::copy_n(x.as<float>() + (pairs[r] / top_k) * dim, dim, xs.data() + (at + r) * dim);
        }
        rows.push_back({e, m, xs.data() + at * dim, gate.data() + at * ffn, down.data() + at * dim});
        max_tokens = std::max(max_tokens, m);
        at += m;
    }
    // Small steps (every expert sees fewer tokens than the GEMM threshold) run all experts in two pool passes
    // (CpuMatmul::run_experts); larger ones run each expert through the GEMM path.
    if (!reference_matmul_ && max_tokens < kMoeGemmTokens) {
        const auto glu_fn = kind == GluKind::kSilu ? vector_ops_->silu_mul : vector_ops_->gelu_tanh_mul;
        matmul_->run_experts(pool_, gate_exps, up_exps, down_exps, glu_fn, rows);
    } else {
        for (const CpuMatmul::ExpertRows& r : rows) {
            const Tensor xt(const_cast<float*>(r.x), DType::kF32, {dim, r.num_tokens});  // read only
            const Tensor gt(r.h, DType::kF32, {ffn, r.num_tokens});
            const Tensor ut(up.data() + (r.h - gate.data()), DType::kF32, {ffn, r.num_tokens});
            matmul(expert_slice(gate_exps, r.expert), xt, gt);
            matmul(expert_slice(up_exps, r.expert), xt, ut);
            glu(gt, ut, kind, gt);
            matmul(expert_slice(down_exps, r.expert), gt, Tensor(r.y, DType::kF32, {dim, r.num_tokens}));
        }
    }
    // Rows of one token can come from several experts: accumulate serially, in expert order, so the sum does not
    // depend on the thread count.
    for (const CpuMatmul::ExpertRows& r : rows) {
        const std::vector<int64_t>& pairs = tokens_of[r.expert];
        for (int64_t k = 0; k < r.num_tokens; ++k) {
            const float w = weights[pairs[k]];
            float* o = out.as<float>() + (pairs[k] / top_k) * dim;
            const float* d = r.y + k * dim;
            for (int64_t i = 0; i < dim; ++i) o[i] += w * d[i];
        }
    }
}

void CpuBackend::sigmoid_scale_rows(const Tensor& x, const Tensor& gate) {
    const int64_t rows = x.rows();
    const int64_t d = x.cols();
    CHECK_EQ(gate.num_elements(), rows);
    for (int64_t r = 0; r < rows; ++r) {
        const float s = 1.0f / (1.0f + std::exp(-gate.as<float>()[r]));
        float* row = x.as<float>() + r * d;
        for (int64_t i = 0; i < d; ++i) row[i] *= s;
    }
}

void CpuBackend::copy_cols(const Tensor& src, int64_t offset, const Tensor& dst) {
    const int64_t rows = dst.rows();
    const int64_t width = dst.cols();
    const int64_t src_width = src.num_elements() / rows;
    CHECK(offset >= 0 && offset + width <= src_width) << "columns " << offset << "+" << width << " of " << src_width;
    for (int64_t r = 0; r < rows; ++r) {
        std::copy_n(src.as<float>() + r * src_width + offset, width, dst.as<float>() + r * width);
    }
}

void CpuBackend::matmul_heads(const Tensor& w, const Tensor& x, const Tensor& y) {
    const int64_t heads = w.shape[2];
    const int64_t in = w.shape[0];
    const int64_t out_dim = w.shape[1];
    const int64_t n = x.num_elements() / (heads * in);
    CHECK_EQ(x.num_elements(), n * heads * in);
    CHECK_EQ(y.num_elements(), n * heads * out_dim);
    std::vector<float> xs(heads * n * in), ys(heads * n * out_dim);
    for (int64_t h = 0; h < heads; ++h) {
        for (int64_t t = 0; t < n; ++t) {
            std::copy_n(x.as<float>() + (t * heads + h) * in, in, xs.data() + (h * n + t) * in);
        }
    }
    if (n < kMoeGemmTokens && !reference_matmul_) {
        // Decode: every head's product in one pass over the pool.
        std::vector<CpuMatmul::StackedRows> items;
        for (int64_t h = 0; h < heads; ++h)
            items.push_back({h, n, xs.data() + h * n * in, ys.data() + h * n * out_dim});
        matmul_->run_stacked(pool_, w, items);
    } else {
        for (int64_t h = 0; h < heads; ++h) {
            matmul(expert_slice(w, h), Tensor(xs.data() + h * n * in, DType::kF32, {in, n}),
                   Tensor(ys.data() + h * n * out_dim, DType::kF32, {out_dim, n}));
        }
    }
    for (int64_t h = 0; h < heads; ++h) {
        for (int64_t t = 0; t < n; ++t) {
            std::copy_n(ys.data() + (h * n + t) * out_dim, out_dim, y.as<float>() + (t * heads + h) * out_dim);
        }
    }
}

void CpuBackend::mla_attention(const Tensor& q_latent, const Tensor& q_rope, const Tensor& latent_cache,
                               const Tensor& rope_cache, const AttentionBatch& batch, const AttentionParams& params,
                               const Tensor& out) {
    reference::MlaShape s;
    s.latent_dim = q_latent.shape[0];
    s.heads = q_latent.shape[1];
    s.rope_dim = q_rope.shape[0];
    s.max_blocks_per_seq = batch.block_tables.shape[0];
    s.block_size = batch.block_size;
    s.cache_dtype = latent_cache.dtype;
    CHECK_EQ(latent_cache.shape[0], s.latent_dim);
    CHECK_EQ(rope_cache.shape[0], s.rope_dim);
    CHECK(rope_cache.dtype == latent_cache.dtype) << "latent and rotary caches differ in dtype";
    const int64_t n = batch.positions.num_elements();
    pool_.parallel_for(n * s.heads, [&](int64_t b, int64_t e) {
        cpu_mla_attention(*vector_ops_, q_latent.as<float>(), q_rope.as<float>(), latent_cache.data, rope_cache.data,
                          batch.positions.as<int32_t>(), batch.token_seq.as<int32_t>(),
                          batch.block_tables.as<int32_t>(), s, params, b, e, out.as<float>());
    });
}

}  // namespace frugal
