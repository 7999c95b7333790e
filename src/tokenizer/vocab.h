// The in-memory vocabulary every tokenizer in this folder works from: token texts, scores, types, BPE merge ranks,
// special ids and flags, plus the derived lookups (text -> id, special tokens by length, end-of-generation set).
// Loaded from GGUF metadata (gguf_vocab.cpp), a llama2.c tokenizer.bin (llama2c_vocab.cpp), a Hugging Face
// tokenizer.json (hf_tokenizer_json.cpp) or a tiktoken rank file (tiktoken_vocab.cpp); immutable after
// finalize() and safe to share between threads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"

namespace frugal {

inline constexpr int32_t kNullToken = -1;

enum class VocabType { kSpm, kBpe };

// tokenizer.ggml.token_type values (GGUF / llama.cpp LLAMA_TOKEN_TYPE_*).
enum class TokenType : int32_t {
    kUndefined = 0,
    kNormal = 1,
    kUnknown = 2,
    kControl = 3,
    kUserDefined = 4,
    kUnused = 5,
    kByte = 6,
};

// Attribute bits derived from the token type and a few name-based rules (llama.cpp's llama_token_attr).
enum TokenAttr : uint32_t {
    kAttrUndefined = 0,
    kAttrUnknown = 1u << 0,
    kAttrUnused = 1u << 1,
    kAttrNormal = 1u << 2,
    kAttrControl = 1u << 3,
    kAttrUserDefined = 1u << 4,
    kAttrByte = 1u << 5,
    kAttrLstrip = 1u << 7,  // swallow whitespace to the left when split out as a special token
    kAttrRstrip = 1u << 8,  // swallow whitespace to the right
};

struct TokenData {
    std::string text;
    float score = 0.0f;
    TokenType type = TokenType::kNormal;  // as stored, for export
    uint32_t attr = kAttrNormal;          // as used by the tokenizer
};

// Transparent hashing so lookups by string_view do not allocate.
struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenIndex = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct Vocab {
    VocabType type = VocabType::kSpm;
    std::string model;  // tokenizer.ggml.model ("llama", "gpt2")
    std::string pre;    // tokenizer.ggml.pre (BPE only)
    std::string name;   // general.name, used by llama.cpp's per-model attribute rules
    std::vector<TokenData> tokens;
    std::vector<std::string> merges;  // BPE merges as stored ("left right"), rank = index

    int32_t bos_id = kNullToken;
    int32_t eos_id = kNullToken;
    int32_t eot_id = kNullToken;
    int32_t eom_id = kNullToken;
    int32_t unk_id = kNullToken;
    int32_t sep_id = kNullToken;
    int32_t pad_id = kNullToken;
    int32_t mask_id = kNullToken;
    int32_t fim_pre_id = kNullToken;
    int32_t fim_suf_id = kNullToken;
    int32_t fim_mid_id = kNullToken;
    int32_t fim_pad_id = kNullToken;
    int32_t fim_rep_id = kNullToken;
    int32_t fim_sep_id = kNullToken;

    bool add_space_prefix = false;  // SPM: prepend ' ' to text that starts the input or follows a special token
    bool add_bos = false;
    bool add_eos = false;
    bool ignore_merges = false;  // BPE: a pre-tokenized word that is itself a token is emitted whole
    bool clean_spaces = false;   // decode: drop spaces before punctuation / contractions (HF clean_up_tokenization)
    // BPE from a Hugging Face tokenizer.json: its own Split regexes, applied in order (instead of the llama.cpp
    // set named by `pre`), and its Unicode normalizer ("", "NFC" or "NFKC") applied to text outside special tokens.
    std::vector<std::string> pre_patterns;
    std::string normalizer;
    // Token roles come from the source (tokenizer.json: special -> control, other added tokens -> user-defined,
    // lstrip / rstrip kept): finalize() does not apply llama.cpp's text-based attribute rules (it still uses them
    // to pick the end-of-generation set).
    bool hf_attributes = false;
    // A SentencePiece-style tokenizer.json (BPE over raw text with byte fallback): its normalizer, pre_tokenizer,
    // decoder and BPE options as JSON, run by HfBpeTokenizer with `merges`; "" for every other vocabulary.
    std::string hf_pipeline;

    // Derived by finalize().
    TokenIndex token_to_id;
    std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> merge_ranks;  // "left right" -> rank
    std::vector<int32_t> special_tokens;  // control / user-defined / unknown ids, longest text first
    std::vector<bool> eog;                // per id: ends generation

    int32_t num_tokens() const { return static_cast<int32_t>(tokens.size()); }
    int32_t find(std::string_view text) const {
        auto it = token_to_id.find(text);
        return it == token_to_id.end() ? kNullToken : it->second;
    }
    int32_t merge_rank(std::string_view left, std::string_view right) const;
    // SPM byte-fallback token for b: "<0xXX>", else the single byte as text, else unk.
    int32_t byte_to_token(uint8_t b) const;
    // The byte a kAttrByte token stands for ("<0xXX>").
    uint8_t token_to_byte(int32_t id) const;

    // Builds the derived tables and applies llama.cpp's text-based special-token rules (EOT/FIM detection,
    // forced control attributes, EOG set). Fails on duplicate token texts or a missing id a flag requires.
    Status finalize();
};

// Applies the per-type defaults llama.cpp uses before metadata overrides (special ids, add_bos, space prefix).
void apply_vocab_type_defaults(Vocab& vocab);

}  // namespace frugal
