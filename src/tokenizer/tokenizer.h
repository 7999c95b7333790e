// Text <-> token ids, matching llama.cpp's llama_tokenize / llama_token_to_piece / llama_detokenize for SPM
// ("llama") and byte-level BPE ("gpt2") vocabularies. A Tokenizer owns a copy of its vocabulary (it does not
// keep the GGUF file alive), is immutable after construction and may be used from several threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "format/gguf/gguf_file.h"
#include "format/gguf/gguf_writer.h"
#include "tokenizer/vocab.h"

namespace frugal {

class SpmTokenizer;
class BpeTokenizer;
class HfBpeTokenizer;
class SpecialTokenIndex;

class Tokenizer {
  public:
    // From the tokenizer.ggml.* metadata of a GGUF file.
    static Result<std::unique_ptr<Tokenizer>> from_gguf(const GgufFile& file);
    // From a llama2.c tokenizer.bin (e.g. stories260K's tok512.bin); yields an SPM vocabulary.
    static Result<std::unique_ptr<Tokenizer>> from_llama2c(const std::string& path);
    // From an already built vocabulary (finalize() must have succeeded).
    static Result<std::unique_ptr<Tokenizer>> from_vocab(Vocab vocab);
    ~Tokenizer();

    // add_bos acts as llama.cpp's add_special: BOS (and EOS) are added only if the vocabulary asks for them.
    // parse_special: control/unknown token texts in `text` become those tokens; user-defined tokens are always
    // split out, as in llama.cpp.
    std::vector<int32_t> encode(std::string_view text, bool add_bos, bool parse_special) const;

    // The bytes one token stands for. Control and unknown tokens are empty unless render_special. The piece may
    // be an incomplete UTF-8 sequence (byte tokens); see StreamingDetokenizer. Out-of-range ids give "".
    std::string token_to_piece(int32_t id, bool render_special = false) const;

    // llama_detokenize(remove_special=false): concatenated pieces, minus the dummy-prefix space of the first
    // token (SPM), plus the vocabulary's clean-up-spaces rule (" ." -> ".", used by gpt-2 and llama-bpe).
    std::string decode(std::span<const int32_t> ids, bool render_special = false) const;

    int32_t bos_id() const { return vocab_.bos_id; }
    int32_t eos_id() const { return vocab_.eos_id; }
    bool add_bos() const { return vocab_.add_bos; }
    bool add_space_prefix() const { return vocab_.add_space_prefix; }
    bool is_eog(int32_t id) const { return id >= 0 && id < vocab_.num_tokens() && vocab_.eog[id]; }
    int32_t vocab_size() const { return vocab_.num_tokens(); }
    const Vocab& vocab() const { return vocab_; }

    // Writes the tokenizer.ggml.* keys that reproduce this vocabulary (for `frugal convert`).
    void write_gguf_metadata(GgufWriter& w) const;

  private:
    struct Fragment {
        int32_t token = kNullToken;  // a special token, or kNullToken for raw text [offset, offset + length)
        size_t offset = 0;
        size_t length = 0;
    };

    explicit Tokenizer(Vocab vocab);
    std::vector<Fragment> partition_special(std::string_view text, bool parse_special) const;
    std::string piece(int32_t id, bool render_special, bool strip_leading_space) const;

    Vocab vocab_;
    std::unique_ptr<SpmTokenizer> spm_;
    std::unique_ptr<BpeTokenizer> bpe_;
    std::unique_ptr<HfBpeTokenizer> hf_bpe_;            // a SentencePiece-style tokenizer.json (vocab_.hf_pipeline)
    std::unique_ptr<SpecialTokenIndex> special_index_;  // over vocab_.special_tokens, same order
};

// Turns a stream of token ids into text that is always valid UTF-8: bytes of a multi-byte character split across
// tokens are held back until the character is complete; bytes that cannot become valid UTF-8 are emitted as
// U+FFFD. Concatenating every push() and the final flush() equals Tokenizer::decode for valid output (decode
// additionally applies the clean-up-spaces rule, which a stream cannot apply without look-ahead).
// One instance per sequence; not thread-safe. The Tokenizer must outlive it.
class StreamingDetokenizer {
  public:
    explicit StreamingDetokenizer(const Tokenizer& tokenizer, bool render_special = false)
        : tokenizer_(tokenizer), render_special_(render_special) {}

    // Returns the text that became complete with this token (possibly empty).
    std::string push(int32_t id);
    // Returns what is still held back (an incomplete sequence becomes U+FFFD) and resets the stream.
    std::string flush();

  private:
    // Moves every complete (or definitely invalid) sequence at the front of pending_ to the result.
    std::string drain(bool at_end);

    const Tokenizer& tokenizer_;
    bool render_special_;
    bool first_ = true;
    std::string pending_;
};

}  // namespace frugal
