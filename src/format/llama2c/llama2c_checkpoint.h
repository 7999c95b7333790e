// llama2.c checkpoints ("legacy" version-0 export: a 7-int32 header followed by float32 tensors), the format of
// Karpathy's tinyllamas (stories15M/42M/110M/260K). Parsed over a caller-owned buffer, bounds-checked, and
// converted to GGUF tensors and llama metadata (the in-memory form frugal runs).
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "format/gguf/gguf_writer.h"

namespace frugal {

struct Llama2cConfig {
    int32_t dim = 0;
    int32_t hidden_dim = 0;
    int32_t num_layers = 0;
    int32_t num_heads = 0;
    int32_t num_kv_heads = 0;
    int32_t vocab_size = 0;  // absolute value; the sign in the file says whether the classifier is shared
    int32_t seq_len = 0;
    bool shared_classifier = true;
};

class Llama2cCheckpoint {
public:
    static Result<Llama2cCheckpoint> parse(const uint8_t* data, size_t size, const std::string& name = "<buffer>");
    const Llama2cConfig& config() const { return config_; }
    // Adds llama.* hyper-parameters and every weight (F32, llama.cpp tensor names) to w. The tokenizer's
    // metadata is added separately by the caller.
    Status add_to_gguf(GgufWriter& w) const;

private:
    Llama2cConfig config_;
    const float* weights_ = nullptr;  // first float after the header, in the caller's buffer
};

}  // namespace frugal
