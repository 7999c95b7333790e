// A Hugging Face tokenizer.json (+ tokenizer_config.json) as a Vocab: byte-level BPE (GPT-2, Llama 3, Qwen,
// DeepSeek), with merges in either the "a b" or ["a", "b"] form, added tokens (special ones as control tokens,
// the others user-defined, lstrip/rstrip kept), the Split regexes of the pre-tokenizer applied as written, an
// NFC/NFKC normalizer, BOS/EOS from tokenizer_config.json and a TemplateProcessing post-processor.
// SentencePiece-style files (BPE over raw text: no pre-tokenizer or Metaspace, usually byte_fallback; Llama 2,
// Mistral, TinyLlama) keep their normalizer / pre-tokenizer / decoder in Vocab::hf_pipeline for HfBpeTokenizer.
// Unsupported pieces (other models, pre-tokenizers, normalizers, decoders, post-processors) are an error naming them.
#pragma once

#include <string>

#include "core/status.h"
#include "tokenizer/vocab.h"

namespace frugal {

// json_text: tokenizer.json; config_text: tokenizer_config.json or "" when absent. name_for_errors prefixes errors.
Result<Vocab> vocab_from_tokenizer_json(const std::string& json_text, const std::string& config_text,
                                        const std::string& name_for_errors);
// dir holds tokenizer.json (and optionally tokenizer_config.json).
Result<Vocab> vocab_from_hf_dir(const std::string& dir);

}  // namespace frugal
