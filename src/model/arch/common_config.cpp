#include <algorithm>
#include <cmath>

#include "model/arch/architecture.h"

namespace frugal {
namespace {

Status read_count(const GgufFile& file, const std::string& key, int64_t* out) {
    ASSIGN_OR_RETURN(*out, file.get_int(key));
    if (*out <= 0 || *out > (int64_t{1} << 24)) return Status::errorf("metadata '{}' = {} is out of range", key, *out);
    return ok_status();
}

// YaRN (as transformers computes it): frequency i keeps its trained value where a wavelength fits many times into
// the original context (extrapolation), is divided by `factor` where it does not (interpolation), with a linear
// ramp between; expressed as per-frequency divisors. cos and sin are multiplied by an attention factor.
Status read_yarn(const GgufFile& file, const std::string& arch, double factor, ModelConfig* c) {
    const int64_t original = file.get_int_or(arch + ".rope.scaling.original_context_length", 0);
    if (original <= 0) return Status::errorf("yarn rope scaling needs {}.rope.scaling.original_context_length", arch);
    const double beta_fast = file.get_float_or(arch + ".rope.scaling.yarn_beta_fast", 32.0);
    const double beta_slow = file.get_float_or(arch + ".rope.scaling.yarn_beta_slow", 1.0);
    const double dim = c->n_rot;
    const double base = c->rope_freq_base;
    auto correction_dim = [&](double rotations) {
        return dim * std::log(static_cast<double>(original) / (rotations * 2 * M_PI)) / (2 * std::log(base));
    };
    const double low = std::max(std::floor(correction_dim(beta_fast)), 0.0);
    double high = std::min(std::ceil(correction_dim(beta_slow)), dim - 1);
    if (high == low) high += 0.001;
    c->rope_freq_factors.resize(static_cast<size_t>(c->n_rot / 2));
    for (size_t i = 0; i < c->rope_freq_factors.size(); ++i) {
        const double ramp = std::clamp((static_cast<double>(i) - low) / (high - low), 0.0, 1.0);
        c->rope_freq_factors[i] = static_cast<float>(1.0 / (ramp / factor + (1.0 - ramp)));
    }
    c->rope_attn_factor =
        static_cast<float>(file.get_float_or(arch + ".rope.scaling.yarn_attn_factor", 0.1 * std::log(factor) + 1.0));
    return ok_status();
}

}  // namespace

Status read_moe_config(const GgufFile& file, std::string_view arch_view, bool default_normalize, ModelConfig* c) {
    const std::string arch(arch_view);
    c->num_experts = file.get_int_or(arch + ".expert_count", 0);
    if (c->num_experts <= 0) {
        c->num_experts = 0;
        return ok_status();
    }
    if (c->num_experts > (int64_t{1} << 16)) return Status::errorf("{}.expert_count {} is out of range", arch, c->num_experts);
    const int64_t used = file.get_int_or(arch + ".expert_used_count", 0);
    if (used < 1 || used > c->num_experts) {
        return Status::errorf("{}.expert_used_count {} must be in [1, {}]", arch, used, c->num_experts);
    }
    c->routing.top_k = static_cast<int>(used);
    c->expert_ffn_dim = file.get_int_or(arch + ".expert_feed_forward_length", c->ffn_dim);
    if (c->expert_ffn_dim <= 0 || c->expert_ffn_dim > (int64_t{1} << 24)) {
        return Status::errorf("{}.expert_feed_forward_length {} is out of range", arch, c->expert_ffn_dim);
    }
    const GgufValue* norm = file.find(arch + ".expert_weights_norm");
    c->routing.normalize = norm != nullptr && norm->type == GgufType::kBool ? norm->int_value != 0 : default_normalize;
    c->routing.scale = static_cast<float>(file.get_float_or(arch + ".expert_weights_scale", 1.0));
    const int64_t gating = file.get_int_or(arch + ".expert_gating_func", 1);
    if (gating != 1 && gating != 2) return Status::errorf("{}.expert_gating_func {} is not softmax (1) or sigmoid (2)", arch, gating);
    c->routing.gating = gating == 2 ? MoeGating::kSigmoid : MoeGating::kSoftmax;
    c->layer_is_moe.assign(static_cast<size_t>(c->num_layers), true);
    return ok_status();
}

Status read_common_config(const GgufFile& file, std::string_view arch_view, ModelConfig* c) {
    const std::string arch(arch_view);
    c->arch = arch;
    c->name = file.get_string_or("general.name", arch);
    RETURN_IF_ERROR(read_count(file, arch + ".embedding_length", &c->dim));
    RETURN_IF_ERROR(read_count(file, arch + ".block_count", &c->num_layers));
    RETURN_IF_ERROR(read_count(file, arch + ".feed_forward_length", &c->ffn_dim));
    RETURN_IF_ERROR(read_count(file, arch + ".attention.head_count", &c->num_heads));
    c->num_kv_heads = file.get_int_or(arch + ".attention.head_count_kv", c->num_heads);
    if (c->num_kv_heads <= 0 || c->num_heads % c->num_kv_heads != 0) {
        return Status::errorf("head_count {} is not a multiple of head_count_kv {}", c->num_heads, c->num_kv_heads);
    }
    c->context_length = file.get_int_or(arch + ".context_length", 2048);
    c->head_dim = file.get_int_or(arch + ".attention.key_length", c->dim / c->num_heads);
    c->head_dim_v = file.get_int_or(arch + ".attention.value_length", c->head_dim);
    // MLA files (DeepSeek) describe the latent cache here, key and value sizes that differ by design.
    const bool mla = file.find(arch + ".attention.kv_lora_rank") != nullptr;
    if (c->head_dim <= 0 || c->head_dim % 2 != 0 || (c->head_dim_v != c->head_dim && !mla)) {
        return Status::errorf("unsupported head sizes: key {}, value {}", c->head_dim, c->head_dim_v);
    }
    c->n_rot = static_cast<int>(file.get_int_or(arch + ".rope.dimension_count", c->head_dim));
    if (c->n_rot <= 0 || c->n_rot > c->head_dim || c->n_rot % 2 != 0) {
        return Status::errorf("rope.dimension_count {} does not fit head size {}", c->n_rot, c->head_dim);
    }
    c->norm_eps = static_cast<float>(file.get_float_or(arch + ".attention.layer_norm_rms_epsilon", 1e-5));
    c->rope_freq_base = static_cast<float>(file.get_float_or(arch + ".rope.freq_base", 10000.0));
    const std::string scaling = file.get_string_or(arch + ".rope.scaling.type", "none");
    const double factor = file.get_float_or(arch + ".rope.scaling.factor", 0.0);
    if (scaling == "linear" && factor > 0) {
        c->rope_freq_scale = static_cast<float>(1.0 / factor);
    } else if (scaling == "yarn" && factor > 1.0) {
        RETURN_IF_ERROR(read_yarn(file, arch, factor, c));
    } else if (scaling != "none" && scaling != "linear" && factor > 1.0) {
        return Status::errorf("rope scaling type '{}' is not supported yet", scaling);
    }
    c->rope_freq_base_swa = c->rope_freq_base;
    c->rope_freq_scale_swa = c->rope_freq_scale;
    if (const GgufTensorInfo* embd = file.find_tensor("token_embd.weight"); embd != nullptr && embd->shape.size() >= 2) {
        c->vocab_size = embd->shape[1];
    } else {
        return Status::error("tensor 'token_embd.weight' is missing or not a matrix");
    }
    return ok_status();
}

}  // namespace frugal
