// Opens what a user points frugal at: a GGUF file (memory-mapped), a Hugging Face checkpoint folder (config.json +
// safetensors), or a llama2.c checkpoint plus its tokenizer. The last two are converted in memory to the GGUF form
// llama.cpp uses, so one loading path serves all three.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "format/gguf/gguf_file.h"
#include "format/gguf/gguf_writer.h"

namespace frugal {

class ModelSource {
public:
    // tokenizer_path: llama2.c tokenizer.bin for llama2.c checkpoints (optional: without it the model runs on
    // token ids only). Ignored for GGUF files, which carry their vocabulary.
    static Result<std::unique_ptr<ModelSource>> open(const std::string& model_path,
                                                     const std::string& tokenizer_path = "");
    // The llama2.c checkpoint (+ tokenizer) as a GGUF writer, for `frugal convert`.
    static Result<GgufWriter> llama2c_to_gguf(const std::string& model_path, const std::string& tokenizer_path);
    // A Hugging Face checkpoint folder or a llama2.c checkpoint as a GGUF writer (`frugal convert`).
    static Result<GgufWriter> to_gguf(const std::string& model_path, const std::string& tokenizer_path);
    // Whether path is a Hugging Face checkpoint: a folder with config.json, or a .safetensors / index file.
    static bool is_hf_checkpoint(const std::string& path);

    const GgufFile& gguf() const { return *gguf_; }
    bool has_tokenizer() const { return gguf_->find("tokenizer.ggml.tokens") != nullptr; }

private:
    std::vector<uint8_t> owned_bytes_;  // backing store of an in-memory conversion
    std::unique_ptr<GgufFile> gguf_;
};

}  // namespace frugal
