#include "tokenizer/hf_tokenizer_json.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tokenizer/hf_bpe_tokenizer.h"
#include "tokenizer/pre_tokenizer.h"

namespace frugal {
namespace {

using json = nlohmann::json;

// GPT-2's pre-tokenizer regex: ByteLevel with use_regex = true applies it.
const std::string kByteLevelRegex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// llama.cpp's name for the pre-tokenizer whose regexes these are, for files llama.cpp will read too.
std::string llama_cpp_pre_name(const std::vector<std::string>& patterns) {
    struct Known {
        const char* name;
        std::vector<std::string> patterns;
    };
    static const std::vector<Known> kKnown = {
        {"llama-bpe",
         {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
          "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
          "\\s+(?!\\S)|\\s+"}},
        {"qwen2",
         {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
          "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
          "\\s+(?!\\S)|\\s+"}},
        {"gpt-2", {kByteLevelRegex}},
    };
    for (const Known& k : kKnown) {
        if (k.patterns == patterns) return k.name;
    }
    if (patterns.size() == 3 && patterns[0] == "\\p{N}{1,3}") return "deepseek-v3";
    return "default";
}

std::string content_of(const json& v) {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    return "";
}

Status read_pre_tokenizer(const json& pre, std::vector<std::string>* patterns, bool* byte_level) {
    if (pre.is_null()) return ok_status();
    const std::string type = pre.value("type", "");
    if (type == "Sequence") {
        for (const json& p : pre.value("pretokenizers", json::array()))
            RETURN_IF_ERROR(read_pre_tokenizer(p, patterns, byte_level));
        return ok_status();
    }
    if (type == "ByteLevel") {
        *byte_level = true;
        if (pre.value("add_prefix_space", false))
            return Status::error("ByteLevel pre-tokenizer with add_prefix_space is not supported");
        if (pre.value("use_regex", true)) patterns->push_back(kByteLevelRegex);
        return ok_status();
    }
    if (type == "Digits") {
        // Digits apart from everything else: one by one, or in runs (an Isolated split on numeric characters).
        patterns->push_back(pre.value("individual_digits", false) ? "\\p{N}" : "\\p{N}+");
        return ok_status();
    }
    if (type == "Split") {
        const json& pattern = pre.value("pattern", json::object());
        std::string regex;
        if (pattern.contains("Regex") && pattern["Regex"].is_string()) {
            regex = pattern["Regex"].get<std::string>();
        } else {
            return Status::error("Split pre-tokenizer without a Regex pattern (String patterns are not supported)");
        }
        if (pre.value("behavior", "") != "Isolated" || pre.value("invert", false)) {
            return Status::errorf("Split pre-tokenizer behavior '{}' (invert {}) is not supported; only Isolated",
                                  pre.value("behavior", ""), pre.value("invert", false));
        }
        patterns->push_back(std::move(regex));
        return ok_status();
    }
    return Status::errorf("pre-tokenizer type '{}' is not supported", type);
}

Status read_normalizer(const json& n, std::string* out) {
    if (n.is_null()) return ok_status();
    const std::string type = n.value("type", "");
    if (type == "Sequence") {
        for (const json& m : n.value("normalizers", json::array())) RETURN_IF_ERROR(read_normalizer(m, out));
        return ok_status();
    }
    if (type == "NFC" || type == "NFKC") {
        if (!out->empty() && *out != type)
            return Status::errorf("normalizers {} and {} together are not supported", *out, type);
        *out = type;
        return ok_status();
    }
    return Status::errorf("normalizer type '{}' is not supported", type);
}

Result<Vocab> build(const std::string& json_text, const std::string& config_text) {
    const json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) return Status::error("not valid JSON");
    const json config = config_text.empty() ? json::object() : json::parse(config_text, nullptr, false);
    if (config.is_discarded()) return Status::error("tokenizer_config.json is not valid JSON");

    const json& model = j.value("model", json::object());
    if (model.value("type", "BPE") != "BPE" || !model.contains("vocab") || !model["vocab"].is_object()) {
        return Status::errorf("model type '{}' is not supported (byte-level BPE only)", model.value("type", "?"));
    }
    // Two forms: byte-level BPE (a ByteLevel pre-tokenizer, regex splits) and SentencePiece-style BPE over raw
    // text (no pre-tokenizer or Metaspace; byte_fallback), which HfBpeTokenizer runs.
    const json& pre = j.value("pre_tokenizer", json());
    const bool spm_form = pre.is_null() || (pre.is_object() && pre.value("type", "") == "Metaspace");
    Vocab vocab;
    vocab.hf_attributes = true;
    vocab.clean_spaces = false;
    vocab.ignore_merges = model.value("ignore_merges", false);
    if (spm_form) {
        vocab.type = VocabType::kSpm;
        vocab.model = "llama";
        vocab.hf_pipeline = json{{"normalizer", j.value("normalizer", json())},
                                 {"pre_tokenizer", pre},
                                 {"decoder", j.value("decoder", json())},
                                 {"model",
                                  {{"unk_token", model.value("unk_token", json())},
                                   {"fuse_unk", model.value("fuse_unk", false)},
                                   {"byte_fallback", model.value("byte_fallback", false)},
                                   {"ignore_merges", vocab.ignore_merges},
                                   {"dropout", model.value("dropout", json())},
                                   {"continuing_subword_prefix", model.value("continuing_subword_prefix", json())},
                                   {"end_of_word_suffix", model.value("end_of_word_suffix", json())}}}}
                                .dump();
    } else {
        if (model.value("byte_fallback", false))
            return Status::error("BPE with byte_fallback and a byte-level pre-tokenizer is not supported");
        vocab.type = VocabType::kBpe;
        vocab.model = "gpt2";
        bool byte_level = false;
        RETURN_IF_ERROR(read_pre_tokenizer(pre, &vocab.pre_patterns, &byte_level));
        if (!byte_level) return Status::error("only byte-level BPE is supported (no ByteLevel pre-tokenizer found)");
        if (vocab.pre_patterns.empty()) return Status::error("the pre-tokenizer defines no split regex");
        RETURN_IF_ERROR(read_normalizer(j.value("normalizer", json()), &vocab.normalizer));
        vocab.pre = llama_cpp_pre_name(vocab.pre_patterns);
    }
    // Special ids come from tokenizer_config.json, the post-processor or the model, not from per-type defaults.
    vocab.add_space_prefix = false;

    // Token ids: model.vocab plus added tokens; holes (unused ids) get placeholder texts, as llama.cpp's
    // converter writes them.
    int64_t num_tokens = 0;
    for (const auto& [text, id] : model["vocab"].items()) {
        if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= (int64_t{1} << 24)) {
            return Status::errorf("model.vocab entry '{}' has an invalid id", text);
        }
        num_tokens = std::max<int64_t>(num_tokens, id.get<int64_t>() + 1);
    }
    const json& added = j.value("added_tokens", json::array());
    for (const json& t : added) {
        if (!t.is_object() || !t.contains("id") || !t["id"].is_number_integer() || !t.contains("content") ||
            !t["content"].is_string() || t["id"].get<int64_t>() < 0 || t["id"].get<int64_t>() >= (int64_t{1} << 24)) {
            return Status::error("an added_tokens entry lacks a valid id or content");
        }
        num_tokens = std::max<int64_t>(num_tokens, t["id"].get<int64_t>() + 1);
    }
    // Unused ids get placeholders; a file whose ids are mostly holes is refused rather than allocated.
    const size_t num_entries = model["vocab"].size() + added.size();
    if (static_cast<size_t>(num_tokens) > 2 * num_entries + 1024) {
        return Status::errorf("token ids go up to {} for {} entries: too many unused ids", num_tokens - 1, num_entries);
    }
    vocab.tokens.resize(static_cast<size_t>(num_tokens));
    for (int64_t i = 0; i < num_tokens; ++i) {
        vocab.tokens[i] = {fmt::format("[PAD{}]", i), 0.0f, TokenType::kUnused, kAttrUnused};
    }
    const bool byte_tokens = spm_form && model.value("byte_fallback", false);
    for (const auto& [text, id] : model["vocab"].items()) {
        const bool is_byte = byte_tokens && text.size() == 6 && text.compare(0, 3, "<0x") == 0 && text[5] == '>';
        vocab.tokens[id.get<int64_t>()] = {text, 0.0f, is_byte ? TokenType::kByte : TokenType::kNormal,
                                           is_byte ? kAttrByte : kAttrNormal};
    }
    for (const json& t : added) {
        const bool special = t.value("special", false);
        TokenData& d = vocab.tokens[t["id"].get<int64_t>()];
        d.text = t["content"].get<std::string>();
        d.type = special ? TokenType::kControl : TokenType::kUserDefined;
        d.attr = special ? kAttrControl : kAttrUserDefined;
        if (t.value("lstrip", false)) d.attr |= kAttrLstrip;
        if (t.value("rstrip", false)) d.attr |= kAttrRstrip;
    }
    const json& merges = model.value("merges", json::array());
    vocab.merges.reserve(merges.size());
    for (const json& m : merges) {
        if (m.is_string()) {
            vocab.merges.push_back(m.get<std::string>());
        } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
            if (m[0].get<std::string>().find(' ') != std::string::npos ||
                m[1].get<std::string>().find(' ') != std::string::npos) {
                return Status::errorf(
                    "merge [\"{}\", \"{}\"] has a token with a space, which the \"a b\" form "
                    "cannot hold",
                    m[0].get<std::string>(), m[1].get<std::string>());
            }
            vocab.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
        } else {
            return Status::error("a model.merges entry is neither \"a b\" nor [\"a\", \"b\"]");
        }
    }

    auto id_of = [&](const std::string& text) -> int32_t {
        if (text.empty()) return kNullToken;
        for (int64_t i = 0; i < num_tokens; ++i) {
            if (vocab.tokens[i].text == text) return static_cast<int32_t>(i);
        }
        return kNullToken;
    };
    vocab.bos_id = vocab.eos_id = vocab.unk_id = vocab.pad_id = kNullToken;
    if (spm_form && model.value("unk_token", json()).is_string())
        vocab.unk_id = id_of(model["unk_token"].get<std::string>());
    if (config.contains("bos_token")) vocab.bos_id = id_of(content_of(config["bos_token"]));
    if (config.contains("eos_token")) vocab.eos_id = id_of(content_of(config["eos_token"]));
    if (config.contains("pad_token")) vocab.pad_id = id_of(content_of(config["pad_token"]));
    if (config.contains("unk_token")) vocab.unk_id = id_of(content_of(config["unk_token"]));
    // BOS/EOS: a TemplateProcessing post-processor that starts (ends) its single template with a special token,
    // else tokenizer_config.json's add_bos_token / add_eos_token.
    vocab.add_bos = config.value("add_bos_token", false) && vocab.bos_id != kNullToken;
    vocab.add_eos = config.value("add_eos_token", false) && vocab.eos_id != kNullToken;
    // The post-processor: ByteLevel (offsets only), TemplateProcessing, or a Sequence of them (Llama 3.1's form).
    json post = j.value("post_processor", json());
    if (post.is_object() && post.value("type", "") == "Sequence") {
        json template_processing;
        for (const json& p : post.value("processors", json::array())) {
            const std::string type = p.is_object() ? p.value("type", "") : "";
            if (type == "TemplateProcessing") {
                template_processing = p;
            } else if (type != "ByteLevel") {
                return Status::errorf("post-processor type '{}' is not supported", type);
            }
        }
        post = template_processing;
    } else if (!post.is_null() && !(post.is_object() && (post.value("type", "") == "ByteLevel" ||
                                                         post.value("type", "") == "TemplateProcessing"))) {
        return Status::errorf("post-processor type '{}' is not supported",
                              post.is_object() ? post.value("type", "") : "?");
    }
    if (post.is_object() && post.value("type", "") == "TemplateProcessing" && post.contains("single") &&
        post["single"].is_array() && !post["single"].empty()) {
        const json& single = post["single"];
        auto special_id = [&](const json& item) -> int32_t {
            if (!item.is_object() || !item.contains("SpecialToken")) return kNullToken;
            return id_of(item["SpecialToken"].value("id", ""));
        };
        if (const int32_t first = special_id(single.front()); first != kNullToken) {
            vocab.bos_id = first;
            vocab.add_bos = true;
        }
        if (const int32_t last = special_id(single.back()); last != kNullToken && single.size() > 1) {
            vocab.eos_id = last;
            vocab.add_eos = true;
        }
    }
    if (spm_form) {
        // Scores for llama.cpp, which reads this vocabulary as SentencePiece: the earlier the merge that makes a
        // token, the higher its score.
        TokenIndex index;
        for (size_t i = 0; i < vocab.tokens.size(); ++i) {
            index.emplace(vocab.tokens[i].text, static_cast<int32_t>(i));
            vocab.tokens[i].score = -1e9f;
        }
        for (size_t rank = vocab.merges.size(); rank-- > 0;) {
            std::string merged = vocab.merges[rank];
            const size_t space = merged.find(' ');
            if (space != std::string::npos) merged.erase(space, 1);
            if (const auto it = index.find(merged); it != index.end())
                vocab.tokens[it->second].score = -static_cast<float>(rank);
        }
    }
    RETURN_IF_ERROR(vocab.finalize());
    if (spm_form) {
        // Validates the pipeline now (unsupported components, merges outside the vocabulary).
        ASSIGN_OR_RETURN(std::unique_ptr<HfBpeTokenizer> check, HfBpeTokenizer::create(vocab));
        vocab.add_space_prefix = check->decoder_strips_leading_space();
    }
    return vocab;
}

std::string read_text(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

Result<Vocab> vocab_from_tokenizer_json(const std::string& json_text, const std::string& config_text,
                                        const std::string& name_for_errors) {
    // nlohmann's accessors throw on a value of the wrong type (a number where a flag belongs); that is bad input.
    Result<Vocab> vocab = [&]() -> Result<Vocab> {
        try {
            return build(json_text, config_text);
        } catch (const json::exception& e) {
            return Status::errorf("a value has the wrong JSON type: {}", e.what());
        }
    }();
    if (!vocab.ok()) return vocab.status().with_context(name_for_errors);
    return vocab;
}

Result<Vocab> vocab_from_hf_dir(const std::string& dir) {
    const std::filesystem::path json_path = std::filesystem::path(dir) / "tokenizer.json";
    std::error_code ec;
    if (!std::filesystem::exists(json_path, ec)) return Status::errorf("'{}' has no tokenizer.json", dir);
    const std::filesystem::path config_path = std::filesystem::path(dir) / "tokenizer_config.json";
    const std::string config = std::filesystem::exists(config_path, ec) ? read_text(config_path) : "";
    return vocab_from_tokenizer_json(read_text(json_path), config, json_path.string());
}

}  // namespace frugal
