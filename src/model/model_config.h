// Hyper-parameters and feature flags of a decoder-only transformer. Architectures fill this from GGUF metadata;
// the shared layers read the flags, so adding a model never touches a central switch.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "backend/backend.h"

namespace frugal {

struct ModelConfig {
    std::string arch;          // GGUF general.architecture
    std::string name;          // general.name, for display
    int64_t vocab_size = 0;
    int64_t dim = 0;           // n_embd
    int64_t num_layers = 0;
    int64_t num_heads = 0;
    int64_t num_kv_heads = 0;
    int64_t head_dim = 0;      // key/query head size
    int64_t head_dim_v = 0;    // value head size
    int64_t ffn_dim = 0;
    int64_t context_length = 0;  // trained context
    float norm_eps = 1e-5f;

    RopeMode rope_mode = RopeMode::kNormal;
    int n_rot = 0;
    float rope_freq_base = 10000.0f;
    float rope_freq_scale = 1.0f;
    float rope_freq_base_swa = 10000.0f;  // sliding-window layers (Gemma 3 uses a different theta there)
    float rope_freq_scale_swa = 1.0f;

    int sliding_window = 0;              // 0 = none
    std::vector<bool> layer_uses_swa;    // per layer; empty = no layer uses the window

    bool qkv_bias = false;         // Qwen2: biases on q, k, v projections
    bool qk_norm = false;          // Qwen3, Gemma 3: RMSNorm over each q and k head
    bool post_norms = false;       // Gemma: RMSNorm on the attention and FFN outputs before the residual add
    GluKind ffn_activation = GluKind::kSilu;
    float embedding_scale = 1.0f;  // Gemma: sqrt(dim)
    float attention_scale = 0.0f;  // 0 = 1/sqrt(head_dim)
    float attn_logit_softcap = 0.0f;
    float final_logit_softcap = 0.0f;

    // RoPE frequency divisors computed from the config (YaRN), used when the file has no rope_freqs tensor.
    std::vector<float> rope_freq_factors;  // [n_rot / 2]; empty = none

    // Mixture of experts; num_experts 0 = every layer dense.
    int64_t num_experts = 0;
    int64_t expert_ffn_dim = 0;         // per routed expert
    int64_t shared_expert_ffn_dim = 0;  // the shared expert(s) together, 0 = none
    bool shared_expert_gate = false;    // Qwen2-MoE: the shared expert's output is scaled by sigmoid(w x)
    MoeRouting routing;                 // top_k, gating, normalization, groups (selection_bias is per layer)
    std::vector<bool> layer_is_moe;     // per layer; empty = none

    // DeepSeek multi-head latent attention (kv_lora_rank > 0). Then head_dim = qk_nope + qk_rope,
    // head_dim_v = v_head_dim, n_rot = qk_rope, and the KV cache holds per token one latent [kv_lora_rank]
    // (the "K" cache) and one rotary key [qk_rope] (the "V" cache), shared by all heads.
    int64_t q_lora_rank = 0;  // 0 = q projected directly
    int64_t kv_lora_rank = 0;
    int64_t qk_nope_dim = 0;
    int64_t qk_rope_dim = 0;
    float rope_attn_factor = 1.0f;  // YaRN's multiplier of cos and sin (scales q_rope . k_rope by its square)
    int64_t num_nextn_layers = 0;   // DeepSeek-V3 multi-token-prediction layers stored after the trunk's

    bool layer_swa(int64_t layer) const {
        return !layer_uses_swa.empty() && layer_uses_swa[static_cast<size_t>(layer)];
    }
    bool layer_moe(int64_t layer) const {
        return !layer_is_moe.empty() && layer_is_moe[static_cast<size_t>(layer)];
    }
    bool mla() const { return kv_lora_rank > 0; }
    // What one cached token holds per layer: [cache_kv_heads, cache_k_dim] keys and [cache_kv_heads, cache_v_dim]
    // values (for MLA the latent and the rotary key).
    int64_t cache_kv_heads() const { return mla() ? 1 : num_kv_heads; }
    int64_t cache_k_dim() const { return mla() ? kv_lora_rank : head_dim; }
    int64_t cache_v_dim() const { return mla() ? qk_rope_dim : head_dim_v; }
    int64_t q_dim() const { return num_heads * head_dim; }
    int64_t kv_dim() const { return num_kv_heads * head_dim; }
    int64_t v_dim() const { return num_kv_heads * head_dim_v; }
};

}  // namespace frugal
