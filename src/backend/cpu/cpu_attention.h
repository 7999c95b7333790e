// Attention over the paged KV cache for the CPU backend: per (token, KV head) work items, scores in float,
// two passes (scores, then softmax-weighted values) over keys gathered through the block table.
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "backend/cpu/reference/reference_ops.h"
#include "backend/cpu/vector_ops.h"

namespace frugal {

// Items [begin, end) of (token, KV head) pairs, item = token * kv_heads + kv_head; semantics of
// Backend::attention.
void cpu_attention(const VectorOps& ops, const float* q, const void* k_cache, const void* v_cache, const int32_t* positions,
                   const int32_t* token_seq, const int32_t* block_tables, const reference::AttentionShape& shape,
                   const AttentionParams& params, int64_t begin, int64_t end, float* out);

// Items [begin, end) of (token, head) pairs, item = token * heads + head; semantics of Backend::mla_attention.
void cpu_mla_attention(const VectorOps& ops, const float* q_latent, const float* q_rope, const void* latent_cache,
                       const void* rope_cache, const int32_t* positions, const int32_t* token_seq,
                       const int32_t* block_tables, const reference::MlaShape& shape, const AttentionParams& params,
                       int64_t begin, int64_t end, float* out);

}  // namespace frugal
