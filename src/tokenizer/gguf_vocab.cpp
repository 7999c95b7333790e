#include "tokenizer/gguf_vocab.h"

#include <string_view>

#include "tokenizer/pre_tokenizer.h"

namespace frugal {
namespace {

constexpr std::string_view kModelKey = "tokenizer.ggml.model";
constexpr std::string_view kTokensKey = "tokenizer.ggml.tokens";
constexpr std::string_view kScoresKey = "tokenizer.ggml.scores";
constexpr std::string_view kTokenTypeKey = "tokenizer.ggml.token_type";
constexpr std::string_view kMergesKey = "tokenizer.ggml.merges";
// frugal's own keys for vocabularies from a Hugging Face tokenizer.json (llama.cpp ignores them).
const std::string kPrePatternsKey = "frugal.tokenizer.pre_patterns";
const std::string kNormalizerKey = "frugal.tokenizer.normalizer";
const std::string kIgnoreMergesKey = "frugal.tokenizer.ignore_merges";
// A SentencePiece-style tokenizer.json's pipeline (Vocab::hf_pipeline); its merges go in tokenizer.ggml.merges.
const std::string kHfPipelineKey = "frugal.tokenizer.hf_pipeline";

bool is_numeric_array(const GgufValue& v) {
    return v.type == GgufType::kArray && v.array_type != GgufType::kString && v.array_type != GgufType::kArray;
}

// Special-id keys in the order llama.cpp applies them (the deprecated FIM names last, so they win).
struct SpecialIdKey {
    const char* key;
    int32_t Vocab::*id;
};
constexpr SpecialIdKey kSpecialIdKeys[] = {
    {"tokenizer.ggml.bos_token_id", &Vocab::bos_id},
    {"tokenizer.ggml.eos_token_id", &Vocab::eos_id},
    {"tokenizer.ggml.eot_token_id", &Vocab::eot_id},
    {"tokenizer.ggml.eom_token_id", &Vocab::eom_id},
    {"tokenizer.ggml.unknown_token_id", &Vocab::unk_id},
    {"tokenizer.ggml.seperator_token_id", &Vocab::sep_id},  // sic: llama.cpp's spelling
    {"tokenizer.ggml.padding_token_id", &Vocab::pad_id},
    {"tokenizer.ggml.mask_token_id", &Vocab::mask_id},
    {"tokenizer.ggml.fim_pre_token_id", &Vocab::fim_pre_id},
    {"tokenizer.ggml.fim_suf_token_id", &Vocab::fim_suf_id},
    {"tokenizer.ggml.fim_mid_token_id", &Vocab::fim_mid_id},
    {"tokenizer.ggml.fim_pad_token_id", &Vocab::fim_pad_id},
    {"tokenizer.ggml.fim_rep_token_id", &Vocab::fim_rep_id},
    {"tokenizer.ggml.fim_sep_token_id", &Vocab::fim_sep_id},
    {"tokenizer.ggml.prefix_token_id", &Vocab::fim_pre_id},
    {"tokenizer.ggml.suffix_token_id", &Vocab::fim_suf_id},
    {"tokenizer.ggml.middle_token_id", &Vocab::fim_mid_id},
};

}  // namespace

Result<Vocab> vocab_from_gguf(const GgufFile& file) {
    Vocab vocab;
    const GgufValue* model = file.find(kModelKey);
    if (model == nullptr)
        return Status::errorf("{}: no tokenizer: metadata key '{}' is missing", file.path(), kModelKey);
    if (model->type != GgufType::kString) {
        return Status::errorf("{}: metadata key '{}' has type {}, expected string", file.path(), kModelKey,
                              gguf_type_name(model->type));
    }
    vocab.model = std::string(model->string_value);
    vocab.pre = file.get_string_or("tokenizer.ggml.pre", "");
    vocab.name = file.get_string_or("general.name", "");
    if (vocab.model == "llama") {
        vocab.type = VocabType::kSpm;
    } else if (vocab.model == "gpt2") {
        vocab.type = VocabType::kBpe;
    } else {
        return Status::errorf("{}: unsupported tokenizer model '{}' (supported: llama, gpt2)", file.path(),
                              vocab.model);
    }
    apply_vocab_type_defaults(vocab);

    const GgufValue* tokens = file.find(kTokensKey);
    if (tokens == nullptr) return Status::errorf("{}: metadata key '{}' is missing", file.path(), kTokensKey);
    if (tokens->type != GgufType::kArray || tokens->array_type != GgufType::kString) {
        return Status::errorf("{}: metadata key '{}' must be an array of strings", file.path(), kTokensKey);
    }
    const size_t n = tokens->array_strings.size();
    if (n == 0 || n > static_cast<size_t>(INT32_MAX)) {
        return Status::errorf("{}: '{}' has {} entries", file.path(), kTokensKey, n);
    }

    const GgufValue* scores = file.find(kScoresKey);
    if (scores != nullptr) {
        if (!is_numeric_array(*scores)) {
            return Status::errorf("{}: metadata key '{}' must be a numeric array", file.path(), kScoresKey);
        }
        if (scores->array_count < n) {
            return Status::errorf("{}: '{}' has {} entries for {} tokens", file.path(), kScoresKey, scores->array_count,
                                  n);
        }
    }
    const GgufValue* types = file.find(kTokenTypeKey);
    if (types != nullptr) {
        if (!is_numeric_array(*types) || types->array_type == GgufType::kFloat32 ||
            types->array_type == GgufType::kFloat64) {
            return Status::errorf("{}: metadata key '{}' must be an integer array", file.path(), kTokenTypeKey);
        }
        if (types->array_count < n) {
            return Status::errorf("{}: '{}' has {} entries for {} tokens", file.path(), kTokenTypeKey,
                                  types->array_count, n);
        }
    }

    vocab.tokens.resize(n);
    for (size_t i = 0; i < n; ++i) {
        TokenData& t = vocab.tokens[i];
        t.text = std::string(tokens->array_strings[i]);
        t.score = scores != nullptr ? static_cast<float>(scores->array_float(i)) : 0.0f;
        if (types != nullptr) {
            const int64_t type = types->array_int(i);
            t.type = type >= 0 && type <= 6 ? static_cast<TokenType>(type) : TokenType::kUndefined;
        }
    }

    if (vocab.type == VocabType::kBpe) {
        const GgufValue* merges = file.find(kMergesKey);
        if (merges == nullptr) return Status::errorf("{}: BPE tokenizer without '{}'", file.path(), kMergesKey);
        if (merges->type != GgufType::kArray || merges->array_type != GgufType::kString) {
            return Status::errorf("{}: metadata key '{}' must be an array of strings", file.path(), kMergesKey);
        }
        vocab.merges.reserve(merges->array_strings.size());
        for (std::string_view m : merges->array_strings) vocab.merges.emplace_back(m);

        // Files written from a tokenizer.json carry its exact regexes (and normalizer) under frugal's own keys;
        // tokenizer.ggml.pre then only names the nearest llama.cpp set, for llama.cpp.
        if (const GgufValue* p = file.find(kPrePatternsKey);
            p != nullptr && p->type == GgufType::kArray && p->array_type == GgufType::kString) {
            for (std::string_view pattern : p->array_strings) vocab.pre_patterns.emplace_back(pattern);
            vocab.normalizer = file.get_string_or(kNormalizerKey, "");
            vocab.ignore_merges = file.get_bool_or(kIgnoreMergesKey, false);
            vocab.hf_attributes = true;  // the token types are the tokenizer.json's own
        }
        const std::string pre = vocab.pre.empty() ? "default" : vocab.pre;
        const auto traits = pre_tokenizer_traits(pre);
        if (!vocab.pre_patterns.empty()) {
            // The tokenizer.json's own rules; clean_spaces comes from its decoder (none for byte-level).
            vocab.clean_spaces = false;
        } else if (!traits.has_value()) {
            return Status::errorf("{}: unsupported pre-tokenizer type '{}' (tokenizer.ggml.pre)", file.path(), pre);
        } else {
            vocab.ignore_merges = traits->ignore_merges;
            if (traits->add_bos) vocab.add_bos = true;
            if (!traits->clean_spaces) vocab.clean_spaces = false;
        }
    }

    if (vocab.type == VocabType::kSpm && file.find(kHfPipelineKey) != nullptr) {
        vocab.hf_pipeline = file.get_string_or(kHfPipelineKey, "");
        if (vocab.hf_pipeline.empty()) return Status::errorf("{}: '{}' must be a string", file.path(), kHfPipelineKey);
        const GgufValue* merges = file.find(kMergesKey);
        if (merges == nullptr || merges->type != GgufType::kArray || merges->array_type != GgufType::kString)
            return Status::errorf("{}: '{}' needs '{}' as an array of strings", file.path(), kHfPipelineKey,
                                  kMergesKey);
        for (std::string_view m : merges->array_strings) vocab.merges.emplace_back(m);
        vocab.hf_attributes = true;
        vocab.clean_spaces = false;
    }
    vocab.add_space_prefix = file.get_bool_or("tokenizer.ggml.add_space_prefix", vocab.add_space_prefix);

    for (const SpecialIdKey& k : kSpecialIdKeys) {
        const GgufValue* v = file.find(k.key);
        if (v == nullptr || !v->is_integer()) continue;
        if (v->int_value >= 0 && v->int_value < static_cast<int64_t>(n))
            vocab.*k.id = static_cast<int32_t>(v->int_value);
    }
    vocab.add_bos = file.get_bool_or("tokenizer.ggml.add_bos_token", vocab.add_bos);
    vocab.add_eos = file.get_bool_or("tokenizer.ggml.add_eos_token", vocab.add_eos);

    Status st = vocab.finalize();
    if (!st.ok()) return st.with_context(file.path());
    return vocab;
}

void write_vocab_gguf_metadata(const Vocab& vocab, GgufWriter& w) {
    w.set_string("tokenizer.ggml.model", vocab.model);
    if (vocab.type == VocabType::kBpe && !vocab.pre.empty()) w.set_string("tokenizer.ggml.pre", vocab.pre);
    std::vector<std::string> texts;
    std::vector<float> scores;
    std::vector<int32_t> types;
    texts.reserve(vocab.tokens.size());
    scores.reserve(vocab.tokens.size());
    types.reserve(vocab.tokens.size());
    for (const TokenData& t : vocab.tokens) {
        texts.push_back(t.text);
        scores.push_back(t.score);
        types.push_back(static_cast<int32_t>(t.type));
    }
    w.set_string_array("tokenizer.ggml.tokens", texts);
    w.set_float32_array("tokenizer.ggml.scores", scores);
    w.set_int32_array("tokenizer.ggml.token_type", types);
    if (vocab.type == VocabType::kBpe || !vocab.hf_pipeline.empty())
        w.set_string_array("tokenizer.ggml.merges", vocab.merges);
    if (!vocab.hf_pipeline.empty()) w.set_string(kHfPipelineKey, vocab.hf_pipeline);
    if (!vocab.pre_patterns.empty()) {
        w.set_string_array(kPrePatternsKey, vocab.pre_patterns);
        if (!vocab.normalizer.empty()) w.set_string(kNormalizerKey, vocab.normalizer);
        w.set_bool(kIgnoreMergesKey, vocab.ignore_merges);
    }
    const auto set_id = [&](const char* key, int32_t id) {
        if (id != kNullToken) w.set_uint32(key, static_cast<uint32_t>(id));
    };
    set_id("tokenizer.ggml.bos_token_id", vocab.bos_id);
    set_id("tokenizer.ggml.eos_token_id", vocab.eos_id);
    set_id("tokenizer.ggml.unknown_token_id", vocab.unk_id);
    set_id("tokenizer.ggml.padding_token_id", vocab.pad_id);
    set_id("tokenizer.ggml.seperator_token_id", vocab.sep_id);
    w.set_bool("tokenizer.ggml.add_bos_token", vocab.add_bos);
    w.set_bool("tokenizer.ggml.add_eos_token", vocab.add_eos);
    if (vocab.type == VocabType::kSpm) w.set_bool("tokenizer.ggml.add_space_prefix", vocab.add_space_prefix);
}

}  // namespace frugal
