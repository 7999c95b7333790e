#include "backend/cpu/cpu_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"

namespace frugal {

// One work item is a (token, KV head) pair: the `group` query heads that share that KV head are handled
// together, so each cached K and V row is read from memory once per item rather than once per query head
// (Gemma 3 has 4 query heads per KV head). Scores are float; softmax uses the running maximum.
void cpu_attention(const VectorOps& ops, const float* q, const void* k_cache, const void* v_cache,
                   const int32_t* positions, const int32_t* token_seq, const int32_t* block_tables,
                   const reference::AttentionShape& s, const AttentionParams& params, int64_t begin, int64_t end, float* out) {
    const int64_t group = s.heads / s.kv_heads;
    const int64_t kv_row = s.kv_heads * s.head_dim;
    const int64_t d = s.head_dim;
    const bool f16 = s.cache_dtype == DType::kF16;
    std::vector<float> scores;
    std::vector<int64_t> rows;  // cache element offset of each visible key
    for (int64_t item = begin; item < end; ++item) {
        const int64_t t = item / s.kv_heads;
        const int64_t kvh = item % s.kv_heads;
        const int32_t* table = block_tables + static_cast<int64_t>(token_seq[t]) * s.max_blocks_per_seq;
        const int64_t pos = positions[t];
        const int64_t lo = params.sliding_window > 0 ? std::max<int64_t>(0, pos - params.sliding_window + 1) : 0;
        const int64_t count = pos - lo + 1;
        rows.resize(count);
        for (int64_t j = lo; j <= pos; ++j) {
            const int64_t block = table[j / s.block_size];
            CHECK(block >= 0) << "position " << j << " has no KV block";
            rows[j - lo] = (block * s.block_size + j % s.block_size) * kv_row + kvh * d;
        }
        scores.resize(static_cast<size_t>(group * count));
        const float* q0 = q + (t * s.heads + kvh * group) * d;
        for (int64_t j = 0; j < count; ++j) {
            for (int64_t g = 0; g < group; ++g) {
                scores[g * count + j] =
                    f16 ? ops.dot_f16(q0 + g * d, static_cast<const uint16_t*>(k_cache) + rows[j], d)
                        : ops.dot_f32(q0 + g * d, static_cast<const float*>(k_cache) + rows[j], d);
            }
        }
        for (int64_t g = 0; g < group; ++g) {
            float* sc = scores.data() + g * count;
            float max_score = -INFINITY;
            for (int64_t j = 0; j < count; ++j) {
                float v = sc[j] * params.scale;
                if (params.softcap > 0) v = params.softcap * std::tanh(v / params.softcap);
                sc[j] = v;
                max_score = std::max(max_score, v);
            }
            float sum = 0;
            for (int64_t j = 0; j < count; ++j) {
                sc[j] = std::exp(sc[j] - max_score);
                sum += sc[j];
            }
            const float inv = 1.0f / sum;
            for (int64_t j = 0; j < count; ++j) sc[j] *= inv;
        }
        float* o0 = out + (t * s.heads + kvh * group) * d;
        std::fill(o0, o0 + group * d, 0.0f);
        for (int64_t j = 0; j < count; ++j) {
            for (int64_t g = 0; g < group; ++g) {
                const float p = scores[g * count + j];
                if (f16) {
                    ops.axpy_f16(p, static_cast<const uint16_t*>(v_cache) + rows[j], o0 + g * d, d);
                } else {
                    ops.axpy_f32(p, static_cast<const float*>(v_cache) + rows[j], o0 + g * d, d);
                }
            }
        }
    }
}

}  // namespace frugal

namespace frugal {

// One work item is a (token, head) pair; every head reads the same cached latents and rotary keys, which stay in
// cache across the heads of a token (a few hundred KB per layer at decode lengths).
void cpu_mla_attention(const VectorOps& ops, const float* q_latent, const float* q_rope, const void* latent_cache,
                       const void* rope_cache, const int32_t* positions, const int32_t* token_seq,
                       const int32_t* block_tables, const reference::MlaShape& s, const AttentionParams& params,
                       int64_t begin, int64_t end, float* out) {
    const int64_t L = s.latent_dim;
    const int64_t R = s.rope_dim;
    const bool f16 = s.cache_dtype == DType::kF16;
    auto dot = [&](const float* q, const void* cache, int64_t offset, int64_t n) {
        return f16 ? ops.dot_f16(q, static_cast<const uint16_t*>(cache) + offset, n)
                   : ops.dot_f32(q, static_cast<const float*>(cache) + offset, n);
    };
    std::vector<float> scores;
    std::vector<int64_t> slots;
    for (int64_t item = begin; item < end; ++item) {
        const int64_t t = item / s.heads;
        const int32_t* table = block_tables + static_cast<int64_t>(token_seq[t]) * s.max_blocks_per_seq;
        const int64_t pos = positions[t];
        const int64_t lo = params.sliding_window > 0 ? std::max<int64_t>(0, pos - params.sliding_window + 1) : 0;
        const int64_t count = pos - lo + 1;
        slots.resize(count);
        scores.resize(count);
        for (int64_t j = lo; j <= pos; ++j) {
            const int64_t block = table[j / s.block_size];
            CHECK(block >= 0) << "position " << j << " has no KV block";
            slots[j - lo] = block * s.block_size + j % s.block_size;
        }
        const float* ql = q_latent + item * L;
        const float* qr = q_rope + item * R;
        float max_score = -INFINITY;
        for (int64_t j = 0; j < count; ++j) {
            float v = (dot(ql, latent_cache, slots[j] * L, L) + dot(qr, rope_cache, slots[j] * R, R)) * params.scale;
            if (params.softcap > 0) v = params.softcap * std::tanh(v / params.softcap);
            scores[j] = v;
            max_score = std::max(max_score, v);
        }
        float sum = 0;
        for (int64_t j = 0; j < count; ++j) sum += scores[j] = std::exp(scores[j] - max_score);
        float* o = out + item * L;
        std::fill(o, o + L, 0.0f);
        for (int64_t j = 0; j < count; ++j) {
            const float p = scores[j] / sum;
            if (f16) {
                ops.axpy_f16(p, static_cast<const uint16_t*>(latent_cache) + slots[j] * L, o, L);
            } else {
                ops.axpy_f32(p, static_cast<const float*>(latent_cache) + slots[j] * L, o, L);
            }
        }
    }
}

}  // namespace frugal
