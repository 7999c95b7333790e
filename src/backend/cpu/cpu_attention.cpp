#include "backend/cpu/cpu_attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "core/half.h"

namespace frugal {
namespace {

// Converts one cached row to float. F32 rows are returned in place; F16 rows are widened into scratch.
inline const float* cache_row(const void* cache, DType dtype, int64_t index, int64_t n, float* scratch) {
    if (dtype == DType::kF32) return static_cast<const float*>(cache) + index;
    const uint16_t* h = static_cast<const uint16_t*>(cache) + index;
    for (int64_t i = 0; i < n; ++i) scratch[i] = fp16_to_fp32(h[i]);
    return scratch;
}

inline float dot(const float* a, const float* b, int64_t n) {
    float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += a[i] * b[i];
        s1 += a[i + 1] * b[i + 1];
        s2 += a[i + 2] * b[i + 2];
        s3 += a[i + 3] * b[i + 3];
    }
    for (; i < n; ++i) s0 += a[i] * b[i];
    return (s0 + s1) + (s2 + s3);
}

}  // namespace

void cpu_attention(const float* q, const void* k_cache, const void* v_cache, const int32_t* positions,
                   const int32_t* token_seq, const int32_t* block_tables, const CpuAttentionShape& s,
                   const AttentionParams& params, int64_t begin, int64_t end, float* out) {
    const int64_t group = s.heads / s.kv_heads;
    const int64_t kv_row = s.kv_heads * s.head_dim;
    std::vector<float> scores;
    std::vector<float> scratch(s.head_dim);
    std::vector<float> acc(s.head_dim);
    for (int64_t item = begin; item < end; ++item) {
        const int64_t t = item / s.heads;
        const int64_t kvh = (item % s.heads) / group;
        const float* qh = q + item * s.head_dim;
        const int32_t* table = block_tables + static_cast<int64_t>(token_seq[t]) * s.max_blocks_per_seq;
        const int64_t pos = positions[t];
        const int64_t lo = params.sliding_window > 0 ? std::max<int64_t>(0, pos - params.sliding_window + 1) : 0;
        const int64_t count = pos - lo + 1;
        scores.resize(count);
        float max_score = -INFINITY;
        for (int64_t j = lo; j <= pos; ++j) {
            const int64_t block = table[j / s.block_size];
            CHECK(block >= 0) << "position " << j << " has no KV block";
            const int64_t index = (block * s.block_size + j % s.block_size) * kv_row + kvh * s.head_dim;
            float score = dot(qh, cache_row(k_cache, s.cache_dtype, index, s.head_dim, scratch.data()), s.head_dim);
            score *= params.scale;
            if (params.softcap > 0) score = params.softcap * std::tanh(score / params.softcap);
            scores[j - lo] = score;
            max_score = std::max(max_score, score);
        }
        float sum = 0;
        for (float& sc : scores) {
            sc = std::exp(sc - max_score);
            sum += sc;
        }
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t j = lo; j <= pos; ++j) {
            const int64_t block = table[j / s.block_size];
            const int64_t index = (block * s.block_size + j % s.block_size) * kv_row + kvh * s.head_dim;
            const float* vr = cache_row(v_cache, s.cache_dtype, index, s.head_dim, scratch.data());
            const float p = scores[j - lo];
            for (int64_t i = 0; i < s.head_dim; ++i) acc[i] += p * vr[i];
        }
        float* oh = out + item * s.head_dim;
        const float inv = 1.0f / sum;
        for (int64_t i = 0; i < s.head_dim; ++i) oh[i] = acc[i] * inv;
    }
}

}  // namespace frugal
