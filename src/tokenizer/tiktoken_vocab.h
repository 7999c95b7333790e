// OpenAI tiktoken rank files ("base64(token bytes) rank" per line, e.g. cl100k_base.tiktoken) as a byte-level BPE
// vocabulary: token id = rank, token text = the bytes in GPT-2's byte-level alphabet, merges derived from the
// ranks (the pair each token reduces to when BPE runs with the lower-ranked tokens only, as transformers'
// TikTokenConverter derives them), plus the encoding's split regex and special tokens, which the file does not
// carry: only cl100k_base is known (identified by its 100256 ranks).
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "tokenizer/vocab.h"

namespace frugal {

// Every line is checked: a malformed line, bad base64, a duplicate rank or token is an error naming the line.
Result<Vocab> vocab_from_tiktoken(std::string_view text, const std::string& name_for_errors);
Result<Vocab> load_tiktoken_vocab(const std::string& path);

}  // namespace frugal
