// SentencePiece-style BPE over a scored vocabulary (llama.cpp's llm_tokenizer_spm): start from UTF-8 characters,
// repeatedly merge the adjacent pair whose concatenation is the highest-scoring token, then emit each symbol as
// its token or, if it is not one, as byte-fallback tokens.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer/vocab.h"

namespace frugal {

class SpmTokenizer {
  public:
    explicit SpmTokenizer(const Vocab& vocab) : vocab_(vocab) {}

    // text must already have its spaces escaped to U+2581. Appends to out. Thread-safe.
    void encode(std::string_view text, std::vector<int32_t>& out) const;

  private:
    const Vocab& vocab_;  // owned by the Tokenizer that owns this
};

}  // namespace frugal
