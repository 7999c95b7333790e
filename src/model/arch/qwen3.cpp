// Qwen3 (dense): no projection biases, RMSNorm over each q and k head before RoPE, NeoX-style RoPE, and a head
// size (attention.key_length) that need not equal dim / heads.
#include "model/arch/architecture.h"

namespace frugal {
namespace {

Status read_qwen3(const GgufFile& file, ModelConfig* c) {
    RETURN_IF_ERROR(read_common_config(file, "qwen3", c));
    c->rope_mode = RopeMode::kNeox;
    c->qk_norm = true;
    return ok_status();
}

Status convert_qwen3(HfCheckpoint& ckpt) {
    const HfConfig& c = ckpt.config();
    RETURN_IF_ERROR(ckpt.add_common_metadata("qwen3", 1e-6, c.intermediate_size));
    RETURN_IF_ERROR(ckpt.add_embeddings_and_output());
    for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
        RETURN_IF_ERROR(ckpt.add_attention(l, /*permute_qk=*/false));
        RETURN_IF_ERROR(ckpt.add_dense_ffn(l));
    }
    return ok_status();
}

}  // namespace

Architecture qwen3_architecture() { return {"qwen3", &read_qwen3, {"Qwen3ForCausalLM"}, &convert_qwen3}; }

}  // namespace frugal
