// Attention over the paged KV cache for the CPU backend: per (token, head) work items, scores in float,
// two passes (scores, then softmax-weighted values) over keys gathered through the block table.
#pragma once

#include <cstdint>

#include "backend/backend.h"
#include "backend/cpu/vector_ops.h"

namespace frugal {

struct CpuAttentionShape {
    int64_t heads = 0;
    int64_t kv_heads = 0;
    int64_t head_dim = 0;
    int64_t max_blocks_per_seq = 0;
    int block_size = 16;
    DType cache_dtype = DType::kF32;  // F32 or F16
};

// Items [begin, end) of (token, KV head) pairs, item = token * kv_heads + kv_head; semantics of
// Backend::attention.
void cpu_attention(const VectorOps& ops, const float* q, const void* k_cache, const void* v_cache, const int32_t* positions,
                   const int32_t* token_seq, const int32_t* block_tables, const CpuAttentionShape& shape,
                   const AttentionParams& params, int64_t begin, int64_t end, float* out);

}  // namespace frugal
