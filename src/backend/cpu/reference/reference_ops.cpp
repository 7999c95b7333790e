#include "backend/cpu/reference/reference_ops.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <vector>

#include "core/half.h"
#include "quant/quant_traits.h"

namespace frugal::reference {

void get_rows(const Tensor& table, const int32_t* ids, int64_t begin, int64_t end, float* out) {
    const int64_t d = table.cols();
    const DequantizeRowFn dequantize = quant_traits(table.dtype).dequantize_row;
    for (int64_t i = begin; i < end; ++i) {
        CHECK(ids[i] >= 0 && ids[i] < table.rows()) << "row id " << ids[i] << " of " << table.rows();
        dequantize(table.row(ids[i]), out + (i - begin) * d, d);
    }
}

void rms_norm(const float* x, const float* w, float eps, int64_t d, int64_t begin, int64_t end, float* out) {
    for (int64_t r = begin; r < end; ++r) {
        const float* xr = x + r * d;
        float* yr = out + r * d;
        double sum = 0;
        for (int64_t i = 0; i < d; ++i) sum += static_cast<double>(xr[i]) * xr[i];
        const float inv = static_cast<float>(1.0 / std::sqrt(sum / static_cast<double>(d) + eps));
        for (int64_t i = 0; i < d; ++i) yr[i] = xr[i] * inv * w[i];
    }
}

void matmul(const Tensor& w, const float* x, int64_t n, float* y, int64_t o_begin, int64_t o_end) {
    const int64_t in = w.cols();
    const int64_t out = w.rows();
    const DequantizeRowFn dequantize = quant_traits(w.dtype).dequantize_row;
    std::vector<float> row(in);
    for (int64_t o = o_begin; o < o_end; ++o) {
        dequantize(w.row(o), row.data(), in);
        for (int64_t t = 0; t < n; ++t) {
            const float* xt = x + t * in;
            double acc = 0;
            for (int64_t i = 0; i < in; ++i) acc += static_cast<double>(row[i]) * xt[i];
            y[t * out + o] = static_cast<float>(acc);
        }
    }
}

void rope(float* x, int64_t heads, int64_t head_dim, const int32_t* positions, const RopeParams& p, int64_t begin,
          int64_t end) {
    const int64_t half = p.n_rot / 2;
    const float* factors = p.freq_factors != nullptr ? p.freq_factors->as<float>() : nullptr;
    std::vector<float> cos_table(half), sin_table(half);
    for (int64_t t = begin; t < end; ++t) {
        const double pos = static_cast<double>(positions[t]) * p.freq_scale;
        for (int64_t i = 0; i < half; ++i) {
            double theta = pos * std::pow(static_cast<double>(p.freq_base), -2.0 * static_cast<double>(i) / p.n_rot);
            if (factors != nullptr) theta /= factors[i];
            cos_table[i] = static_cast<float>(std::cos(theta));
            sin_table[i] = static_cast<float>(std::sin(theta));
        }
        for (int64_t h = 0; h < heads; ++h) {
            float* xh = x + (t * heads + h) * head_dim;
            for (int64_t i = 0; i < half; ++i) {
                const int64_t i0 = p.mode == RopeMode::kNormal ? 2 * i : i;
                const int64_t i1 = p.mode == RopeMode::kNormal ? 2 * i + 1 : i + half;
                const float x0 = xh[i0];
                const float x1 = xh[i1];
                xh[i0] = x0 * cos_table[i] - x1 * sin_table[i];
                xh[i1] = x0 * sin_table[i] + x1 * cos_table[i];
            }
        }
    }
}

float silu(float x) { return x / (1.0f + std::exp(-x)); }

float gelu_tanh(float x) {
    constexpr float kSqrt2OverPi = 0.79788456080286535588f;
    return 0.5f * x * (1.0f + std::tanh(kSqrt2OverPi * x * (1.0f + 0.044715f * x * x)));
}

void glu(const float* gate, const float* up, GluKind kind, int64_t begin, int64_t end, float* out) {
    for (int64_t i = begin; i < end; ++i) {
        const float a = kind == GluKind::kSilu ? silu(gate[i]) : gelu_tanh(gate[i]);
        out[i] = a * up[i];
    }
}

void store_kv(const float* k, const float* v, const int32_t* slots, int64_t k_row_elems, int64_t v_row_elems,
              DType cache_dtype, void* k_cache, void* v_cache, int64_t begin, int64_t end) {
    auto store = [cache_dtype](const float* src, void* cache, int64_t row, int64_t elems) {
        if (cache_dtype == DType::kF32) {
            float* dst = static_cast<float*>(cache) + row * elems;
            for (int64_t i = 0; i < elems; ++i) dst[i] = src[i];
        } else {
            uint16_t* dst = static_cast<uint16_t*>(cache) + row * elems;
            for (int64_t i = 0; i < elems; ++i) dst[i] = fp32_to_fp16(src[i]);
        }
    };
    for (int64_t t = begin; t < end; ++t) {
        store(k + t * k_row_elems, k_cache, slots[t], k_row_elems);
        store(v + t * v_row_elems, v_cache, slots[t], v_row_elems);
    }
}

namespace {
inline float cache_at(const void* cache, DType dtype, int64_t index) {
    return dtype == DType::kF32 ? static_cast<const float*>(cache)[index]
                                : fp16_to_fp32(static_cast<const uint16_t*>(cache)[index]);
}
}  // namespace

void attention(const float* q, const void* k_cache, const void* v_cache, const int32_t* positions,
               const int32_t* token_seq, const int32_t* block_tables, const AttentionShape& s,
               const AttentionParams& params, int64_t begin, int64_t end, float* out) {
    const int64_t group = s.heads / s.kv_heads;
    const int64_t kv_row = s.kv_heads * s.head_dim;
    std::vector<float> acc(s.head_dim);
    for (int64_t item = begin; item < end; ++item) {
        const int64_t t = item / s.heads;
        const int64_t h = item % s.heads;
        const int64_t kvh = h / group;
        const float* qh = q + item * s.head_dim;
        const int32_t* table = block_tables + static_cast<int64_t>(token_seq[t]) * s.max_blocks_per_seq;
        const int64_t pos = positions[t];
        const int64_t lo = params.sliding_window > 0 ? std::max<int64_t>(0, pos - params.sliding_window + 1) : 0;
        // Online softmax over the visible keys: running max m, normalizer l, weighted sum acc.
        double m = -std::numeric_limits<double>::infinity();
        double l = 0;
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t j = lo; j <= pos; ++j) {
            const int64_t block = table[j / s.block_size];
            CHECK(block >= 0) << "position " << j << " has no KV block";
            const int64_t base = (block * s.block_size + j % s.block_size) * kv_row + kvh * s.head_dim;
            double score = 0;
            for (int64_t i = 0; i < s.head_dim; ++i) score += static_cast<double>(qh[i]) * cache_at(k_cache, s.cache_dtype, base + i);
            score *= params.scale;
            if (params.softcap > 0) score = params.softcap * std::tanh(score / params.softcap);
            const double m_new = std::max(m, score);
            const double correction = std::exp(m - m_new);
            const double p = std::exp(score - m_new);
            l = l * correction + p;
            for (int64_t i = 0; i < s.head_dim; ++i) {
                acc[i] = static_cast<float>(acc[i] * correction + p * cache_at(v_cache, s.cache_dtype, base + i));
            }
            m = m_new;
        }
        float* oh = out + item * s.head_dim;
        for (int64_t i = 0; i < s.head_dim; ++i) oh[i] = l > 0 ? static_cast<float>(acc[i] / l) : 0.0f;
    }
}

void moe_route(const float* logits, int64_t num_experts, const MoeRouting& r, const float* selection_bias,
               int64_t begin, int64_t end, int32_t* ids, float* weights) {
    const int64_t k = r.top_k;
    CHECK(k >= 1 && k <= num_experts) << "top_k " << k << " of " << num_experts << " experts";
    const bool grouped = r.num_groups > 1;
    CHECK(!grouped || (num_experts % r.num_groups == 0 && r.groups_used >= 1 && r.groups_used <= r.num_groups))
        << r.num_groups << " groups, " << r.groups_used << " used, " << num_experts << " experts";
    std::vector<double> scores(num_experts), choice(num_experts), group_scores(std::max(r.num_groups, 1));
    std::vector<int64_t> order(num_experts), group_order(group_scores.size());
    for (int64_t t = begin; t < end; ++t) {
        const float* row = logits + t * num_experts;
        if (r.gating == MoeGating::kSoftmax) {
            const double mx = *std::max_element(row, row + num_experts);
            double sum = 0;
            for (int64_t e = 0; e < num_experts; ++e) sum += scores[e] = std::exp(row[e] - mx);
            for (double& s : scores) s /= sum;
        } else {
            for (int64_t e = 0; e < num_experts; ++e) scores[e] = 1.0 / (1.0 + std::exp(-static_cast<double>(row[e])));
        }
        for (int64_t e = 0; e < num_experts; ++e) choice[e] = scores[e] + (selection_bias ? selection_bias[e] : 0.0);
        // Larger first; equal scores: the lower index first.
        auto by_score = [](const std::vector<double>& v) {
            return [&v](int64_t a, int64_t b) { return v[a] > v[b] || (v[a] == v[b] && a < b); };
        };
        if (grouped) {
            const int64_t size = num_experts / r.num_groups;
            for (int64_t g = 0; g < r.num_groups; ++g) {
                std::vector<double> members(choice.begin() + g * size, choice.begin() + (g + 1) * size);
                std::sort(members.begin(), members.end(), std::greater<>());
                group_scores[g] = r.group_score == MoeGroupScore::kMax || size < 2 ? members[0] : members[0] + members[1];
            }
            std::iota(group_order.begin(), group_order.end(), 0);
            std::sort(group_order.begin(), group_order.end(), by_score(group_scores));
            std::vector<bool> allowed(r.num_groups, false);
            for (int64_t g = 0; g < r.groups_used; ++g) allowed[group_order[g]] = true;
            for (int64_t e = 0; e < num_experts; ++e) {
                if (!allowed[e / size]) choice[e] = -std::numeric_limits<double>::infinity();
            }
        }
        std::iota(order.begin(), order.end(), 0);
        std::partial_sort(order.begin(), order.begin() + k, order.end(), by_score(choice));
        double sum = 0;
        for (int64_t j = 0; j < k; ++j) sum += scores[order[j]];
        for (int64_t j = 0; j < k; ++j) {
            double w = scores[order[j]];
            if (r.normalize) w /= sum + 1e-20;
            ids[t * k + j] = static_cast<int32_t>(order[j]);
            weights[t * k + j] = static_cast<float>(w * r.scale);
        }
    }
}

void mla_attention(const float* q_latent, const float* q_rope, const void* latent_cache, const void* rope_cache,
                   const int32_t* positions, const int32_t* token_seq, const int32_t* block_tables, const MlaShape& s,
                   const AttentionParams& params, int64_t begin, int64_t end, float* out) {
    std::vector<double> acc(s.latent_dim);
    for (int64_t item = begin; item < end; ++item) {
        const int64_t t = item / s.heads;
        const float* ql = q_latent + item * s.latent_dim;
        const float* qr = q_rope + item * s.rope_dim;
        const int32_t* table = block_tables + static_cast<int64_t>(token_seq[t]) * s.max_blocks_per_seq;
        const int64_t pos = positions[t];
        const int64_t lo = params.sliding_window > 0 ? std::max<int64_t>(0, pos - params.sliding_window + 1) : 0;
        double m = -std::numeric_limits<double>::infinity();
        double l = 0;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j = lo; j <= pos; ++j) {
            const int64_t block = table[j / s.block_size];
            CHECK(block >= 0) << "position " << j << " has no KV block";
            const int64_t slot = block * s.block_size + j % s.block_size;
            double score = 0;
            for (int64_t i = 0; i < s.latent_dim; ++i) {
                score += static_cast<double>(ql[i]) * cache_at(latent_cache, s.cache_dtype, slot * s.latent_dim + i);
            }
            for (int64_t i = 0; i < s.rope_dim; ++i) {
                score += static_cast<double>(qr[i]) * cache_at(rope_cache, s.cache_dtype, slot * s.rope_dim + i);
            }
            score *= params.scale;
            if (params.softcap > 0) score = params.softcap * std::tanh(score / params.softcap);
            const double m_new = std::max(m, score);
            const double correction = std::exp(m - m_new);
            const double p = std::exp(score - m_new);
            l = l * correction + p;
            for (int64_t i = 0; i < s.latent_dim; ++i) {
                acc[i] = acc[i] * correction + p * cache_at(latent_cache, s.cache_dtype, slot * s.latent_dim + i);
            }
            m = m_new;
        }
        float* o = out + item * s.latent_dim;
        for (int64_t i = 0; i < s.latent_dim; ++i) o[i] = l > 0 ? static_cast<float>(acc[i] / l) : 0.0f;
    }
}

}  // namespace frugal::reference
