// An architecture turns GGUF metadata into a ModelConfig. Tensor names follow llama.cpp's GGUF conventions
// (token_embd, blk.N.attn_q, ...) for every architecture, so the shared loader and layers need no per-model code.
#pragma once

#include <string_view>
#include <vector>

#include "core/status.h"
#include "format/gguf/gguf_file.h"
#include "model/model_config.h"

namespace frugal {

struct Architecture {
    std::string_view name;  // GGUF general.architecture
    Status (*read_config)(const GgufFile& file, ModelConfig* config);
};

// Every registered architecture (registry.cpp: one line each).
const std::vector<Architecture>& architectures();
const Architecture* find_architecture(std::string_view name);

// Reads the keys every llama-family architecture shares ("<arch>.block_count", ...) into config.
Status read_common_config(const GgufFile& file, std::string_view arch, ModelConfig* config);

}  // namespace frugal
