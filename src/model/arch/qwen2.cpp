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

}  // namespace

Architecture qwen2_architecture() { return {"qwen2", &read_qwen2}; }

}  // namespace frugal
