// Gemma 3 (text): multi-query attention, q/k RMSNorm, sandwich norms (post-attention and post-FFN), GeGLU with
// tanh-approximated GELU, embeddings scaled by sqrt(dim), tied output, an optional final logit softcap. Five
// sliding-window layers (window from metadata, RoPE theta 10000 unless the file gives one) alternate with one global
// layer (theta from metadata, optional linear scaling).
// GGUF converters store Gemma's RMSNorm weights with the +1 already added, so the plain RMSNorm applies.
#include <cmath>

#include "model/arch/architecture.h"

namespace frugal {
namespace {

constexpr int kDefaultSwaPattern = 6;  // every 6th layer is global, as in the Gemma 3 reference implementation
constexpr float kSwaRopeBase = 10000.0f;  // unless the file says (gemma3.rope.freq_base_swa)
constexpr int64_t kLayers27b = 62;

Status read_gemma3(const GgufFile& file, ModelConfig* c) {
    RETURN_IF_ERROR(read_common_config(file, "gemma3", c));
    c->rope_mode = RopeMode::kNeox;
    c->qk_norm = true;
    c->post_norms = true;
    c->ffn_activation = GluKind::kGeluTanh;
    c->embedding_scale = std::sqrt(static_cast<float>(c->dim));
    // Queries are scaled by 1/sqrt(query_pre_attn_scalar): the head size, except in Gemma 3 27B, whose 168 is
    // dim / heads (128-wide heads). GGUF has no key for it, so the 27B is recognized by its 62 layers, as llama.cpp
    // does.
    const int64_t scalar = c->num_layers == kLayers27b ? c->dim / c->num_heads : c->head_dim;
    c->attention_scale = 1.0f / std::sqrt(static_cast<float>(scalar));
    c->final_logit_softcap = static_cast<float>(file.get_float_or("gemma3.final_logit_softcapping", 0.0));
    if (!(c->final_logit_softcap >= 0.0f) || !std::isfinite(c->final_logit_softcap)) {
        return Status::errorf("gemma3.final_logit_softcapping {} is not a finite value >= 0", c->final_logit_softcap);
    }
    c->sliding_window = static_cast<int>(file.get_int_or("gemma3.attention.sliding_window", 0));
    c->rope_freq_base_swa = static_cast<float>(file.get_float_or("gemma3.rope.freq_base_swa", kSwaRopeBase));
    c->rope_freq_scale_swa = 1.0f;
    c->layer_uses_swa.assign(static_cast<size_t>(c->num_layers), false);
    if (c->sliding_window <= 0) return ok_status();
    const GgufValue* pattern = file.find("gemma3.attention.sliding_window_pattern");
    if (pattern != nullptr && pattern->type == GgufType::kArray && pattern->array_type == GgufType::kBool) {
        if (pattern->array_count != static_cast<uint64_t>(c->num_layers)) {
            return Status::errorf("gemma3.attention.sliding_window_pattern has {} entries for {} layers",
                                  pattern->array_count, c->num_layers);
        }
        for (int64_t l = 0; l < c->num_layers; ++l) c->layer_uses_swa[l] = pattern->array_int(l) != 0;
        return ok_status();
    }
    const int64_t period = pattern != nullptr && pattern->is_integer() && pattern->int_value > 0 ? pattern->int_value
                                                                                                 : kDefaultSwaPattern;
    for (int64_t l = 0; l < c->num_layers; ++l) c->layer_uses_swa[l] = (l + 1) % period != 0;
    return ok_status();
}

}  // namespace

Architecture gemma3_architecture() { return {"gemma3", &read_gemma3, {}, nullptr}; }

}  // namespace frugal
