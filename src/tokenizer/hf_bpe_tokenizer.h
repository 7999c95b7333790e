// BPE over raw UTF-8 text as Hugging Face `tokenizers` runs a SentencePiece-style tokenizer.json (Llama 2,
// Mistral, TinyLlama, Gemma): the normalizers (Prepend, Replace, Strip, Lowercase, NFC/NFD/NFKC/NFKD), an optional
// Metaspace pre-tokenizer, then BPE from characters by merge rank over token-id pairs, characters missing from the
// vocabulary becoming <0xXX> byte tokens (byte_fallback) or the (fused) unknown token; decoding runs the
// tokenizer.json's decoder chain (Replace, ByteFallback, Fuse, Strip, Metaspace).
//
// The pipeline is read from Vocab::hf_pipeline (the tokenizer.json's normalizer, pre_tokenizer, decoder and BPE
// options as JSON), so a vocabulary stored in a GGUF carries it unchanged. Immutable after create(); thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "tokenizer/vocab.h"

namespace frugal {

class HfBpeTokenizer {
  public:
    // Fails, naming the component, on any normalizer / pre-tokenizer / decoder / model option it does not
    // implement exactly, and on merges whose tokens are not in the vocabulary.
    static Result<std::unique_ptr<HfBpeTokenizer>> create(const Vocab& vocab);

    // Appends the ids of one text section (the text between added tokens). at_input_start: the section starts
    // the input (Metaspace's prepend_scheme "first" prepends only there). Thread-safe.
    void encode(std::string_view text, bool at_input_start, std::vector<int32_t>& out) const;

    // The decoder chain over token texts (already filtered for special tokens), joined.
    std::string decode(std::vector<std::string> tokens) const;

    // True when the decoder drops the space the encoder put before the first word (Strip start / Metaspace).
    bool decoder_strips_leading_space() const;

    struct Rule {
        enum class Kind {
            kPrepend,
            kReplace,
            kStrip,
            kLowercase,
            kUnicode,
            kByteFallback,
            kFuse,
            kMetaspace,
        };
        Kind kind;
        std::string a;  // Prepend: the prefix; Replace: the pattern; Strip (decoder): the content character;
                        // Unicode: NFC/NFD/NFKC/NFKD; Metaspace: the replacement
        std::string b;  // Replace: the content
        int left = 0;   // Strip: how much to strip at the start (normalizer: 0/1 = strip_left) / the end
        int right = 0;
        int prepend_scheme = 0;  // Metaspace: 0 always, 1 first, 2 never
        bool split = true;       // Metaspace pre-tokenizer: split the text before each replacement character
    };

  private:
    struct Merge {
        int32_t rank;
        int32_t new_id;
    };

    explicit HfBpeTokenizer(const Vocab& vocab) : vocab_(vocab) {}
    static Result<std::unique_ptr<HfBpeTokenizer>> create_checked(const Vocab& vocab);
    void encode_word(std::string_view word, std::vector<int32_t>& out) const;
    std::string normalize(std::string_view text) const;

    const Vocab& vocab_;  // owned by the Tokenizer that owns this
    std::vector<Rule> normalizers_;
    bool has_metaspace_ = false;
    Rule metaspace_;
    std::vector<Rule> decoders_;
    std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) -> rank, merged id
    std::vector<int32_t> byte_tokens_;            // byte -> <0xXX> id, kNullToken when absent
    int32_t unk_id_ = kNullToken;
    bool byte_fallback_ = false;
    bool fuse_unk_ = false;
    bool ignore_merges_ = false;
};

}  // namespace frugal
