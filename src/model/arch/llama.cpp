// Llama 1/2/3, Mistral, TinyLlama, llama2.c checkpoints: pre-norm, SwiGLU, GQA, RoPE on adjacent pairs (GGUF
// converters permute q/k so that llama.cpp's "normal" rotation applies).
#include "model/arch/architecture.h"

namespace frugal {
namespace {

Status read_llama(const GgufFile& file, ModelConfig* c) {
    RETURN_IF_ERROR(read_common_config(file, "llama", c));
    c->rope_mode = RopeMode::kNormal;
    c->ffn_activation = GluKind::kSilu;
    return ok_status();
}

}  // namespace

Architecture llama_architecture() { return {"llama", &read_llama}; }

}  // namespace frugal
