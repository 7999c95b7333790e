// Mixture-of-experts FFN sub-block (Mixtral, Qwen2/3-MoE, DeepSeekMoE): router, top-k routing once per token,
// the routed experts' SwiGLU FFNs weighted and summed, plus optional shared experts (DeepSeek: always on;
// Qwen2-MoE: one shared expert scaled by a sigmoid gate).
#pragma once

#include "backend/backend.h"
#include "model/model_config.h"
#include "model/model_weights.h"

namespace frugal {

struct MoeScratch {
    Tensor router_logits;   // [n, num_experts]
    Tensor expert_ids;      // I32 [n, top_k]
    Tensor expert_weights;  // [n, top_k]
    Tensor routed;          // [n, dim]
    Tensor gate, up;        // [n, shared_expert_ffn_dim]
    Tensor shared_gate;     // [n, 1]
};

// residual[n, dim] += moe(xn[n, dim]) for one layer; proj [n, dim] is scratch.
void moe_layer(Backend& backend, const ModelConfig& config, const LayerWeights& w, const Tensor& xn,
               const MoeScratch& scratch, const Tensor& proj, const Tensor& residual);

}  // namespace frugal
