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

    bool layer_swa(int64_t layer) const {
        return !layer_uses_swa.empty() && layer_uses_swa[static_cast<size_t>(layer)];
    }
    int64_t q_dim() const { return num_heads * head_dim; }
    int64_t kv_dim() const { return num_kv_heads * head_dim; }
    int64_t v_dim() const { return num_kv_heads * head_dim_v; }
};

}  // namespace frugal
