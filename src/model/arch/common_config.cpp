#include <cmath>

#include "model/arch/architecture.h"

namespace frugal {
namespace {

Status read_count(const GgufFile& file, const std::string& key, int64_t* out) {
    ASSIGN_OR_RETURN(*out, file.get_int(key));
    if (*out <= 0 || *out > (int64_t{1} << 24)) return Status::errorf("metadata '{}' = {} is out of range", key, *out);
    return ok_status();
}

}  // namespace

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
    if (c->head_dim <= 0 || c->head_dim % 2 != 0 || c->head_dim_v != c->head_dim) {
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
