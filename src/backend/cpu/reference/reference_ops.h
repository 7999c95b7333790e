// Plain scalar reference implementations of every backend op, on raw host memory. They define what each op
// means (the op conformance test compares every backend and ISA variant against them) and are written for
// clarity. Row-range arguments [begin, end) let the CPU backend split the work across threads.
#pragma once

#include <cstdint>

#include "backend/backend.h"

namespace frugal::reference {

// out[i - begin, :] for ids[i], i in [begin, end): dequantized rows of table ([rows, d], any storable dtype).
void get_rows(const Tensor& table, const int32_t* ids, int64_t begin, int64_t end, float* out);

// Rows [begin, end) of out = x / rms(x) * w, d elements per row. x may equal out.
void rms_norm(const float* x, const float* w, float eps, int64_t d, int64_t begin, int64_t end, float* out);

// Output columns [o_begin, o_end) of y = x · wᵀ: w [out, in] in any weight dtype, x F32 [n, in], y F32 [n, out].
// Dequantizes w rows and accumulates in double: the ground truth for quantized kernels, not a fast path.
void matmul(const Tensor& w, const float* x, int64_t n, float* y, int64_t o_begin, int64_t o_end);

// Rotary embedding for tokens [begin, end) of x: [n, heads, head_dim] in place.
void rope(float* x, int64_t heads, int64_t head_dim, const int32_t* positions, const RopeParams& p, int64_t begin,
          int64_t end);

// Elements [begin, end) of out = act(gate) * up.
void glu(const float* gate, const float* up, GluKind kind, int64_t begin, int64_t end, float* out);

// Tokens [begin, end): k_cache[slot[i]] = k[i] (k_row_elems = kv_heads * head_dim elements) and
// v_cache[slot[i]] = v[i] (v_row_elems), converting to the cache dtype (F32 or F16).
void store_kv(const float* k, const float* v, const int32_t* slots, int64_t k_row_elems, int64_t v_row_elems,
              DType cache_dtype, void* k_cache, void* v_cache, int64_t begin, int64_t end);
// The same with keys and values of one row size (every attention but MLA).
inline void store_kv(const float* k, const float* v, const int32_t* slots, int64_t row_elems, DType cache_dtype,
                     void* k_cache, void* v_cache, int64_t begin, int64_t end) {
    store_kv(k, v, slots, row_elems, row_elems, cache_dtype, k_cache, v_cache, begin, end);
}

struct AttentionShape {
    int64_t heads = 0;
    int64_t kv_heads = 0;
    int64_t head_dim = 0;
    int64_t max_blocks_per_seq = 0;
    int block_size = 16;
    DType cache_dtype = DType::kF32;
};

// Work items [begin, end) of (token, head) pairs, item = token * heads + head. See Backend::attention.
void attention(const float* q, const void* k_cache, const void* v_cache, const int32_t* positions,
               const int32_t* token_seq, const int32_t* block_tables, const AttentionShape& shape,
               const AttentionParams& params, int64_t begin, int64_t end, float* out);

float gelu_tanh(float x);
float silu(float x);

// Tokens [begin, end) of Backend::moe_route: logits F32 [n, num_experts] -> ids I32 [n, top_k], weights F32 [n, top_k].
void moe_route(const float* logits, int64_t num_experts, const MoeRouting& routing, const float* selection_bias,
               int64_t begin, int64_t end, int32_t* ids, float* weights);

struct MlaShape {
    int64_t heads = 0;
    int64_t latent_dim = 0;  // L: kv_lora_rank
    int64_t rope_dim = 0;    // R: qk_rope_head_dim
    int64_t max_blocks_per_seq = 0;
    int block_size = 16;
    DType cache_dtype = DType::kF32;
};

// Work items [begin, end) of (token, head) pairs, item = token * heads + head. See Backend::mla_attention.
void mla_attention(const float* q_latent, const float* q_rope, const void* latent_cache, const void* rope_cache,
                   const int32_t* positions, const int32_t* token_seq, const int32_t* block_tables,
                   const MlaShape& shape, const AttentionParams& params, int64_t begin, int64_t end, float* out);

}  // namespace frugal::reference
