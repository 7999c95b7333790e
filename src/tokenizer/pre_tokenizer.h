// Byte-level BPE pre-tokenization: splits text into words with the regex sequence llama.cpp selects by
// tokenizer.ggml.pre. Each regex is applied to every fragment the previous ones produced; matches and the text
// between them both become fragments (llama.cpp's unicode_regex_split). Matching uses PCRE2 (UTF + UCP, JIT).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace frugal {

struct PreTokenizerTraits {
    std::vector<std::string> patterns;  // PCRE2 syntax; `\s`/`\S` are rewritten to llama.cpp's whitespace set
    bool ignore_merges = false;
    bool add_bos = false;
    bool clean_spaces = true;
};

// The regexes and flags llama.cpp uses for a tokenizer.ggml.pre value, or nullopt if unsupported.
std::optional<PreTokenizerTraits> pre_tokenizer_traits(std::string_view pre);

class PreTokenizer {
  public:
    // onig_properties: \\p{L}, \\p{N}, \\p{P}, \\p{S}, \\p{M} match what they match in Hugging Face tokenizers'
    // regexes (Oniguruma's newer Unicode tables), for patterns taken from a tokenizer.json.
    static Result<std::unique_ptr<PreTokenizer>> create(const std::vector<std::string>& patterns,
                                                        bool onig_properties = false);
    ~PreTokenizer();
    PreTokenizer(const PreTokenizer&) = delete;
    PreTokenizer& operator=(const PreTokenizer&) = delete;

    // Splits text into words. Invalid UTF-8 is first replaced the way llama.cpp does (each bad byte -> U+FFFD),
    // so the words are always valid UTF-8 and concatenate to that cleaned text. Thread-safe.
    std::vector<std::string> split(std::string_view text) const;

  private:
    struct Regex;
    PreTokenizer() = default;
    std::vector<std::unique_ptr<Regex>> regexes_;
};

}  // namespace frugal
