// Qwen2-MoE (Qwen1.5-MoE, Qwen2-57B-A14B) and Qwen3-MoE: the Qwen2 / Qwen3 attention (q/k/v biases, or q/k
// RMSNorm) with every FFN a mixture of fine-grained experts: softmax over the router logits, top-k, renormalized
// for Qwen3 (norm_topk_prob) and not for Qwen2. Qwen2-MoE adds one shared expert scaled by sigmoid(w x).
#include <fmt/format.h>

#include "model/arch/architecture.h"

namespace frugal {
namespace {

Status read_qwen2moe(const GgufFile& file, ModelConfig* c) {
    RETURN_IF_ERROR(read_common_config(file, "qwen2moe", c));
    c->rope_mode = RopeMode::kNeox;
    c->qkv_bias = true;
    RETURN_IF_ERROR(read_moe_config(file, "qwen2moe", /*default_normalize=*/false, c));
    c->shared_expert_ffn_dim = file.get_int_or("qwen2moe.expert_shared_feed_forward_length", 0);
    c->shared_expert_gate = c->shared_expert_ffn_dim > 0;
    if (c->num_experts == 0) return Status::error("qwen2moe.expert_count is missing");
    return ok_status();
}

Status read_qwen3moe(const GgufFile& file, ModelConfig* c) {
    RETURN_IF_ERROR(read_common_config(file, "qwen3moe", c));
    c->rope_mode = RopeMode::kNeox;
    c->qk_norm = true;
    RETURN_IF_ERROR(read_moe_config(file, "qwen3moe", /*default_normalize=*/true, c));
    if (c->num_experts == 0) return Status::error("qwen3moe.expert_count is missing");
    return ok_status();
}

Status convert_qwen_moe(HfCheckpoint& ckpt, const std::string& arch, bool default_normalize) {
    const HfConfig& c = ckpt.config();
    if (c.num_experts == 0) return Status::error("config.json has no num_experts");
    if (!c.mlp_only_layers.empty() || c.decoder_sparse_step != 1) {
        return Status::error(
            "Qwen MoE checkpoints with dense layers (mlp_only_layers, decoder_sparse_step > 1) are "
            "not supported: llama.cpp's format has every layer MoE");
    }
    RETURN_IF_ERROR(ckpt.add_common_metadata(arch, 1e-6, c.intermediate_size));
    GgufWriter& w = ckpt.out();
    w.set_uint32(arch + ".expert_count", static_cast<uint32_t>(c.num_experts));
    w.set_uint32(arch + ".expert_used_count", static_cast<uint32_t>(c.num_experts_per_tok));
    w.set_uint32(arch + ".expert_feed_forward_length", static_cast<uint32_t>(c.moe_intermediate_size));
    w.set_bool(arch + ".expert_weights_norm", c.norm_topk_prob.value_or(default_normalize));
    if (c.shared_expert_intermediate_size > 0) {
        w.set_uint32(arch + ".expert_shared_feed_forward_length",
                     static_cast<uint32_t>(c.shared_expert_intermediate_size));
    }
    RETURN_IF_ERROR(ckpt.add_embeddings_and_output());
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        RETURN_IF_ERROR(ckpt.add_attention(l, /*permute_qk=*/false));
        const std::string hf = fmt::format("model.layers.{}.mlp.", l);
        const std::string gg = fmt::format("blk.{}.", l);
        RETURN_IF_ERROR(ckpt.add(gg + "ffn_gate_inp.weight", hf + "gate.weight"));
        RETURN_IF_ERROR(ckpt.add_expert_ffn(gg, hf + "experts.", {"gate_proj", "up_proj", "down_proj"}, c.num_experts));
        if (c.shared_expert_intermediate_size > 0) {
            RETURN_IF_ERROR(ckpt.add_ffn(gg, hf + "shared_expert.", "_shexp"));
            RETURN_IF_ERROR(ckpt.add(gg + "ffn_gate_inp_shexp.weight", hf + "shared_expert_gate.weight"));
        }
    }
    return ok_status();
}

Status convert_qwen2moe(HfCheckpoint& ckpt) { return convert_qwen_moe(ckpt, "qwen2moe", false); }
Status convert_qwen3moe(HfCheckpoint& ckpt) { return convert_qwen_moe(ckpt, "qwen3moe", true); }

}  // namespace

Architecture qwen2moe_architecture() {
    return {"qwen2moe", &read_qwen2moe, {"Qwen2MoeForCausalLM"}, &convert_qwen2moe};
}
Architecture qwen3moe_architecture() {
    return {"qwen3moe", &read_qwen3moe, {"Qwen3MoeForCausalLM"}, &convert_qwen3moe};
}

}  // namespace frugal
