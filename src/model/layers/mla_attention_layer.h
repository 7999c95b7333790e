// DeepSeek's multi-head latent attention sub-block, in the weight-absorbed form: the cache keeps per token one
// normalized latent c = norm(W_kv_a x)[:kv_lora] and one rotary key p (shared by all heads). Each head's query is
// mapped into latent space (q_nope W_k_b), attends over (c, p), and its latent output is mapped to values by W_v_b,
// so full per-head keys and values are never materialized.
#pragma once

#include "backend/backend.h"
#include "model/model_config.h"
#include "model/model_weights.h"

namespace frugal {

struct MlaScratch {
    Tensor q_a;       // [n, q_lora_rank] (q-LoRA only)
    Tensor q;         // [n, heads, qk_nope + qk_rope]
    Tensor q_nope;    // [n, heads, qk_nope]
    Tensor q_rope;    // [n, heads, qk_rope]
    Tensor q_latent;  // [n, heads, kv_lora]
    Tensor kv_a;      // [n, kv_lora + qk_rope]
    Tensor latent;    // [n, kv_lora]
    Tensor k_rope;    // [n, qk_rope]
    Tensor o_latent;  // [n, heads, kv_lora]
    Tensor attn;      // [n, heads, v_head]
};

// residual[n, dim] += attention(xn[n, dim]) for one layer; proj [n, dim] is scratch. latent_cache and rope_cache are
// the layer's KvStorage k and v.
void mla_attention_layer(Backend& backend, const ModelConfig& config, const LayerWeights& w, const Tensor* rope_freqs,
                         const Tensor& xn, const AttentionBatch& batch, const Tensor& slots, const Tensor& latent_cache,
                         const Tensor& rope_cache, const MlaScratch& scratch, const Tensor& proj,
                         const Tensor& residual);

}  // namespace frugal
