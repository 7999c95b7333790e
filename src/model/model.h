// A loaded decoder-only transformer: config, weights on a backend, and the forward pass over a flat batch.
#pragma once

#include <memory>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "core/status.h"
#include "format/gguf/gguf_file.h"
#include "model/forward_batch.h"
#include "model/kv_storage.h"
#include "model/layers/mla_attention_layer.h"
#include "model/layers/moe_layer.h"
#include "model/model_config.h"
#include "model/model_weights.h"

namespace frugal {

class Model {
public:
    // Reads the config through the registered architecture and places every weight on the backend.
    // The GgufFile must outlive the Model (the CPU backend keeps views into its mapping).
    static Result<std::unique_ptr<Model>> load(const GgufFile& file, Backend& backend);

    const ModelConfig& config() const { return config_; }
    Backend& backend() { return backend_; }
    uint64_t weight_bytes() const { return weight_bytes_; }
    const ModelWeights& weights() const { return weights_; }
    // Bytes of weights one decode step reads: every matrix once (the embedding table only one row).
    uint64_t weight_bytes_per_token() const { return weight_bytes_per_token_; }

    // Runs the batch through the model, writing K/V into kv, and returns next-token logits for
    // batch.logits_indices as host F32 [logits_indices.size(), vocab_size] in *logits.
    Status forward(const ForwardBatch& batch, KvStorage& kv, std::vector<float>* logits);
    // The same, but the backend samples each logits row on the device under sampling[i] (one per logits index;
    // Backend::can_sample must accept each) and only the token ids come back, in *ids.
    Status forward_sample(const ForwardBatch& batch, KvStorage& kv, std::span<const SamplingRow> sampling,
                          std::vector<int32_t>* ids);

private:
    Model(const ModelConfig& config, Backend& backend) : config_(config), backend_(backend) {}
    Status load_weights(const GgufFile& file);
    // Grows the workspace to fit; returns true when it reallocated (buffers moved).
    bool ensure_workspace(int64_t num_tokens, int64_t num_logits, int64_t block_table_size);
    // Steps of at most this many tokens are issued through Backend::run_graph (recorded once per shape).
    static constexpr int64_t kMaxGraphTokens = 16;
    // Each array of the packed batch description starts on a multiple of this many I32 (64 bytes).
    static constexpr int64_t kBatchIntsAlign = 16;
    void layer_forward(int64_t layer, int64_t n, KvStorage& kv);
    // Runs the batch up to the logits, left in ws_.logits (on the backend). Returns the number of logits rows.
    Result<int64_t> forward_to_logits(const ForwardBatch& batch, KvStorage& kv);

    struct Workspace {
        int64_t capacity_tokens = 0;
        int64_t capacity_logits = 0;
        int64_t capacity_tables = 0;
        std::vector<std::unique_ptr<DeviceBuffer>> buffers;
        Tensor x, xn, q, k, v, attn, proj, gate, up;  // activations, [capacity, width]
        MoeScratch moe;                               // MoE models only
        MlaScratch mla;                               // MLA models only (attn above is shared)
        // The step's I32 batch description: views into `batch_ints`, placed by forward_to_logits each step so the
        // arrays reach the device in one copy (from `batch_host`, laid out the same way).
        Tensor token_ids, positions, token_seq, seq_starts, slots, block_tables, logits_indices;
        Tensor batch_ints;                // I32, as many as batch_host holds
        std::vector<int32_t> batch_host;  // host image of batch_ints
        Tensor logits_hidden, logits;                                                  // [capacity_logits, ...]
        Tensor sampled_ids;                                                            // I32 [capacity_logits]
    };

    ModelConfig config_;
    Backend& backend_;
    ModelWeights weights_;
    uint64_t weight_bytes_ = 0;
    uint64_t weight_bytes_per_token_ = 0;
    Workspace ws_;
    AttentionBatch attention_batch_;
};

}  // namespace frugal
