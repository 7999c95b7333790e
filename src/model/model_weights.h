// Weights of a decoder-only transformer as placed on a backend. Optional tensors have data == nullptr.
#pragma once

#include <vector>

#include "core/tensor.h"

namespace frugal {

struct LayerWeights {
    Tensor attn_norm;       // [dim]
    Tensor wq, wk, wv, wo;  // [q_dim, dim], [kv_dim, dim], [v_dim, dim], [dim, q_dim] (rows × cols)
    Tensor bq, bk, bv;      // optional biases [q_dim], [kv_dim], [v_dim]
    Tensor q_norm, k_norm;  // optional per-head norms [head_dim]
    Tensor post_attn_norm;  // optional [dim]
    Tensor ffn_norm;        // [dim]
    Tensor w_gate, w_up;    // [ffn_dim, dim]
    Tensor w_down;          // [dim, ffn_dim]
    Tensor post_ffn_norm;   // optional [dim]

    // Mixture-of-experts layers (instead of w_gate/w_up/w_down).
    Tensor router;                // ffn_gate_inp [num_experts, dim]
    Tensor router_bias;           // optional F32 [num_experts]: DeepSeek-V3 selection bias
    Tensor gate_exps, up_exps;    // [num_experts, expert_ffn, dim]
    Tensor down_exps;             // [num_experts, dim, expert_ffn]
    Tensor gate_shexp, up_shexp;  // optional [shared_ffn, dim]
    Tensor down_shexp;            // optional [dim, shared_ffn]
    Tensor shexp_gate;            // optional [1, dim] (Qwen2-MoE)

    // Multi-head latent attention (instead of wq/wk/wv).
    Tensor wq_a, q_a_norm, wq_b;  // q-LoRA: [q_lora, dim], [q_lora], [heads * qk_head, q_lora]; else wq is used
    Tensor wkv_a;                 // [kv_lora + qk_rope, dim]
    Tensor kv_a_norm;             // [kv_lora]
    Tensor wk_b;                  // [heads, kv_lora, qk_nope]: q_nope -> latent space (absorbed)
    Tensor wv_b;                  // [heads, v_head, kv_lora]: latent -> value
};

// DeepSeek-V3's multi-token-prediction block, loaded and kept for speculative decoding (not used by forward()).
struct NextnWeights {
    Tensor eh_proj;           // [dim, 2 * dim]
    Tensor enorm, hnorm;      // [dim]
    Tensor shared_head_norm;  // optional [dim]
    LayerWeights layer;       // a full decoder layer
};

struct ModelWeights {
    Tensor token_embedding;  // [vocab, dim]
    Tensor output_norm;      // [dim]
    Tensor output;           // [vocab, dim]; the token embedding when tied
    Tensor rope_freqs;       // optional [n_rot / 2] (Llama 3.1 frequency factors)
    std::vector<LayerWeights> layers;
    std::vector<NextnWeights> nextn;  // DeepSeek-V3 MTP blocks (num_nextn_layers)
};

}  // namespace frugal
