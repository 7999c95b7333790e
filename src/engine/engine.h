// Engine: owns the backend, model, KV cache (device storage and block bookkeeping), the scheduler and each
// request's sampler. step() asks the scheduler what runs (prompt chunks for new requests, one token for those
// decoding), turns that into one flat batch, runs the forward pass once, samples where a sequence needs its next
// token, and hands the tokens back to the scheduler. Single-threaded: one owner calls every method (a server puts
// it behind AsyncEngine).
#pragma once

#include <memory>
#include <optional>
#include <unordered_map>
#include <vector>

#include "backend/backend.h"
#include "engine/model_source.h"
#include "engine/request.h"
#include "kv_cache/block_pool.h"
#include "kv_cache/block_table.h"
#include "model/model.h"
#include "sampling/sampler.h"
#include "scheduler/scheduler.h"
#include "tokenizer/tokenizer.h"

namespace frugal {

struct EngineOptions {
    int num_threads = 1;
    int64_t context_length = 4096;   // max tokens per sequence (capped at the model's trained context and the cache)
    int64_t kv_cache_tokens = 0;     // total KV slots across sequences; 0 = context_length
    int64_t kv_cache_bytes = 0;      // > 0: size the cache by bytes instead (overrides kv_cache_tokens)
    int block_size = 16;
    DType kv_dtype = DType::kF16;
    int64_t max_batch_tokens = 512;  // tokens per forward pass (prompt chunks and decodes together)
    int max_num_seqs = 256;          // sequences running at once
    bool enable_prefix_caching = true;
};

struct EngineStats {
    int64_t prompt_tokens = 0;
    double prompt_seconds = 0;
    int64_t generated_tokens = 0;
    double decode_seconds = 0;
};

class Engine {
public:
    static constexpr int kMaxLogprobs = 20;

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
    const Scheduler& scheduler() const { return *scheduler_; }
    const BlockPool& block_pool() const { return *block_pool_; }

    // Validates and queues a request. Errors (empty prompt, ids outside the vocabulary, a prompt that does not
    // fit the context, a request id in use) leave the engine unchanged.
    Status add_request(const Request& request);
    // The checks add_request makes on the request itself. Reads only what is fixed at creation, so any thread
    // may call it.
    Status validate(const Request& request) const;
    // Drops a waiting or running request and frees its KV blocks now. False if the id is not in the engine.
    bool abort_request(int64_t request_id);
    bool has_unfinished() const { return scheduler_->has_unfinished(); }
    // One scheduler step and forward pass. Outputs one entry per sampled token, plus finish-only entries.
    Result<std::vector<RequestOutput>> step();
    // Teacher forcing: logits after every position of ids (one sequence, fresh cache), [ids.size(), vocab].
    Result<std::vector<float>> evaluate(const std::vector<int32_t>& ids);

private:
    struct RequestState {
        Sampler sampler;
        int num_logprobs = -1;
    };

    Engine() = default;
    // Runs the forward pass of a scheduler step; fills each sampling sequence's next token (and log-probabilities
    // where asked for), in order.
    Status run_batch(const SchedulerOutput& scheduled, std::vector<int32_t>* tokens,
                     std::vector<RequestOutput>* logprobs);

    std::unique_ptr<Backend> backend_;
    std::unique_ptr<Model> model_;
    std::unique_ptr<Tokenizer> tokenizer_;
    std::unique_ptr<KvStorage> kv_;
    std::unique_ptr<BlockPool> block_pool_;
    std::unique_ptr<Scheduler> scheduler_;
    EngineOptions options_;
    int64_t context_length_ = 0;
    std::vector<int32_t> eog_ids_;  // the vocabulary's end-of-generation tokens
    std::unordered_map<int64_t, RequestState> requests_;
    EngineStats stats_;
};

}  // namespace frugal
