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

}  // namespace

Architecture qwen3_architecture() { return {"qwen3", &read_qwen3}; }

}  // namespace frugal
