// Hugging Face config.json -> HfConfig, a plain description of the model's shape (sizes, attention layout, RoPE,
// MoE routing, DeepSeek MLA). Only the format stage: no mapping to frugal's model config (the model stage does
// that) and no rejection of architectures (the model registry decides). The input is hostile: every key read is
// type- and range-checked, and an error names the file and the key; unknown keys are ignored.
// Multimodal configs that nest the language model under "text_config" (Gemma 3) are read from that object,
// falling back to the top level for keys it lacks; "architectures" always comes from the top level.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace frugal {

enum class HfRopeScalingType : uint8_t {
    kNone,     // rope_scaling absent, null or rope_type "default"
    kLinear,   // positions divided by factor
    kLlama3,   // Llama 3.1 frequency-band interpolation
    kYarn,     // YaRN (DeepSeek V2/V3, Qwen long-context)
    kDynamic,  // dynamic NTK
};

std::string_view hf_rope_scaling_type_name(HfRopeScalingType t);  // as config.json spells it; "none" for kNone

// "rope_scaling", or transformers 5's "rope_parameters" (which also carries rope_theta): the type comes from
// "rope_type" or, in older configs, "type". Fields not used by the type keep
// their defaults.
struct HfRopeScaling {
    HfRopeScalingType type = HfRopeScalingType::kNone;
    double factor = 1.0;  // required for every type but kNone
    // kLlama3 (all required) and kYarn (optional there).
    std::optional<int64_t> original_max_position_embeddings;
    // kLlama3.
    double low_freq_factor = 0.0;
    double high_freq_factor = 0.0;
    // kYarn; beta defaults are transformers'. mscale and mscale_all_dim are DeepSeek's attention-scale terms.
    double beta_fast = 32.0;
    double beta_slow = 1.0;
    std::optional<double> mscale;
    std::optional<double> mscale_all_dim;
    std::optional<double> attention_factor;  // multiplies cos and sin; absent: derived from factor and the mscales
};

enum class HfScoringFunc : uint8_t { kSoftmax, kSigmoid };  // MoE router scores before top-k

struct HfConfig {
    std::string architecture;  // first entry of "architectures"; empty when the key is absent
    std::string model_type;    // of text_config when nested ("gemma3_text"), else the top level's
    std::string hidden_act;    // "hidden_act" or Gemma's "hidden_activation"; empty when absent

    int64_t vocab_size = 0;           // required
    int64_t hidden_size = 0;          // required
    int64_t intermediate_size = 0;    // dense FFN width; 0 when absent (every layer MoE)
    int64_t num_hidden_layers = 0;    // required
    int64_t num_attention_heads = 0;  // required
    int64_t num_key_value_heads = 0;  // defaults to num_attention_heads; divides it
    int64_t head_dim = 0;             // defaults to hidden_size / num_attention_heads (which must then divide)
    // Absent: the architecture's own default applies (transformers' differ: 1e-6 for Llama, 1e-5 for Mixtral).
    std::optional<double> rms_norm_eps;
    double rope_theta = 10000.0;
    std::optional<int64_t> max_position_embeddings;
    bool tie_word_embeddings = false;
    // q/k/v (and o) projection bias. Absent means false, but Qwen2 has q/k/v bias without stating it: the model
    // stage applies such per-architecture facts.
    bool attention_bias = false;
    std::optional<int64_t> bos_token_id;
    std::vector<int64_t> eos_token_ids;  // "eos_token_id" may be one id or a list
    // Sliding-window attention width; nullopt for full attention, also when "use_sliding_window" is false
    // (Qwen2 configs carry a window they do not use, as transformers reads them).
    std::optional<int64_t> sliding_window;
    HfRopeScaling rope_scaling;

    // Mixture of experts; num_experts 0 = dense. num_experts is read from "num_experts" (Qwen MoE),
    // "num_local_experts" (Mixtral) or "n_routed_experts" (DeepSeek); two of them disagreeing is an error.
    int64_t num_experts = 0;
    int64_t num_experts_per_tok = 0;    // 1..num_experts when num_experts > 0
    int64_t moe_intermediate_size = 0;  // per-expert FFN width; 0 when absent (Mixtral uses intermediate_size)
    int64_t shared_expert_intermediate_size = 0;  // Qwen2-MoE's gated shared expert; 0 = none
    int64_t n_shared_experts = 0;                 // DeepSeek's shared experts (moe_intermediate_size each)
    std::optional<bool> norm_topk_prob;           // absent: the architecture's default
    int64_t first_k_dense_replace = 0;            // DeepSeek: the first k layers are dense
    int64_t moe_layer_freq = 1;                   // DeepSeek: every n-th layer after those is MoE
    int64_t decoder_sparse_step = 1;              // Qwen MoE: every n-th layer is MoE
    std::vector<int64_t> mlp_only_layers;         // Qwen MoE: layers forced dense
    int64_t n_group = 0;                          // DeepSeek group-limited routing; 0 = absent
    int64_t topk_group = 0;
    std::string topk_method;  // DeepSeek: "greedy", "group_limited_greedy", "noaux_tc"; empty when absent
    HfScoringFunc scoring_func = HfScoringFunc::kSoftmax;
    double routed_scaling_factor = 1.0;

    // DeepSeek multi-head latent attention; kv_lora_rank 0 = not MLA. q_lora_rank nullopt = q is projected
    // directly (DeepSeek-V2-Lite), else through a rank-q_lora_rank bottleneck.
    std::optional<int64_t> q_lora_rank;
    int64_t kv_lora_rank = 0;
    int64_t qk_nope_head_dim = 0;
    int64_t qk_rope_head_dim = 0;
    int64_t v_head_dim = 0;
    int64_t num_nextn_predict_layers = 0;  // DeepSeek V3 multi-token-prediction layers (stored after the rest)
};

// Caps on sizes read from a config: larger values are corruption, not a model.
inline constexpr int64_t kHfMaxDim = int64_t{1} << 24;  // vocab, widths, head counts, expert counts
inline constexpr int64_t kHfMaxLayers = 4096;
inline constexpr int64_t kHfMaxPositions = int64_t{1} << 30;  // max_position_embeddings, sliding_window
inline constexpr size_t kHfMaxConfigBytes = size_t{16} << 20;

// Parses config.json text. name_for_errors prefixes every error message (usually the path).
Result<HfConfig> parse_hf_config(std::string_view json_text, const std::string& name_for_errors);
// path is a config.json or a folder holding one.
Result<HfConfig> load_hf_config(const std::string& path);

// Architectures ("architectures"[0]) frugal plans to support. Informational: parse_hf_config accepts any.
bool hf_architecture_supported(std::string_view arch);

}  // namespace frugal
