// llama2.c tokenizer.bin -> SPM vocabulary. The file is int32 max_token_length, then per token: float32 score,
// int32 byte length, the bytes (no terminator); the token count is implied by the file size (llama2.c takes it
// from the model header). Pieces store ' ' where SentencePiece has U+2581; ids 0, 1, 2 are <unk>, BOS, EOS (BOS
// and EOS are written as "\n<s>\n" / "\n</s>\n") and ids 3..258 are the byte tokens <0x00>..<0xFF>.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/status.h"
#include "tokenizer/vocab.h"

namespace frugal {

// name is used in error messages. expected_num_tokens (0 = any) rejects a file with another token count.
Result<Vocab> parse_llama2c_vocab(std::span<const uint8_t> bytes, const std::string& name,
                                  int32_t expected_num_tokens = 0);
Result<Vocab> load_llama2c_vocab(const std::string& path, int32_t expected_num_tokens = 0);

}  // namespace frugal
