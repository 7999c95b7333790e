#include "format/hf_config/hf_config.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/mapped_file.h"
#include "format/json/strict_json.h"

namespace frugal {
namespace {

using nlohmann::json;

// A config.json nests a few levels (text_config, rope_scaling, quantization_config); the cap keeps hostile
// nesting from building a deep DOM.
constexpr int kMaxJsonDepth = 32;
constexpr int64_t kMaxTokenId = (int64_t{1} << 31) - 1;

std::string describe(const json& v) {
    if (v.is_number() || v.is_boolean()) return fmt::format("{} {}", v.type_name(), v.dump());
    return v.type_name();
}

// Reads typed keys from one JSON object, then from a fallback object for keys it lacks (text_config, then the
// top level). Absent and null keys leave the output at its default. Errors name the key as the file spells it
// ("text_config.hidden_size", "rope_scaling.factor").
class KeyReader {
  public:
    KeyReader(const json& object, std::string prefix, const json* fallback = nullptr)
        : object_(object), prefix_(std::move(prefix)), fallback_(fallback) {}

    // The value of key, or nullptr when absent or null; *shown is the key's name for messages.
    const json* find(std::string_view key, std::string* shown) const {
        const std::string k(key);
        if (auto it = object_.find(k); it != object_.end()) {
            *shown = prefix_ + k;
            return it->is_null() ? nullptr : &*it;
        }
        *shown = k;
        if (fallback_ == nullptr) return nullptr;
        auto it = fallback_->find(k);
        return it == fallback_->end() || it->is_null() ? nullptr : &*it;
    }
    bool has(std::string_view key) const {
        std::string shown;
        return find(key, &shown) != nullptr;
    }

    Status get_int(std::string_view key, int64_t lo, int64_t hi, std::optional<int64_t>* out) const {
        std::string shown;
        const json* v = find(key, &shown);
        if (v == nullptr) return ok_status();
        return to_int(*v, shown, lo, hi, out);
    }
    Status get_int(std::string_view key, int64_t lo, int64_t hi, int64_t* out) const {
        std::optional<int64_t> value;
        RETURN_IF_ERROR(get_int(key, lo, hi, &value));
        if (value) *out = *value;
        return ok_status();
    }
    // Like get_int, but absence is an error.
    Status require_int(std::string_view key, int64_t lo, int64_t hi, int64_t* out) const {
        if (!has(key)) return Status::errorf("required key '{}{}' is missing", prefix_, key);
        return get_int(key, lo, hi, out);
    }
    // A finite number > 0, or >= 0 when allow_zero.
    Status get_double(std::string_view key, bool allow_zero, std::optional<double>* out) const {
        std::string shown;
        const json* v = find(key, &shown);
        if (v == nullptr) return ok_status();
        const double x = v->is_number() ? v->get<double>() : NAN;
        if (!std::isfinite(x) || x < 0 || (x == 0 && !allow_zero)) {
            return Status::errorf("key '{}' must be a {} number, got {}", shown,
                                  allow_zero ? "non-negative" : "positive", describe(*v));
        }
        *out = x;
        return ok_status();
    }
    Status get_double(std::string_view key, bool allow_zero, double* out) const {
        std::optional<double> value;
        RETURN_IF_ERROR(get_double(key, allow_zero, &value));
        if (value) *out = *value;
        return ok_status();
    }
    Status get_bool(std::string_view key, std::optional<bool>* out) const {
        std::string shown;
        const json* v = find(key, &shown);
        if (v == nullptr) return ok_status();
        if (!v->is_boolean()) return Status::errorf("key '{}' must be true or false, got {}", shown, describe(*v));
        *out = v->get<bool>();
        return ok_status();
    }
    Status get_bool(std::string_view key, bool* out) const {
        std::optional<bool> value;
        RETURN_IF_ERROR(get_bool(key, &value));
        if (value) *out = *value;
        return ok_status();
    }
    Status get_string(std::string_view key, std::string* out) const {
        std::string shown;
        const json* v = find(key, &shown);
        if (v == nullptr) return ok_status();
        if (!v->is_string()) return Status::errorf("key '{}' must be a string, got {}", shown, describe(*v));
        *out = v->get<std::string>();
        return ok_status();
    }
    // One integer or a list of them.
    Status get_int_list(std::string_view key, int64_t lo, int64_t hi, std::vector<int64_t>* out) const {
        std::string shown;
        const json* v = find(key, &shown);
        if (v == nullptr) return ok_status();
        out->clear();
        if (!v->is_array()) {
            std::optional<int64_t> one;
            RETURN_IF_ERROR(to_int(*v, shown, lo, hi, &one));
            out->push_back(*one);
            return ok_status();
        }
        for (size_t i = 0; i < v->size(); ++i) {
            std::optional<int64_t> item;
            RETURN_IF_ERROR(to_int((*v)[i], fmt::format("{}[{}]", shown, i), lo, hi, &item));
            out->push_back(*item);
        }
        return ok_status();
    }

  private:
    static Status to_int(const json& v, const std::string& shown, int64_t lo, int64_t hi, std::optional<int64_t>* out) {
        bool in_range = false;
        int64_t x = 0;
        if (v.is_number_unsigned()) {
            const uint64_t u = v.get<uint64_t>();
            in_range = u <= static_cast<uint64_t>(hi) && static_cast<int64_t>(u) >= lo;
            x = static_cast<int64_t>(u);
        } else if (v.is_number_integer()) {
            x = v.get<int64_t>();
            in_range = x >= lo && x <= hi;
        }
        if (!in_range)
            return Status::errorf("key '{}' must be an integer in [{}, {}], got {}", shown, lo, hi, describe(v));
        *out = x;
        return ok_status();
    }

    const json& object_;
    std::string prefix_;
    const json* fallback_;
};

constexpr std::array<std::pair<HfRopeScalingType, std::string_view>, 5> kRopeTypes = {{
    {HfRopeScalingType::kNone, "default"},
    {HfRopeScalingType::kLinear, "linear"},
    {HfRopeScalingType::kLlama3, "llama3"},
    {HfRopeScalingType::kYarn, "yarn"},
    {HfRopeScalingType::kDynamic, "dynamic"},
}};

// key: "rope_scaling", or "rope_parameters" (transformers 5 writes the theta and the scaling into one object).
Status parse_rope_scaling(const json& r, std::string_view key, HfRopeScaling* out) {
    if (!r.is_object()) return Status::errorf("key '{}' must be an object or null, got {}", key, describe(r));
    const KeyReader reader(r, std::string(key) + ".");
    std::string type_key = "rope_type";
    if (!reader.has(type_key)) type_key = "type";
    std::string type_name;
    RETURN_IF_ERROR(reader.get_string(type_key, &type_name));
    if (type_name.empty()) return Status::errorf("key '{}' has neither 'rope_type' nor 'type'", key);
    const auto it =
        std::find_if(kRopeTypes.begin(), kRopeTypes.end(), [&](const auto& e) { return e.second == type_name; });
    if (it == kRopeTypes.end()) {
        return Status::errorf(
            "key '{}.{}' is '{}', not a supported RoPE scaling type (default, linear, llama3, yarn, dynamic)", key,
            type_key, type_name);
    }
    out->type = it->first;
    if (out->type == HfRopeScalingType::kNone) return ok_status();

    if (!reader.has("factor")) return Status::errorf("required key '{}.factor' is missing for {}", key, type_name);
    RETURN_IF_ERROR(reader.get_double("factor", false, &out->factor));
    RETURN_IF_ERROR(
        reader.get_int("original_max_position_embeddings", 1, kHfMaxPositions, &out->original_max_position_embeddings));
    if (out->type == HfRopeScalingType::kLlama3) {
        for (std::string_view field : {"low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}) {
            if (!reader.has(field)) return Status::errorf("required key '{}.{}' is missing for llama3", key, field);
        }
        RETURN_IF_ERROR(reader.get_double("low_freq_factor", false, &out->low_freq_factor));
        RETURN_IF_ERROR(reader.get_double("high_freq_factor", false, &out->high_freq_factor));
        if (out->high_freq_factor <= out->low_freq_factor) {
            return Status::errorf("key '{}.high_freq_factor' ({}) must exceed low_freq_factor ({})", key,
                                  out->high_freq_factor, out->low_freq_factor);
        }
    } else if (out->type == HfRopeScalingType::kYarn) {
        RETURN_IF_ERROR(reader.get_double("beta_fast", false, &out->beta_fast));
        RETURN_IF_ERROR(reader.get_double("beta_slow", false, &out->beta_slow));
        RETURN_IF_ERROR(reader.get_double("mscale", true, &out->mscale));
        RETURN_IF_ERROR(reader.get_double("mscale_all_dim", true, &out->mscale_all_dim));
        RETURN_IF_ERROR(reader.get_double("attention_factor", false, &out->attention_factor));
    }
    return ok_status();
}

Status parse_moe(const KeyReader& r, HfConfig* c) {
    std::string experts_key;
    for (std::string_view key : {"num_experts", "num_local_experts", "n_routed_experts"}) {
        std::optional<int64_t> n;
        RETURN_IF_ERROR(r.get_int(key, 0, kHfMaxDim, &n));
        if (!n) continue;
        if (!experts_key.empty() && *n != c->num_experts) {
            return Status::errorf("key '{}' ({}) disagrees with '{}' ({})", key, *n, experts_key, c->num_experts);
        }
        experts_key = key;
        c->num_experts = *n;
    }
    RETURN_IF_ERROR(r.get_int("num_experts_per_tok", 0, kHfMaxDim, &c->num_experts_per_tok));
    if (c->num_experts > 0 && (c->num_experts_per_tok < 1 || c->num_experts_per_tok > c->num_experts)) {
        return Status::errorf("key 'num_experts_per_tok' must be in [1, {}] ({} = {}), got {}", c->num_experts,
                              experts_key, c->num_experts, c->num_experts_per_tok);
    }
    RETURN_IF_ERROR(r.get_int("moe_intermediate_size", 1, kHfMaxDim, &c->moe_intermediate_size));
    RETURN_IF_ERROR(r.get_int("shared_expert_intermediate_size", 0, kHfMaxDim, &c->shared_expert_intermediate_size));
    RETURN_IF_ERROR(r.get_int("n_shared_experts", 0, kHfMaxDim, &c->n_shared_experts));
    RETURN_IF_ERROR(r.get_bool("norm_topk_prob", &c->norm_topk_prob));
    RETURN_IF_ERROR(r.get_int("first_k_dense_replace", 0, c->num_hidden_layers, &c->first_k_dense_replace));
    RETURN_IF_ERROR(r.get_int("moe_layer_freq", 1, kHfMaxLayers, &c->moe_layer_freq));
    RETURN_IF_ERROR(r.get_int("decoder_sparse_step", 1, kHfMaxLayers, &c->decoder_sparse_step));
    std::string shown;
    if (const json* v = r.find("mlp_only_layers", &shown); v != nullptr && !v->is_array()) {
        return Status::errorf("key '{}' must be a list of layer indices, got {}", shown, describe(*v));
    }
    RETURN_IF_ERROR(r.get_int_list("mlp_only_layers", 0, c->num_hidden_layers - 1, &c->mlp_only_layers));
    RETURN_IF_ERROR(r.get_int("n_group", 1, kHfMaxDim, &c->n_group));
    RETURN_IF_ERROR(r.get_int("topk_group", 1, kHfMaxDim, &c->topk_group));
    if (c->topk_group > 0 && c->n_group > 0 && c->topk_group > c->n_group) {
        return Status::errorf("key 'topk_group' ({}) exceeds n_group ({})", c->topk_group, c->n_group);
    }
    if (c->n_group > 0 && c->num_experts > 0 && c->num_experts % c->n_group != 0) {
        return Status::errorf("key 'n_group' ({}) does not divide the {} experts", c->n_group, c->num_experts);
    }
    RETURN_IF_ERROR(r.get_string("topk_method", &c->topk_method));
    std::string scoring;
    RETURN_IF_ERROR(r.get_string("scoring_func", &scoring));
    if (scoring == "sigmoid") {
        c->scoring_func = HfScoringFunc::kSigmoid;
    } else if (!scoring.empty() && scoring != "softmax") {
        return Status::errorf("key 'scoring_func' is '{}', not 'softmax' or 'sigmoid'", scoring);
    }
    return r.get_double("routed_scaling_factor", false, &c->routed_scaling_factor);
}

Status parse_mla(const KeyReader& r, HfConfig* c) {
    RETURN_IF_ERROR(r.get_int("q_lora_rank", 1, kHfMaxDim, &c->q_lora_rank));
    RETURN_IF_ERROR(r.get_int("kv_lora_rank", 1, kHfMaxDim, &c->kv_lora_rank));
    RETURN_IF_ERROR(r.get_int("qk_nope_head_dim", 1, kHfMaxDim, &c->qk_nope_head_dim));
    RETURN_IF_ERROR(r.get_int("qk_rope_head_dim", 1, kHfMaxDim, &c->qk_rope_head_dim));
    RETURN_IF_ERROR(r.get_int("v_head_dim", 1, kHfMaxDim, &c->v_head_dim));
    if (c->kv_lora_rank > 0) {
        for (std::string_view key : {"qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"}) {
            if (!r.has(key)) return Status::errorf("required key '{}' is missing (kv_lora_rank is set)", key);
        }
    }
    return r.get_int("num_nextn_predict_layers", 0, 64, &c->num_nextn_predict_layers);
}

Status parse_config(const json& root, HfConfig* c) {
    if (!root.is_object()) return Status::errorf("config must be a JSON object, got {}", root.type_name());
    if (auto it = root.find("architectures"); it != root.end() && !it->is_null()) {
        if (!it->is_array() || (!it->empty() && !(*it)[0].is_string())) {
            return Status::errorf("key 'architectures' must be a list of strings, got {}", describe(*it));
        }
        if (!it->empty()) c->architecture = (*it)[0].get<std::string>();
    }
    const json* model = &root;
    const json* fallback = nullptr;
    if (auto it = root.find("text_config"); it != root.end() && it->is_object()) {
        model = &*it;
        fallback = &root;
    }
    const KeyReader r(*model, fallback != nullptr ? "text_config." : "", fallback);

    RETURN_IF_ERROR(r.get_string("model_type", &c->model_type));
    RETURN_IF_ERROR(r.get_string(r.has("hidden_act") ? "hidden_act" : "hidden_activation", &c->hidden_act));
    RETURN_IF_ERROR(r.require_int("vocab_size", 1, kHfMaxDim, &c->vocab_size));
    RETURN_IF_ERROR(r.require_int("hidden_size", 1, kHfMaxDim, &c->hidden_size));
    RETURN_IF_ERROR(r.get_int("intermediate_size", 1, kHfMaxDim, &c->intermediate_size));
    RETURN_IF_ERROR(r.require_int("num_hidden_layers", 1, kHfMaxLayers, &c->num_hidden_layers));
    RETURN_IF_ERROR(r.require_int("num_attention_heads", 1, kHfMaxDim, &c->num_attention_heads));
    c->num_key_value_heads = c->num_attention_heads;
    RETURN_IF_ERROR(r.get_int("num_key_value_heads", 1, kHfMaxDim, &c->num_key_value_heads));
    if (c->num_attention_heads % c->num_key_value_heads != 0) {
        return Status::errorf("key 'num_key_value_heads' ({}) does not divide num_attention_heads ({})",
                              c->num_key_value_heads, c->num_attention_heads);
    }
    if (r.has("head_dim")) {
        RETURN_IF_ERROR(r.get_int("head_dim", 1, kHfMaxDim, &c->head_dim));
    } else if (c->hidden_size % c->num_attention_heads != 0) {
        return Status::errorf(
            "key 'num_attention_heads' ({}) does not divide hidden_size ({}) and no head_dim is given",
            c->num_attention_heads, c->hidden_size);
    } else {
        c->head_dim = c->hidden_size / c->num_attention_heads;
    }
    RETURN_IF_ERROR(r.get_double("rms_norm_eps", false, &c->rms_norm_eps));
    if (c->rms_norm_eps && *c->rms_norm_eps >= 1.0) {
        return Status::errorf("key 'rms_norm_eps' must be below 1, got {}", *c->rms_norm_eps);
    }
    RETURN_IF_ERROR(r.get_double("rope_theta", false, &c->rope_theta));
    RETURN_IF_ERROR(r.get_int("max_position_embeddings", 1, kHfMaxPositions, &c->max_position_embeddings));
    RETURN_IF_ERROR(r.get_bool("tie_word_embeddings", &c->tie_word_embeddings));
    RETURN_IF_ERROR(r.get_bool("attention_bias", &c->attention_bias));
    RETURN_IF_ERROR(r.get_int("bos_token_id", 0, kMaxTokenId, &c->bos_token_id));
    RETURN_IF_ERROR(r.get_int_list("eos_token_id", 0, kMaxTokenId, &c->eos_token_ids));
    RETURN_IF_ERROR(r.get_int("sliding_window", 0, kHfMaxPositions, &c->sliding_window));
    if (c->sliding_window == 0) c->sliding_window.reset();  // some configs write 0 for "no window"
    std::optional<bool> use_sliding_window;
    RETURN_IF_ERROR(r.get_bool("use_sliding_window", &use_sliding_window));
    if (use_sliding_window == false) c->sliding_window.reset();

    std::string shown;
    if (const json* rope = r.find("rope_scaling", &shown); rope != nullptr) {
        RETURN_IF_ERROR(parse_rope_scaling(*rope, "rope_scaling", &c->rope_scaling));
    }
    if (const json* params = r.find("rope_parameters", &shown); params != nullptr && !params->is_null()) {
        RETURN_IF_ERROR(parse_rope_scaling(*params, "rope_parameters", &c->rope_scaling));
        if (params->contains("rope_theta")) {
            RETURN_IF_ERROR(KeyReader(*params, "rope_parameters.").get_double("rope_theta", false, &c->rope_theta));
        }
    }
    RETURN_IF_ERROR(parse_moe(r, c));
    return parse_mla(r, c);
}

}  // namespace

std::string_view hf_rope_scaling_type_name(HfRopeScalingType t) {
    if (t == HfRopeScalingType::kNone) return "none";
    for (const auto& [type, name] : kRopeTypes) {
        if (type == t) return name;
    }
    return "unknown";
}

Result<HfConfig> parse_hf_config(std::string_view json_text, const std::string& name_for_errors) {
    if (json_text.size() > kHfMaxConfigBytes) {
        return Status::errorf("{}: config is {} bytes, over the {}-byte limit", name_for_errors, json_text.size(),
                              kHfMaxConfigBytes);
    }
    json root;
    if (Status s = parse_strict_json(json_text, kMaxJsonDepth, &root); !s.ok()) return s.with_context(name_for_errors);
    HfConfig config;
    if (Status s = parse_config(root, &config); !s.ok()) return s.with_context(name_for_errors);
    return config;
}

Result<HfConfig> load_hf_config(const std::string& path) {
    std::error_code ec;
    std::filesystem::path file = path;
    if (std::filesystem::is_directory(file, ec)) file /= "config.json";
    const std::string name = file.string();
    if (!std::filesystem::is_regular_file(file, ec)) return Status::errorf("'{}' is not a readable file", name);
    if (std::filesystem::file_size(file, ec) == 0 && !ec) return Status::errorf("{}: file is empty", name);
    ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::open(name));
    return parse_hf_config(std::string_view(reinterpret_cast<const char*>(mapped.data()), mapped.size()), name);
}

bool hf_architecture_supported(std::string_view arch) {
    static constexpr std::string_view kSupported[] = {
        "LlamaForCausalLM",      "MistralForCausalLM",  "Qwen2ForCausalLM",    "Qwen3ForCausalLM",
        "MixtralForCausalLM",    "Qwen2MoeForCausalLM", "Qwen3MoeForCausalLM", "DeepseekV2ForCausalLM",
        "DeepseekV3ForCausalLM", "Gemma3ForCausalLM",
    };
    return std::find(std::begin(kSupported), std::end(kSupported), arch) != std::end(kSupported);
}

}  // namespace frugal
