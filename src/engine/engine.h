// Engine: owns the backend, model, KV cache (device storage and block bookkeeping) and the running requests.
// step() gathers one flat batch from every running request (prompt chunks for new ones, one token for those
// decoding), runs the forward pass once, and samples where a sequence needs its next token.
// The scheduler issue replaces the admission policy; the batch and KV interfaces are already the serving ones.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "backend/backend.h"
#include "engine/model_source.h"
#include "engine/request.h"
#include "kv_cache/block_pool.h"
#include "kv_cache/block_table.h"
#include "model/model.h"
#include "sampling/sampler.h"
#include "tokenizer/tokenizer.h"

namespace frugal {

struct EngineOptions {
    int num_threads = 1;
    int64_t context_length = 4096;   // max tokens per sequence (capped at the model's trained context)
    int64_t kv_cache_tokens = 0;     // total KV slots across sequences; 0 = context_length
    int block_size = 16;
    DType kv_dtype = DType::kF16;
    int64_t max_batch_tokens = 512;  // prompt tokens per forward pass (chunked prefill)
};

struct EngineStats {
    int64_t prompt_tokens = 0;
    double prompt_seconds = 0;
    int64_t generated_tokens = 0;
    double decode_seconds = 0;
};

class Engine {
public:
    // source must outlive the engine. backend is created by the caller (CPU now, CUDA later).
    static Result<std::unique_ptr<Engine>> create(const ModelSource& source, std::unique_ptr<Backend> backend,
                                                  const EngineOptions& options);

    const ModelConfig& config() const { return model_->config(); }
    const Model& model() const { return *model_; }
    const Tokenizer* tokenizer() const { return tokenizer_.get(); }
    Backend& backend() { return *backend_; }
    int64_t context_length() const { return context_length_; }
    const EngineStats& stats() const { return stats_; }
    size_t kv_cache_bytes() const { return kv_->size_bytes(); }

    // Validates and queues a request. Errors (empty prompt, ids outside the vocabulary, a prompt that does not
    // fit the context) leave the engine unchanged.
    Status add_request(const Request& request);
    bool has_unfinished() const { return !running_.empty(); }
    // One forward pass over every running request. Outputs one entry per sampled token.
    Result<std::vector<RequestOutput>> step();
    // Teacher forcing: logits after every position of ids (one sequence, fresh cache), [ids.size(), vocab].
    Result<std::vector<float>> evaluate(const std::vector<int32_t>& ids);

private:
    struct Sequence {
        Request request;
        std::vector<int32_t> tokens;      // prompt + generated
        int64_t num_computed_tokens = 0;  // tokens whose K/V are in the cache
        BlockTable blocks;
        Sampler sampler;
        int64_t generated = 0;
    };

    Engine() = default;
    // Runs one forward pass and returns the next token of each sequence with want_logits set, in order.
    Result<std::vector<int32_t>> run_batch(const std::vector<Sequence*>& seqs, const std::vector<int64_t>& counts,
                                           const std::vector<bool>& want_logits);

    std::unique_ptr<Backend> backend_;
    std::unique_ptr<Model> model_;
    std::unique_ptr<Tokenizer> tokenizer_;
    std::unique_ptr<KvStorage> kv_;
    std::unique_ptr<BlockPool> block_pool_;
    EngineOptions options_;
    int64_t context_length_ = 0;
    std::vector<std::unique_ptr<Sequence>> running_;
    EngineStats stats_;
};

}  // namespace frugal
