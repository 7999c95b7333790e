// Self-attention sub-block shared by every architecture: projections (+ optional biases), optional per-head
// q/k RMSNorm, RoPE, KV-cache write, paged attention, output projection and optional post-norm.
#pragma once

#include "backend/backend.h"
#include "model/model_config.h"
#include "model/model_weights.h"

namespace frugal {

struct AttentionScratch {
    Tensor q;     // [n, q_dim]
    Tensor k;     // [n, kv_dim]
    Tensor v;     // [n, v_dim]
    Tensor attn;  // [n, q_dim]
};

// residual[n, dim] += attention(xn[n, dim]) for one layer; proj [n, dim] is scratch. positions/slots are I32 [n]
// on the backend.
void attention_layer(Backend& backend, const ModelConfig& config, const LayerWeights& w, const Tensor* rope_freqs,
                     int64_t layer, const Tensor& xn, const AttentionBatch& batch, const Tensor& slots,
                     const Tensor& k_cache, const Tensor& v_cache, const AttentionScratch& scratch, const Tensor& proj,
                     const Tensor& residual);

}  // namespace frugal
