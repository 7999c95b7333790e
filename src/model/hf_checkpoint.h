// A Hugging Face checkpoint (config.json + safetensors) converted to GGUF with llama.cpp's tensor names and
// metadata keys, so one loading path (Model::load over a GgufFile) serves both formats and `frugal convert` writes
// files llama.cpp loads too. Each architecture file in model/arch/ supplies its own mapping through the helpers
// here; convert_hf_checkpoint() picks it by config.json's "architectures".
#pragma once

#include <array>
#include <memory>
#include <string>
#include <unordered_set>

#include "core/status.h"
#include "format/gguf/gguf_writer.h"
#include "format/hf_config/hf_config.h"
#include "format/safetensors/safetensors_file.h"

namespace frugal {

class HfCheckpoint {
  public:
    // The writer keeps `tensors` alive: tensors copied unchanged are written from the safetensors mapping (views).
    HfCheckpoint(HfConfig config, std::shared_ptr<const SafetensorsModel> tensors, std::string name, GgufWriter* out)
        : config_(std::move(config)), tensors_(std::move(tensors)), name_(std::move(name)), out_(out) {
        out_->keep_alive(tensors_);
    }

    const HfConfig& config() const { return config_; }
    GgufWriter& out() { return *out_; }
    bool has(const std::string& hf_name) const { return tensors_->find_tensor(hf_name) != nullptr; }

    // Writes general.* and the "<arch>." keys every llama-family model has (sizes, heads, norm epsilon, RoPE base,
    // RoPE scaling), from config.json. ffn_dim: the dense FFN width to record as feed_forward_length.
    Status add_common_metadata(const std::string& arch, double default_norm_eps, int64_t ffn_dim);

    enum class Layout { kAsIs, kF32, kPermuteQ, kPermuteK };
    // Copies tensor hf_name as gguf_name (GGML shape order), in its own dtype (F32/F16/BF16); 1-D tensors and
    // kF32 are stored as F32 (llama.cpp keeps norms and biases in F32). kPermuteQ/K reorder the rows of each
    // head from the rotate-half layout to adjacent pairs (what llama.cpp's "normal" RoPE expects for Llama).
    Status add(const std::string& gguf_name, const std::string& hf_name, Layout layout = Layout::kAsIs);
    // As add() when hf_name exists; otherwise nothing.
    Status add_optional(const std::string& gguf_name, const std::string& hf_name, Layout layout = Layout::kAsIs);
    // Stacks num_experts 2-D tensors named by hf_pattern with "{}" replaced by the expert index into one
    // [num_experts, rows, cols] tensor (llama.cpp's ffn_*_exps).
    Status add_experts(const std::string& gguf_name, const std::string& hf_pattern, int64_t num_experts);
    // The routed experts of one layer: hf_prefix + "{}." + names[i] + ".weight" for names = {gate, up, down}
    // stacked into gg + ffn_{gate,up,down}_exps.weight.
    Status add_expert_ffn(const std::string& gg, const std::string& hf_prefix, const std::array<const char*, 3>& names,
                          int64_t num_experts);
    // A dense gate/up/down FFN: hf_prefix + {gate,up,down}_proj.weight into gg + ffn_{gate,up,down}<suffix>.weight.
    Status add_ffn(const std::string& gg, const std::string& hf_prefix, const std::string& suffix);
    // Adds raw prepared data (already in GGML shape order).
    Status add_raw(const std::string& gguf_name, DType dtype, std::vector<int64_t> shape,
                   std::span<const uint8_t> data);

    // The standard llama-family tensors: embeddings, final norm, lm_head (unless tied), and per layer the input and
    // post-attention norms and q/k/v/o projections (+ biases, q/k norms when present). permute_qk: Llama's RoPE.
    Status add_embeddings_and_output();
    Status add_attention(int64_t layer, bool permute_qk);
    Status add_dense_ffn(int64_t layer, const std::string& mlp = "mlp");
    // Adds values (GGML shape order) stored in the dtype of checkpoint tensor like_hf_name (F32, F16 or BF16;
    // exact when the values came from that tensor).
    Status add_in_dtype_of(const std::string& gguf_name, const std::string& like_hf_name, std::vector<int64_t> shape,
                           const std::vector<float>& values);
    // Reads a tensor as F32 (any supported dtype), marking it used.
    Result<std::vector<float>> read_f32(const std::string& hf_name, std::vector<int64_t>* shape);

    // Marks hf_name used when it exists and holds no elements (transformers saves zero-width modules, such as the
    // shared experts of a model configured with none); an error if it holds data.
    Status skip_empty(const std::string& hf_name);

    // Fails naming every tensor of the checkpoint that no mapping consumed (a sign of an unsupported variant).
    Status check_all_used() const;

  private:
    HfConfig config_;
    std::shared_ptr<const SafetensorsModel> tensors_;
    std::string name_;
    GgufWriter* out_;
    std::unordered_set<std::string> used_;
};

// path: a checkpoint folder (config.json + model.safetensors or a sharded index). The GGUF carries no vocabulary
// unless the tokenizer can be converted (tokenizer.ggml.model "none": token ids only).
Result<GgufWriter> convert_hf_checkpoint(const std::string& path);

}  // namespace frugal
