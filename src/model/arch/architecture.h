// An architecture turns GGUF metadata into a ModelConfig, and a Hugging Face checkpoint into that GGUF form. Tensor
// names follow llama.cpp's GGUF conventions (token_embd, blk.N.attn_q, ...) for every architecture, so the shared
// loader and layers need no per-model code.
#pragma once

#include <string_view>
#include <vector>

#include "core/status.h"
#include "format/gguf/gguf_file.h"
#include "model/hf_checkpoint.h"
#include "model/model_config.h"

namespace frugal {

struct Architecture {
    std::string_view name;  // GGUF general.architecture
    Status (*read_config)(const GgufFile& file, ModelConfig* config);
    // Hugging Face "architectures" names this converts from (empty: none) and the conversion, which writes
    // llama.cpp's metadata and tensor names for `name` into the checkpoint's GGUF writer.
    std::vector<std::string_view> hf_architectures;
    Status (*convert_hf)(HfCheckpoint& checkpoint) = nullptr;
};

// Every registered architecture (registry.cpp: one line each).
const std::vector<Architecture>& architectures();
const Architecture* find_architecture(std::string_view name);

// Reads the keys every llama-family architecture shares ("<arch>.block_count", ...) into config.
Status read_common_config(const GgufFile& file, std::string_view arch, ModelConfig* config);
// Reads "<arch>.expert_count" and the routing keys shared by MoE architectures; no experts leaves the model dense.
// Every layer is marked MoE (architectures with dense layers adjust layer_is_moe). default_normalize applies when
// the file has no expert_weights_norm key.
Status read_moe_config(const GgufFile& file, std::string_view arch, bool default_normalize, ModelConfig* config);

}  // namespace frugal
