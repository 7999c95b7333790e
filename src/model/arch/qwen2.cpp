// Qwen2 / Qwen2.5: Llama layout with biases on the q, k and v projections and NeoX-style RoPE.
#include "model/arch/architecture.h"

namespace frugal {
namespace {

Status read_qwen2(const GgufFile& file, ModelConfig* c) {
    RETURN_IF_ERROR(read_common_config(file, "qwen2", c));
    c->rope_mode = RopeMode::kNeox;
    c->qkv_bias = true;
    return ok_status();
}

Status convert_qwen2(HfCheckpoint& ckpt) {
    const HfConfig& c = ckpt.config();
    RETURN_IF_ERROR(ckpt.add_common_metadata("qwen2", 1e-6, c.intermediate_size));
    RETURN_IF_ERROR(ckpt.add_embeddings_and_output());
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        RETURN_IF_ERROR(ckpt.add_attention(l, /*permute_qk=*/false));
        RETURN_IF_ERROR(ckpt.add_dense_ffn(l));
    }
    return ok_status();
}

}  // namespace

Architecture qwen2_architecture() { return {"qwen2", &read_qwen2, {"Qwen2ForCausalLM"}, &convert_qwen2}; }

}  // namespace frugal
