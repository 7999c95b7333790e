// Vocabulary <-> GGUF metadata (the tokenizer.ggml.* keys llama.cpp reads and writes).
#pragma once

#include "core/status.h"
#include "format/gguf/gguf_file.h"
#include "format/gguf/gguf_writer.h"
#include "tokenizer/vocab.h"

namespace frugal {

// Copies everything it needs out of file; the result does not reference the mapping.
Result<Vocab> vocab_from_gguf(const GgufFile& file);

// Writes tokens, scores, token types, merges (BPE), model/pre, special ids and add_* flags.
void write_vocab_gguf_metadata(const Vocab& vocab, GgufWriter& w);

}  // namespace frugal
