// Llama 1/2/3, Mistral, Mixtral, TinyLlama, llama2.c checkpoints: pre-norm, SwiGLU, GQA, RoPE on adjacent pairs (GGUF
// converters permute q/k so that llama.cpp's "normal" rotation applies). Mixtral is this architecture with
// expert_count set: every FFN is top-k of n experts, softmax over the router logits, renormalized over the chosen.
#include <fmt/format.h>

#include "model/arch/architecture.h"

namespace frugal {
namespace {

Status read_llama(const GgufFile& file, ModelConfig* c) {
    RETURN_IF_ERROR(read_common_config(file, "llama", c));
    c->rope_mode = RopeMode::kNormal;
    c->ffn_activation = GluKind::kSilu;
    return read_moe_config(file, "llama", /*default_normalize=*/true, c);
}

Status convert_llama(HfCheckpoint& ckpt) {
    const HfConfig& c = ckpt.config();
    const bool mixtral = c.num_experts > 0;
    const double default_eps = mixtral ? 1e-5 : 1e-6;
    RETURN_IF_ERROR(ckpt.add_common_metadata("llama", default_eps, c.intermediate_size));
    if (mixtral) {
        ckpt.out().set_uint32("llama.expert_count", static_cast<uint32_t>(c.num_experts));
        ckpt.out().set_uint32("llama.expert_used_count", static_cast<uint32_t>(c.num_experts_per_tok));
    }
    RETURN_IF_ERROR(ckpt.add_embeddings_and_output());
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        RETURN_IF_ERROR(ckpt.add_attention(l, /*permute_qk=*/true));
        if (!mixtral) {
            RETURN_IF_ERROR(ckpt.add_dense_ffn(l));
            continue;
        }
        const std::string hf = fmt::format("model.layers.{}.block_sparse_moe.", l);
        const std::string gg = fmt::format("blk.{}.", l);
        RETURN_IF_ERROR(ckpt.add(gg + "ffn_gate_inp.weight", hf + "gate.weight"));
        RETURN_IF_ERROR(ckpt.add_expert_ffn(gg, hf + "experts.", {"w1", "w3", "w2"}, c.num_experts));
    }
    return ok_status();
}

}  // namespace

Architecture llama_architecture() {
    return {"llama", &read_llama, {"LlamaForCausalLM", "MistralForCausalLM", "MixtralForCausalLM"}, &convert_llama};
}

}  // namespace frugal
