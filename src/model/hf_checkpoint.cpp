#include "model/hf_checkpoint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "core/half.h"
#include "model/arch/architecture.h"

namespace frugal {
namespace {

constexpr uint32_t kDefaultContext = 2048;

// Llama 3.1 RoPE frequency divisors (rope_type "llama3"), stored as rope_freqs.weight as llama.cpp does.
std::vector<float> llama3_rope_factors(const HfRopeScaling& r, int64_t n_rot, double base) {
    const double original = static_cast<double>(*r.original_max_position_embeddings);
    const double low_wavelen = original / r.low_freq_factor;
    const double high_wavelen = original / r.high_freq_factor;
    std::vector<float> factors(static_cast<size_t>(n_rot / 2));
    for (size_t i = 0; i < factors.size(); ++i) {
        const double freq = 1.0 / std::pow(base, 2.0 * static_cast<double>(i) / static_cast<double>(n_rot));
        const double wavelen = 2 * M_PI / freq;
        if (wavelen < high_wavelen) {
            factors[i] = 1.0f;
        } else if (wavelen > low_wavelen) {
            factors[i] = static_cast<float>(r.factor);
        } else {
            const double smooth = (original / wavelen - r.low_freq_factor) / (r.high_freq_factor - r.low_freq_factor);
            factors[i] = static_cast<float>(1.0 / ((1 - smooth) / r.factor + smooth));
        }
    }
    return factors;
}

}  // namespace

Status HfCheckpoint::add_common_metadata(const std::string& arch, double default_norm_eps, int64_t ffn_dim) {
    const HfConfig& c = config_;
    GgufWriter& w = *out_;
    auto u32 = [](int64_t v) { return static_cast<uint32_t>(v); };
    w.set_string("general.architecture", arch);
    w.set_string("general.name", name_);
    w.set_uint32(arch + ".vocab_size", u32(c.vocab_size));
    w.set_uint32(arch + ".context_length", u32(c.max_position_embeddings.value_or(kDefaultContext)));
    w.set_uint32(arch + ".embedding_length", u32(c.hidden_size));
    w.set_uint32(arch + ".block_count", u32(c.num_hidden_layers));
    w.set_uint32(arch + ".feed_forward_length", u32(ffn_dim));
    w.set_uint32(arch + ".attention.head_count", u32(c.num_attention_heads));
    w.set_uint32(arch + ".attention.head_count_kv", u32(c.num_key_value_heads));
    w.set_float32(arch + ".attention.layer_norm_rms_epsilon",
                  static_cast<float>(c.rms_norm_eps.value_or(default_norm_eps)));
    w.set_float32(arch + ".rope.freq_base", static_cast<float>(c.rope_theta));
    if (c.head_dim * c.num_attention_heads != c.hidden_size) {
        w.set_uint32(arch + ".attention.key_length", u32(c.head_dim));
        w.set_uint32(arch + ".attention.value_length", u32(c.head_dim));
    }
    w.set_uint32(arch + ".rope.dimension_count", u32(c.head_dim));
    const HfRopeScaling& r = c.rope_scaling;
    switch (r.type) {
        case HfRopeScalingType::kNone:
            break;
        case HfRopeScalingType::kLinear:
            w.set_string(arch + ".rope.scaling.type", "linear");
            w.set_float32(arch + ".rope.scaling.factor", static_cast<float>(r.factor));
            break;
        case HfRopeScalingType::kYarn:
            if (!r.original_max_position_embeddings) {
                return Status::error("yarn rope scaling without original_max_position_embeddings is not supported");
            }
            w.set_string(arch + ".rope.scaling.type", "yarn");
            w.set_float32(arch + ".rope.scaling.factor", static_cast<float>(r.factor));
            w.set_uint32(arch + ".rope.scaling.original_context_length", u32(*r.original_max_position_embeddings));
            w.set_float32(arch + ".rope.scaling.yarn_beta_fast", static_cast<float>(r.beta_fast));
            w.set_float32(arch + ".rope.scaling.yarn_beta_slow", static_cast<float>(r.beta_slow));
            if (r.attention_factor) {
                w.set_float32(arch + ".rope.scaling.yarn_attn_factor", static_cast<float>(*r.attention_factor));
            }
            break;
        case HfRopeScalingType::kLlama3: {
            const std::vector<float> factors = llama3_rope_factors(r, c.head_dim, c.rope_theta);
            RETURN_IF_ERROR(
                add_raw("rope_freqs.weight", DType::kF32, {static_cast<int64_t>(factors.size())},
                        {reinterpret_cast<const uint8_t*>(factors.data()), factors.size() * sizeof(float)}));
            break;
        }
        case HfRopeScalingType::kDynamic:
            return Status::error("dynamic NTK rope scaling is not supported");
    }
    if (c.bos_token_id) w.set_uint32("tokenizer.ggml.bos_token_id", u32(*c.bos_token_id));
    if (!c.eos_token_ids.empty()) w.set_uint32("tokenizer.ggml.eos_token_id", u32(c.eos_token_ids[0]));
    return ok_status();
}

Result<std::vector<float>> HfCheckpoint::read_f32(const std::string& hf_name, std::vector<int64_t>* shape) {
    const SafetensorsTensorInfo* t = tensors_->find_tensor(hf_name);
    if (t == nullptr) return Status::errorf("tensor '{}' is missing from the checkpoint", hf_name);
    used_.insert(hf_name);
    if (shape != nullptr) *shape = t->shape;
    return safetensors_to_f32(*t);
}

Status HfCheckpoint::add_in_dtype_of(const std::string& gguf_name, const std::string& like_hf_name,
                                     std::vector<int64_t> shape, const std::vector<float>& values) {
    const SafetensorsTensorInfo* t = tensors_->find_tensor(like_hf_name);
    if (t == nullptr) return Status::errorf("tensor '{}' is missing from the checkpoint", like_hf_name);
    ASSIGN_OR_RETURN(DType dtype, t->frugal_dtype());
    std::vector<uint8_t> bytes;
    if (dtype == DType::kF32) {
        bytes.resize(values.size() * sizeof(float));
        std::memcpy(bytes.data(), values.data(), bytes.size());
    } else {
        std::vector<uint16_t> halves(values.size());
        for (size_t i = 0; i < values.size(); ++i) {
            halves[i] = dtype == DType::kBF16 ? fp32_to_bf16(values[i]) : fp32_to_fp16(values[i]);
        }
        bytes.resize(halves.size() * sizeof(uint16_t));
        std::memcpy(bytes.data(), halves.data(), bytes.size());
    }
    return out_->add_tensor(gguf_name, dtype, std::move(shape), bytes);
}

Status HfCheckpoint::add_raw(const std::string& gguf_name, DType dtype, std::vector<int64_t> shape,
                             std::span<const uint8_t> data) {
    return out_->add_tensor(gguf_name, dtype, std::move(shape), data);
}

Status HfCheckpoint::add(const std::string& gguf_name, const std::string& hf_name, Layout layout) {
    const SafetensorsTensorInfo* t = tensors_->find_tensor(hf_name);
    if (t == nullptr) return Status::errorf("tensor '{}' is missing from the checkpoint", hf_name);
    used_.insert(hf_name);
    if (t->shape.empty() || t->shape.size() > 3) {
        return Status::errorf("tensor '{}' has {} dimensions", hf_name, t->shape.size());
    }
    std::vector<int64_t> shape(t->shape.rbegin(), t->shape.rend());
    ASSIGN_OR_RETURN(DType dtype, t->frugal_dtype());
    if (layout == Layout::kAsIs && shape.size() > 1)
        return out_->add_tensor_view(gguf_name, dtype, std::move(shape), t->bytes());
    std::vector<uint8_t> bytes;
    if (layout == Layout::kF32 || shape.size() == 1) {
        ASSIGN_OR_RETURN(std::vector<float> values, safetensors_to_f32(*t));
        bytes.resize(values.size() * sizeof(float));
        std::memcpy(bytes.data(), values.data(), bytes.size());
        dtype = DType::kF32;
    } else {
        bytes.assign(t->data, t->data + t->size_bytes());
    }
    if (layout == Layout::kPermuteQ || layout == Layout::kPermuteK) {
        const int64_t heads = layout == Layout::kPermuteQ ? config_.num_attention_heads : config_.num_key_value_heads;
        const int64_t rows = shape.size() == 1 ? shape[0] : shape[1];
        const size_t row_bytes = bytes.size() / static_cast<size_t>(rows);
        if (rows % (2 * heads) != 0)
            return Status::errorf("tensor '{}': {} rows do not split into {} heads", hf_name, rows, heads);
        const int64_t half = rows / heads / 2;
        std::vector<uint8_t> permuted(bytes.size());
        // GGUF row (h, i, j) = checkpoint row (h, j, i): rotate-half pairs (i, i + half) become adjacent.
        for (int64_t h = 0; h < heads; ++h) {
            for (int64_t j = 0; j < 2; ++j) {
                for (int64_t i = 0; i < half; ++i) {
                    const int64_t src = (h * 2 + j) * half + i;
                    const int64_t dst = (h * half + i) * 2 + j;
                    std::memcpy(permuted.data() + dst * row_bytes, bytes.data() + src * row_bytes, row_bytes);
                }
            }
        }
        bytes = std::move(permuted);
    }
    return out_->add_tensor(gguf_name, dtype, std::move(shape), bytes);
}

Status HfCheckpoint::add_optional(const std::string& gguf_name, const std::string& hf_name, Layout layout) {
    return has(hf_name) ? add(gguf_name, hf_name, layout) : ok_status();
}

Status HfCheckpoint::add_experts(const std::string& gguf_name, const std::string& hf_pattern, int64_t num_experts) {
    std::vector<uint8_t> bytes;
    std::vector<int64_t> first_shape;
    DType dtype = DType::kF32;
    for (int64_t e = 0; e < num_experts; ++e) {
        const std::string name = fmt::format(fmt::runtime(hf_pattern), e);
        const SafetensorsTensorInfo* t = tensors_->find_tensor(name);
        if (t == nullptr) return Status::errorf("expert tensor '{}' is missing from the checkpoint", name);
        used_.insert(name);
        ASSIGN_OR_RETURN(DType d, t->frugal_dtype());
        if (e == 0) {
            first_shape = t->shape;
            dtype = d;
        } else if (t->shape != first_shape || d != dtype) {
            return Status::errorf("expert tensor '{}' differs in shape or dtype from expert 0", name);
        }
        if (t->shape.size() != 2) return Status::errorf("expert tensor '{}' is not a matrix", name);
        bytes.insert(bytes.end(), t->data, t->data + t->size_bytes());
    }
    return out_->add_tensor(gguf_name, dtype, {first_shape[1], first_shape[0], num_experts}, bytes);
}

Status HfCheckpoint::add_expert_ffn(const std::string& gg, const std::string& hf_prefix,
                                    const std::array<const char*, 3>& names, int64_t num_experts) {
    const char* kinds[3] = {"gate", "up", "down"};
    for (int i = 0; i < 3; ++i) {
        RETURN_IF_ERROR(add_experts(fmt::format("{}ffn_{}_exps.weight", gg, kinds[i]),
                                    hf_prefix + "{}." + names[i] + ".weight", num_experts));
    }
    return ok_status();
}

Status HfCheckpoint::add_ffn(const std::string& gg, const std::string& hf_prefix, const std::string& suffix) {
    for (const char* kind : {"gate", "up", "down"}) {
        RETURN_IF_ERROR(
            add(fmt::format("{}ffn_{}{}.weight", gg, kind, suffix), fmt::format("{}{}_proj.weight", hf_prefix, kind)));
    }
    return ok_status();
}

Status HfCheckpoint::add_embeddings_and_output() {
    RETURN_IF_ERROR(add("token_embd.weight", "model.embed_tokens.weight"));
    RETURN_IF_ERROR(add("output_norm.weight", "model.norm.weight", Layout::kF32));
    if (has("lm_head.weight")) {
        if (config_.tie_word_embeddings) {
            used_.insert("lm_head.weight");  // a saved copy of the tied embedding
        } else {
            RETURN_IF_ERROR(add("output.weight", "lm_head.weight"));
        }
    } else if (!config_.tie_word_embeddings) {
        return Status::error("the checkpoint has no lm_head.weight and does not tie its word embeddings");
    }
    return ok_status();
}

Status HfCheckpoint::add_attention(int64_t l, bool permute_qk) {
    const std::string hf = fmt::format("model.layers.{}.", l);
    const std::string gg = fmt::format("blk.{}.", l);
    const Layout q_layout = permute_qk ? Layout::kPermuteQ : Layout::kAsIs;
    const Layout k_layout = permute_qk ? Layout::kPermuteK : Layout::kAsIs;
    RETURN_IF_ERROR(add(gg + "attn_norm.weight", hf + "input_layernorm.weight", Layout::kF32));
    RETURN_IF_ERROR(add(gg + "ffn_norm.weight", hf + "post_attention_layernorm.weight", Layout::kF32));
    RETURN_IF_ERROR(add(gg + "attn_q.weight", hf + "self_attn.q_proj.weight", q_layout));
    RETURN_IF_ERROR(add(gg + "attn_k.weight", hf + "self_attn.k_proj.weight", k_layout));
    RETURN_IF_ERROR(add(gg + "attn_v.weight", hf + "self_attn.v_proj.weight"));
    RETURN_IF_ERROR(add(gg + "attn_output.weight", hf + "self_attn.o_proj.weight"));
    RETURN_IF_ERROR(add_optional(gg + "attn_q.bias", hf + "self_attn.q_proj.bias", q_layout));
    RETURN_IF_ERROR(add_optional(gg + "attn_k.bias", hf + "self_attn.k_proj.bias", k_layout));
    RETURN_IF_ERROR(add_optional(gg + "attn_v.bias", hf + "self_attn.v_proj.bias"));
    if (has(hf + "self_attn.o_proj.bias")) return Status::error("attention output biases are not supported");
    RETURN_IF_ERROR(add_optional(gg + "attn_q_norm.weight", hf + "self_attn.q_norm.weight", Layout::kF32));
    RETURN_IF_ERROR(add_optional(gg + "attn_k_norm.weight", hf + "self_attn.k_norm.weight", Layout::kF32));
    return ok_status();
}

Status HfCheckpoint::add_dense_ffn(int64_t l, const std::string& mlp) {
    return add_ffn(fmt::format("blk.{}.", l), fmt::format("model.layers.{}.{}.", l, mlp), "");
}

Status HfCheckpoint::skip_empty(const std::string& hf_name) {
    const SafetensorsTensorInfo* t = tensors_->find_tensor(hf_name);
    if (t == nullptr) return ok_status();
    if (t->num_elements() != 0) return Status::errorf("tensor '{}' holds data the config says is unused", hf_name);
    used_.insert(hf_name);
    return ok_status();
}

Status HfCheckpoint::check_all_used() const {
    std::vector<std::string> unused;
    for (const std::string& name : tensors_->tensor_names()) {
        if (used_.count(name) == 0 && name.find("rotary_emb.inv_freq") == std::string::npos) unused.push_back(name);
    }
    if (unused.empty()) return ok_status();
    const size_t shown = std::min<size_t>(unused.size(), 8);
    return Status::errorf("{} checkpoint tensors have no GGUF mapping (an unsupported variant?): {}{}", unused.size(),
                          fmt::join(unused.begin(), unused.begin() + static_cast<std::ptrdiff_t>(shown), ", "),
                          unused.size() > shown ? ", ..." : "");
}

Result<GgufWriter> convert_hf_checkpoint(const std::string& path) {
    ASSIGN_OR_RETURN(HfConfig config, load_hf_config(path));
    const Architecture* arch = nullptr;
    std::string known;
    for (const Architecture& a : architectures()) {
        for (std::string_view hf : a.hf_architectures) {
            known += (known.empty() ? "" : ", ") + std::string(hf);
            if (hf == config.architecture) arch = &a;
        }
    }
    if (arch == nullptr) {
        return Status::errorf("'{}': Hugging Face architecture '{}' is not supported (supported: {})", path,
                              config.architecture, known);
    }
    ASSIGN_OR_RETURN(SafetensorsModel tensors, SafetensorsModel::open(path));
    std::filesystem::path dir(path);
    if (!std::filesystem::is_directory(dir)) dir = dir.parent_path();
    std::string name = dir.filename().string();
    if (name.empty()) name = dir.parent_path().filename().string();
    GgufWriter writer;
    HfCheckpoint ckpt(std::move(config), std::make_shared<const SafetensorsModel>(std::move(tensors)), name, &writer);
    writer.set_string("tokenizer.ggml.model", "none");
    if (Status s = arch->convert_hf(ckpt); !s.ok()) {
        return s.with_context(fmt::format("converting '{}' ({})", path, ckpt.config().architecture));
    }
    RETURN_IF_ERROR(ckpt.check_all_used().with_context(path));
    return writer;
}

}  // namespace frugal
