// Byte-level BPE (llama.cpp's llm_tokenizer_bpe): pre-tokenize with the vocabulary's regexes, map each word's
// bytes to GPT-2's printable alphabet, then merge adjacent symbols by lowest merge rank.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/vocab.h"

namespace frugal {

class BpeTokenizer {
  public:
    static Result<std::unique_ptr<BpeTokenizer>> create(const Vocab& vocab);

    // Appends the ids of text to out. Thread-safe.
    void encode(std::string_view text, std::vector<int32_t>& out) const;

  private:
    BpeTokenizer(const Vocab& vocab, std::unique_ptr<PreTokenizer> pre) : vocab_(vocab), pre_(std::move(pre)) {}
    void encode_word(const std::string& word, std::vector<int32_t>& out) const;

    const Vocab& vocab_;  // owned by the Tokenizer that owns this
    std::unique_ptr<PreTokenizer> pre_;
};

}  // namespace frugal
