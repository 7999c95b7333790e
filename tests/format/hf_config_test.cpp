// Hugging Face config.json parser: real configs of the planned architectures (Llama 3.2, Qwen2.5, Mixtral,
// Qwen1.5-MoE, Qwen3-MoE, DeepSeek V2-Lite and V3, a Gemma 3 nested text_config) parse to every field; absent
// keys take their defaults; malformed input gives an error naming the file and the offending key.
#include "format/hf_config/hf_config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace frugal {
namespace {

namespace fs = std::filesystem;

HfConfig parse_ok(const std::string& text) {
    Result<HfConfig> r = parse_hf_config(text, "config.json");
    EXPECT_TRUE(r.ok()) << r.status().message();
    return r.ok() ? r.value() : HfConfig{};
}

constexpr const char* kLlama32_1B = R"({
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu", "hidden_size": 2048,
  "initializer_range": 0.02, "intermediate_size": 8192, "max_position_embeddings": 131072, "mlp_bias": false,
  "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.45.0.dev0", "use_cache": true, "vocab_size": 128256
})";

TEST(HfConfig, Llama32_1B) {
    const HfConfig c = parse_ok(kLlama32_1B);
    EXPECT_EQ(c.architecture, "LlamaForCausalLM");
    EXPECT_EQ(c.model_type, "llama");
    EXPECT_EQ(c.hidden_act, "silu");
    EXPECT_EQ(c.vocab_size, 128256);
    EXPECT_EQ(c.hidden_size, 2048);
    EXPECT_EQ(c.intermediate_size, 8192);
    EXPECT_EQ(c.num_hidden_layers, 16);
    EXPECT_EQ(c.num_attention_heads, 32);
    EXPECT_EQ(c.num_key_value_heads, 8);
    EXPECT_EQ(c.head_dim, 64);
    EXPECT_EQ(c.rms_norm_eps, 1e-5);
    EXPECT_EQ(c.rope_theta, 500000.0);
    EXPECT_EQ(c.max_position_embeddings, 131072);
    EXPECT_TRUE(c.tie_word_embeddings);
    EXPECT_FALSE(c.attention_bias);
    EXPECT_EQ(c.bos_token_id, 128000);
    EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{128001});
    EXPECT_FALSE(c.sliding_window);
    EXPECT_EQ(c.rope_scaling.type, HfRopeScalingType::kLlama3);
    EXPECT_EQ(hf_rope_scaling_type_name(c.rope_scaling.type), "llama3");
    EXPECT_EQ(c.rope_scaling.factor, 32.0);
    EXPECT_EQ(c.rope_scaling.low_freq_factor, 1.0);
    EXPECT_EQ(c.rope_scaling.high_freq_factor, 4.0);
    EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 8192);
    EXPECT_EQ(c.num_experts, 0);
    EXPECT_EQ(c.kv_lora_rank, 0);
    EXPECT_TRUE(hf_architecture_supported(c.architecture));
}

constexpr const char* kQwen25_05B = R"({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
  "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 24, "model_type": "qwen2",
  "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2, "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.40.1", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936
})";

TEST(HfConfig, Qwen25_05B) {
    const HfConfig c = parse_ok(kQwen25_05B);
    EXPECT_EQ(c.architecture, "Qwen2ForCausalLM");
    EXPECT_EQ(c.model_type, "qwen2");
    EXPECT_EQ(c.vocab_size, 151936);
    EXPECT_EQ(c.hidden_size, 896);
    EXPECT_EQ(c.intermediate_size, 4864);
    EXPECT_EQ(c.num_hidden_layers, 24);
    EXPECT_EQ(c.num_attention_heads, 14);
    EXPECT_EQ(c.num_key_value_heads, 2);
    EXPECT_EQ(c.head_dim, 64);  // 896 / 14
    EXPECT_EQ(c.rms_norm_eps, 1e-6);
    EXPECT_EQ(c.rope_theta, 1e6);
    EXPECT_EQ(c.max_position_embeddings, 32768);
    EXPECT_TRUE(c.tie_word_embeddings);
    EXPECT_EQ(c.bos_token_id, 151643);
    EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{151643});
    EXPECT_FALSE(c.sliding_window);  // use_sliding_window false
    EXPECT_EQ(c.rope_scaling.type, HfRopeScalingType::kNone);
}

constexpr const char* kMixtral8x7B = R"({
  "architectures": ["MixtralForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 1, "eos_token_id": 2,
  "hidden_act": "silu", "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 32768, "model_type": "mixtral", "num_attention_heads": 32,
  "num_experts_per_tok": 2, "num_hidden_layers": 32, "num_key_value_heads": 8, "num_local_experts": 8,
  "output_router_logits": false, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.02,
  "sliding_window": null, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.36.0.dev0", "use_cache": true, "vocab_size": 32000
})";

TEST(HfConfig, Mixtral8x7B) {
    const HfConfig c = parse_ok(kMixtral8x7B);
    EXPECT_EQ(c.architecture, "MixtralForCausalLM");
    EXPECT_EQ(c.model_type, "mixtral");
    EXPECT_EQ(c.vocab_size, 32000);
    EXPECT_EQ(c.hidden_size, 4096);
    EXPECT_EQ(c.intermediate_size, 14336);
    EXPECT_EQ(c.num_hidden_layers, 32);
    EXPECT_EQ(c.num_attention_heads, 32);
    EXPECT_EQ(c.num_key_value_heads, 8);
    EXPECT_EQ(c.head_dim, 128);
    EXPECT_EQ(c.rms_norm_eps, 1e-5);
    EXPECT_EQ(c.rope_theta, 1e6);
    EXPECT_FALSE(c.tie_word_embeddings);
    EXPECT_EQ(c.bos_token_id, 1);
    EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{2});
    EXPECT_FALSE(c.sliding_window);
    EXPECT_EQ(c.num_experts, 8);
    EXPECT_EQ(c.num_experts_per_tok, 2);
    EXPECT_EQ(c.moe_intermediate_size, 0);
    EXPECT_FALSE(c.norm_topk_prob);
    EXPECT_EQ(c.scoring_func, HfScoringFunc::kSoftmax);
}

constexpr const char* kQwen15MoeA27B = R"({
  "architectures": ["Qwen2MoeForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 2048, "initializer_range": 0.02,
  "intermediate_size": 5632, "max_position_embeddings": 8192, "max_window_layers": 21, "model_type": "qwen2_moe",
  "num_attention_heads": 16, "num_hidden_layers": 24, "num_key_value_heads": 16, "rms_norm_eps": 1e-06,
  "rope_theta": 1000000.0, "sliding_window": 32768, "tie_word_embeddings": false, "torch_dtype": "bfloat16",
  "transformers_version": "4.39.0.dev0", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936,
  "decoder_sparse_step": 1, "moe_intermediate_size": 1408, "shared_expert_intermediate_size": 5632,
  "num_experts_per_tok": 4, "num_experts": 60, "norm_topk_prob": false, "output_router_logits": false,
  "router_aux_loss_coef": 0.001
})";

TEST(HfConfig, Qwen15MoeA27B) {
    const HfConfig c = parse_ok(kQwen15MoeA27B);
    EXPECT_EQ(c.architecture, "Qwen2MoeForCausalLM");
    EXPECT_EQ(c.model_type, "qwen2_moe");
    EXPECT_EQ(c.vocab_size, 151936);
    EXPECT_EQ(c.hidden_size, 2048);
    EXPECT_EQ(c.intermediate_size, 5632);
    EXPECT_EQ(c.num_hidden_layers, 24);
    EXPECT_EQ(c.num_attention_heads, 16);
    EXPECT_EQ(c.num_key_value_heads, 16);
    EXPECT_EQ(c.head_dim, 128);
    EXPECT_EQ(c.max_position_embeddings, 8192);
    EXPECT_FALSE(c.sliding_window);
    EXPECT_EQ(c.num_experts, 60);
    EXPECT_EQ(c.num_experts_per_tok, 4);
    EXPECT_EQ(c.moe_intermediate_size, 1408);
    EXPECT_EQ(c.shared_expert_intermediate_size, 5632);
    EXPECT_EQ(c.decoder_sparse_step, 1);
    EXPECT_EQ(c.norm_topk_prob, false);
    EXPECT_EQ(c.n_shared_experts, 0);
}

constexpr const char* kQwen3_30B_A3B = R"({
  "architectures": ["Qwen3MoeForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 151643, "decoder_sparse_step": 1, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
  "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 6144, "max_position_embeddings": 40960,
  "max_window_layers": 48, "mlp_only_layers": [], "model_type": "qwen3_moe", "moe_intermediate_size": 768,
  "norm_topk_prob": true, "num_attention_heads": 32, "num_experts": 128, "num_experts_per_tok": 8,
  "num_hidden_layers": 48, "num_key_value_heads": 4, "output_router_logits": false, "rms_norm_eps": 1e-06,
  "rope_scaling": null, "rope_theta": 1000000.0, "router_aux_loss_coef": 0.001, "sliding_window": null,
  "tie_word_embeddings": false, "torch_dtype": "bfloat16", "transformers_version": "4.51.0", "use_cache": true,
  "use_sliding_window": false, "vocab_size": 151936
})";

TEST(HfConfig, Qwen3_30B_A3B) {
    const HfConfig c = parse_ok(kQwen3_30B_A3B);
    EXPECT_EQ(c.architecture, "Qwen3MoeForCausalLM");
    EXPECT_EQ(c.model_type, "qwen3_moe");
    EXPECT_EQ(c.vocab_size, 151936);
    EXPECT_EQ(c.hidden_size, 2048);
    EXPECT_EQ(c.intermediate_size, 6144);
    EXPECT_EQ(c.num_hidden_layers, 48);
    EXPECT_EQ(c.num_attention_heads, 32);
    EXPECT_EQ(c.num_key_value_heads, 4);
    EXPECT_EQ(c.head_dim, 128);  // explicit: 32 * 128 != 2048
    EXPECT_EQ(c.max_position_embeddings, 40960);
    EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{151645});
    EXPECT_EQ(c.rope_scaling.type, HfRopeScalingType::kNone);
    EXPECT_EQ(c.num_experts, 128);
    EXPECT_EQ(c.num_experts_per_tok, 8);
    EXPECT_EQ(c.moe_intermediate_size, 768);
    EXPECT_EQ(c.shared_expert_intermediate_size, 0);
    EXPECT_EQ(c.norm_topk_prob, true);
    EXPECT_TRUE(c.mlp_only_layers.empty());
}

constexpr const char* kDeepSeekV2Lite = R"({
  "architectures": ["DeepseekV2ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "auto_map": {"AutoConfig": "configuration_deepseek.DeepseekV2Config"}, "aux_loss_alpha": 0.001,
  "bos_token_id": 100000, "eos_token_id": 100001, "first_k_dense_replace": 1, "hidden_act": "silu",
  "hidden_size": 2048, "initializer_range": 0.02, "intermediate_size": 10944, "kv_lora_rank": 512,
  "max_position_embeddings": 163840, "model_type": "deepseek_v2", "moe_intermediate_size": 1408,
  "moe_layer_freq": 1, "n_group": 1, "n_routed_experts": 64, "n_shared_experts": 2, "norm_topk_prob": false,
  "num_attention_heads": 16, "num_experts_per_tok": 6, "num_hidden_layers": 27, "num_key_value_heads": 16,
  "pretraining_tp": 1, "q_lora_rank": null, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
  "rms_norm_eps": 1e-06,
  "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 0.707, "mscale_all_dim": 0.707,
                   "original_max_position_embeddings": 4096, "type": "yarn"},
  "rope_theta": 10000, "routed_scaling_factor": 1.0, "scoring_func": "softmax", "seq_aux": true,
  "tie_word_embeddings": false, "topk_group": 1, "topk_method": "greedy", "torch_dtype": "bfloat16",
  "transformers_version": "4.33.1", "use_cache": true, "v_head_dim": 128, "vocab_size": 102400
})";

TEST(HfConfig, DeepSeekV2Lite) {
    const HfConfig c = parse_ok(kDeepSeekV2Lite);
    EXPECT_EQ(c.architecture, "DeepseekV2ForCausalLM");
    EXPECT_EQ(c.model_type, "deepseek_v2");
    EXPECT_EQ(c.vocab_size, 102400);
    EXPECT_EQ(c.hidden_size, 2048);
    EXPECT_EQ(c.intermediate_size, 10944);
    EXPECT_EQ(c.num_hidden_layers, 27);
    EXPECT_EQ(c.num_attention_heads, 16);
    EXPECT_EQ(c.num_key_value_heads, 16);
    EXPECT_EQ(c.max_position_embeddings, 163840);
    EXPECT_EQ(c.bos_token_id, 100000);
    EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{100001});
    EXPECT_EQ(c.rope_theta, 10000.0);
    EXPECT_EQ(c.rope_scaling.type, HfRopeScalingType::kYarn);  // legacy "type" key
    EXPECT_EQ(c.rope_scaling.factor, 40.0);
    EXPECT_EQ(c.rope_scaling.beta_fast, 32.0);
    EXPECT_EQ(c.rope_scaling.beta_slow, 1.0);
    EXPECT_EQ(c.rope_scaling.mscale, 0.707);
    EXPECT_EQ(c.rope_scaling.mscale_all_dim, 0.707);
    EXPECT_EQ(c.rope_scaling.original_max_position_embeddings, 4096);
    EXPECT_EQ(c.num_experts, 64);
    EXPECT_EQ(c.num_experts_per_tok, 6);
    EXPECT_EQ(c.moe_intermediate_size, 1408);
    EXPECT_EQ(c.n_shared_experts, 2);
    EXPECT_EQ(c.norm_topk_prob, false);
    EXPECT_EQ(c.first_k_dense_replace, 1);
    EXPECT_EQ(c.moe_layer_freq, 1);
    EXPECT_EQ(c.n_group, 1);
    EXPECT_EQ(c.topk_group, 1);
    EXPECT_EQ(c.topk_method, "greedy");
    EXPECT_EQ(c.scoring_func, HfScoringFunc::kSoftmax);
    EXPECT_EQ(c.routed_scaling_factor, 1.0);
    EXPECT_FALSE(c.q_lora_rank);
    EXPECT_EQ(c.kv_lora_rank, 512);
    EXPECT_EQ(c.qk_nope_head_dim, 128);
    EXPECT_EQ(c.qk_rope_head_dim, 64);
    EXPECT_EQ(c.v_head_dim, 128);
    EXPECT_EQ(c.num_nextn_predict_layers, 0);
}

constexpr const char* kDeepSeekV3 = R"({
  "architectures": ["DeepseekV3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "aux_loss_alpha": 0.001, "bos_token_id": 0, "eos_token_id": 1, "ep_size": 1, "first_k_dense_replace": 3,
  "hidden_act": "silu", "hidden_size": 7168, "initializer_range": 0.02, "intermediate_size": 18432,
  "kv_lora_rank": 512, "max_position_embeddings": 163840, "model_type": "deepseek_v3",
  "moe_intermediate_size": 2048, "moe_layer_freq": 1, "n_group": 8, "n_routed_experts": 256,
  "n_shared_experts": 1, "norm_topk_prob": true, "num_attention_heads": 128, "num_experts_per_tok": 8,
  "num_hidden_layers": 61, "num_key_value_heads": 128, "num_nextn_predict_layers": 1, "q_lora_rank": 1536,
  "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
  "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3", "quant_method": "fp8",
                          "weight_block_size": [128, 128]},
  "rms_norm_eps": 1e-06,
  "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0,
                   "original_max_position_embeddings": 4096, "type": "yarn"},
  "rope_theta": 10000, "routed_scaling_factor": 2.5, "scoring_func": "sigmoid", "seq_aux": true,
  "tie_word_embeddings": false, "topk_group": 4, "topk_method": "noaux_tc", "torch_dtype": "bfloat16",
  "transformers_version": "4.33.1", "use_cache": true, "v_head_dim": 128, "vocab_size": 129280
})";

TEST(HfConfig, DeepSeekV3) {
    const HfConfig c = parse_ok(kDeepSeekV3);
    EXPECT_EQ(c.architecture, "DeepseekV3ForCausalLM");
    EXPECT_EQ(c.model_type, "deepseek_v3");
    EXPECT_EQ(c.vocab_size, 129280);
    EXPECT_EQ(c.hidden_size, 7168);
    EXPECT_EQ(c.intermediate_size, 18432);
    EXPECT_EQ(c.num_hidden_layers, 61);
    EXPECT_EQ(c.num_attention_heads, 128);
    EXPECT_EQ(c.num_key_value_heads, 128);
    EXPECT_EQ(c.head_dim, 56);
    EXPECT_EQ(c.bos_token_id, 0);
    EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{1});
    EXPECT_EQ(c.rope_scaling.type, HfRopeScalingType::kYarn);
    EXPECT_EQ(c.rope_scaling.mscale, 1.0);
    EXPECT_EQ(c.rope_scaling.mscale_all_dim, 1.0);
    EXPECT_EQ(c.num_experts, 256);
    EXPECT_EQ(c.num_experts_per_tok, 8);
    EXPECT_EQ(c.moe_intermediate_size, 2048);
    EXPECT_EQ(c.n_shared_experts, 1);
    EXPECT_EQ(c.norm_topk_prob, true);
    EXPECT_EQ(c.first_k_dense_replace, 3);
    EXPECT_EQ(c.n_group, 8);
    EXPECT_EQ(c.topk_group, 4);
    EXPECT_EQ(c.topk_method, "noaux_tc");
    EXPECT_EQ(c.scoring_func, HfScoringFunc::kSigmoid);
    EXPECT_EQ(c.routed_scaling_factor, 2.5);
    EXPECT_EQ(c.q_lora_rank, 1536);
    EXPECT_EQ(c.kv_lora_rank, 512);
    EXPECT_EQ(c.qk_nope_head_dim, 128);
    EXPECT_EQ(c.qk_rope_head_dim, 64);
    EXPECT_EQ(c.v_head_dim, 128);
    EXPECT_EQ(c.num_nextn_predict_layers, 1);
}

// Values stated here, not checked against a released checkpoint: the test is of the text_config fallback.
TEST(HfConfig, NestedTextConfig) {
    const HfConfig c = parse_ok(R"({
      "architectures": ["Gemma3ForConditionalGeneration"], "model_type": "gemma3", "eos_token_id": [1, 106],
      "text_config": {"model_type": "gemma3_text", "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 2560,
                      "intermediate_size": 10240, "num_hidden_layers": 34, "num_attention_heads": 8,
                      "num_key_value_heads": 4, "head_dim": 256, "sliding_window": 1024, "vocab_size": 262208,
                      "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "rope_theta": 1000000.0},
      "vision_config": {"hidden_size": 1152}
    })");
    EXPECT_EQ(c.architecture, "Gemma3ForConditionalGeneration");
    EXPECT_FALSE(hf_architecture_supported(c.architecture));
    EXPECT_EQ(c.model_type, "gemma3_text");
    EXPECT_EQ(c.hidden_act, "gelu_pytorch_tanh");
    EXPECT_EQ(c.hidden_size, 2560);
    EXPECT_EQ(c.head_dim, 256);
    EXPECT_EQ(c.num_key_value_heads, 4);
    EXPECT_EQ(c.sliding_window, 1024);
    EXPECT_EQ(c.vocab_size, 262208);
    EXPECT_EQ(c.rope_scaling.type, HfRopeScalingType::kLinear);
    EXPECT_EQ(c.rope_scaling.factor, 8.0);
    EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{1, 106}));  // from the top level
}

TEST(HfConfig, Defaults) {
    const HfConfig c =
        parse_ok(R"({"vocab_size": 100, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4})");
    EXPECT_EQ(c.architecture, "");
    EXPECT_EQ(c.model_type, "");
    EXPECT_EQ(c.intermediate_size, 0);
    EXPECT_EQ(c.num_key_value_heads, 4);
    EXPECT_EQ(c.head_dim, 16);
    EXPECT_FALSE(c.rms_norm_eps);
    EXPECT_EQ(c.rope_theta, 10000.0);
    EXPECT_FALSE(c.max_position_embeddings);
    EXPECT_FALSE(c.tie_word_embeddings);
    EXPECT_FALSE(c.attention_bias);
    EXPECT_FALSE(c.bos_token_id);
    EXPECT_TRUE(c.eos_token_ids.empty());
    EXPECT_FALSE(c.sliding_window);
    EXPECT_EQ(c.rope_scaling.type, HfRopeScalingType::kNone);
    EXPECT_EQ(c.num_experts, 0);
    EXPECT_EQ(c.moe_layer_freq, 1);
    EXPECT_EQ(c.decoder_sparse_step, 1);
    EXPECT_FALSE(c.norm_topk_prob);
    EXPECT_EQ(c.scoring_func, HfScoringFunc::kSoftmax);
    EXPECT_EQ(c.routed_scaling_factor, 1.0);
    EXPECT_FALSE(c.q_lora_rank);
    EXPECT_EQ(c.kv_lora_rank, 0);
    EXPECT_EQ(c.num_nextn_predict_layers, 0);
}

TEST(HfConfig, SupportedArchitectures) {
    for (const char* arch : {"LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM",
                             "MixtralForCausalLM", "Qwen2MoeForCausalLM", "Qwen3MoeForCausalLM",
                             "DeepseekV2ForCausalLM", "DeepseekV3ForCausalLM", "Gemma3ForCausalLM"}) {
        EXPECT_TRUE(hf_architecture_supported(arch)) << arch;
    }
    EXPECT_FALSE(hf_architecture_supported("GPT2LMHeadModel"));
    EXPECT_FALSE(hf_architecture_supported(""));
}

struct Malformed {
    const char* patch;   // keys merged into Llama 3.2 1B's config; null removes a key
    const char* expect;  // substring of the error message
};

TEST(HfConfig, MalformedInputNamesTheKey) {
    const Malformed cases[] = {
        {R"({"hidden_size": "2048"})", "'hidden_size'"},
        {R"({"hidden_size": -2048})", "'hidden_size'"},
        {R"({"hidden_size": 0})", "'hidden_size'"},
        {R"({"hidden_size": 2048.5})", "'hidden_size'"},
        {R"({"vocab_size": 99999999999})", "'vocab_size'"},
        {R"({"vocab_size": null})", "'vocab_size' is missing"},
        {R"({"num_hidden_layers": 5000})", "'num_hidden_layers'"},
        {R"({"num_key_value_heads": 5})", "'num_key_value_heads'"},
        {R"({"head_dim": null, "num_attention_heads": 30, "num_key_value_heads": 10})", "'num_attention_heads'"},
        {R"({"rope_scaling": {"rope_type": "longrope", "factor": 4.0}})", "'rope_scaling.rope_type'"},
        {R"({"rope_scaling": {"rope_type": "llama3", "factor": 8.0}})", "'rope_scaling.low_freq_factor'"},
        {R"({"rope_scaling": {"rope_type": "linear", "factor": -1}})", "'rope_scaling.factor'"},
        {R"({"rope_scaling": "yarn"})", "'rope_scaling'"},
        {R"({"rope_theta": "big"})", "'rope_theta'"},
        {R"({"rms_norm_eps": 0})", "'rms_norm_eps'"},
        {R"({"tie_word_embeddings": "true"})", "'tie_word_embeddings'"},
        {R"({"eos_token_id": [1, "2"]})", "'eos_token_id[1]'"},
        {R"({"architectures": "LlamaForCausalLM"})", "'architectures'"},
        {R"({"num_experts": 8, "num_experts_per_tok": 9})", "'num_experts_per_tok'"},
        {R"({"num_local_experts": 8, "n_routed_experts": 16, "num_experts_per_tok": 2})", "'n_routed_experts'"},
        {R"({"scoring_func": "relu"})", "'scoring_func'"},
        {R"({"kv_lora_rank": 512})", "'qk_nope_head_dim'"},
        {R"({"q_lora_rank": -1})", "'q_lora_rank'"},
        {R"({"text_config": {"hidden_size": true}})", "'text_config.hidden_size'"},
    };
    const nlohmann::json base = nlohmann::json::parse(kLlama32_1B);
    for (const Malformed& m : cases) {
        nlohmann::json config = base;
        const nlohmann::json patch = nlohmann::json::parse(m.patch);
        for (const auto& [key, value] : patch.items()) {
            if (value.is_null()) {
                config.erase(key);
            } else {
                config[key] = value;
            }
        }
        const Result<HfConfig> r = parse_hf_config(config.dump(), "some/config.json");
        ASSERT_FALSE(r.ok()) << m.patch;
        EXPECT_NE(r.status().message().find("some/config.json: "), std::string::npos) << r.status().message();
        EXPECT_NE(r.status().message().find(m.expect), std::string::npos) << r.status().message();
    }
}

TEST(HfConfig, MalformedJson) {
    for (const char* text : {"", "{", "[1, 2]", "{\"vocab_size\": 1,}", "{\"a\": 1, \"a\": 2}", "\"\xff\""}) {
        const Result<HfConfig> r = parse_hf_config(text, "bad.json");
        ASSERT_FALSE(r.ok()) << text;
        EXPECT_TRUE(r.status().message().starts_with("bad.json: ")) << r.status().message();
    }
    std::string deep(100, '[');
    deep += std::string(100, ']');
    const Result<HfConfig> r = parse_hf_config(deep, "deep.json");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("nests deeper"), std::string::npos) << r.status().message();
}

TEST(HfConfig, LoadFromFolderAndFile) {
    const fs::path dir = fs::path(FRUGAL_TEST_SCRATCH_DIR) / "hf_config";
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::ofstream(dir / "config.json") << kQwen3_30B_A3B;

    Result<HfConfig> from_dir = load_hf_config(dir.string());
    ASSERT_TRUE(from_dir.ok()) << from_dir.status().message();
    EXPECT_EQ(from_dir->num_experts, 128);
    Result<HfConfig> from_file = load_hf_config((dir / "config.json").string());
    ASSERT_TRUE(from_file.ok()) << from_file.status().message();
    EXPECT_EQ(from_file->hidden_size, 2048);

    const Result<HfConfig> missing = load_hf_config((dir / "nothing").string());
    ASSERT_FALSE(missing.ok());
    EXPECT_NE(missing.status().message().find("nothing"), std::string::npos);

    std::ofstream(dir / "bad.json") << R"({"vocab_size": "x"})";
    const Result<HfConfig> bad = load_hf_config((dir / "bad.json").string());
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.status().message().find("bad.json: key 'vocab_size'"), std::string::npos) << bad.status().message();
}

}  // namespace
}  // namespace frugal
