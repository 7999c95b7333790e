#include "engine/engine.h"

#include <algorithm>
#include <chrono>
#include <numeric>

#include "core/logging.h"
#include "sampling/log_probs.h"

namespace frugal {
namespace {
double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The sampled token's log-probability and the k most likely tokens', from one row of raw logits.
void fill_logprobs(std::span<const float> logits, int k, RequestOutput* out) {
    std::vector<float> lp;
    log_softmax(logits.data(), static_cast<int64_t>(logits.size()), lp);
    out->logprob = lp[static_cast<size_t>(out->token_id)];
    if (k <= 0) return;
    std::vector<int32_t> ids(lp.size());
    std::iota(ids.begin(), ids.end(), 0);
    const auto top = static_cast<ptrdiff_t>(std::min<size_t>(static_cast<size_t>(k), ids.size()));
    std::partial_sort(ids.begin(), ids.begin() + top, ids.end(), [&](int32_t a, int32_t b) {
        return lp[static_cast<size_t>(a)] > lp[static_cast<size_t>(b)] || (lp[static_cast<size_t>(a)] ==
               lp[static_cast<size_t>(b)] && a < b);
    });
    for (ptrdiff_t i = 0; i < top; ++i) out->top_logprobs.push_back({ids[i], lp[static_cast<size_t>(ids[i])]});
}
}  // namespace

Result<std::unique_ptr<Engine>> Engine::create(const ModelSource& source, std::unique_ptr<Backend> backend,
                                               const EngineOptions& options) {
    std::unique_ptr<Engine> e(new Engine());
    e->options_ = options;
    e->backend_ = std::move(backend);
    ASSIGN_OR_RETURN(e->model_, Model::load(source.gguf(), *e->backend_));
    if (source.has_tokenizer()) {
        Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::from_gguf(source.gguf());
        if (!tok.ok()) return tok.status().with_context(source.gguf().path());
        e->tokenizer_ = std::move(tok).value();
        for (int32_t id = 0; id < e->tokenizer_->vocab_size(); ++id) {
            if (e->tokenizer_->is_eog(id)) e->eog_ids_.push_back(id);
        }
    }
    const ModelConfig& c = e->model_->config();
    if (options.context_length <= 0 || options.block_size <= 0 || options.max_batch_tokens <= 0 ||
        options.max_num_seqs <= 0) {
        return Status::error("context length, block size, batch size and sequence count must be positive");
    }
    e->context_length_ = std::min<int64_t>(options.context_length, c.context_length);
    int64_t kv_tokens = options.kv_cache_tokens > 0 ? options.kv_cache_tokens : e->context_length_;
    if (options.kv_cache_bytes > 0) {
        kv_tokens = options.kv_cache_bytes / KvStorage::bytes_per_token(c, options.kv_dtype);
        if (kv_tokens < options.block_size) {
            return Status::errorf("a KV cache of {} bytes holds {} tokens, less than one block of {} ({} bytes a token)",
                                  options.kv_cache_bytes, kv_tokens, options.block_size,
                                  KvStorage::bytes_per_token(c, options.kv_dtype));
        }
        // More than every sequence at full context could ever use is memory for nothing.
        kv_tokens = std::min(kv_tokens, e->context_length_ * options.max_num_seqs);
        kv_tokens -= kv_tokens % options.block_size;
    }
    const int64_t num_blocks = (kv_tokens + options.block_size - 1) / options.block_size;
    // A sequence must fit the cache on its own, so the context is at most what the cache holds.
    e->context_length_ = std::min(e->context_length_, num_blocks * options.block_size);
    e->kv_ = std::make_unique<KvStorage>(*e->backend_, c, num_blocks, options.block_size, options.kv_dtype);
    e->block_pool_ = std::make_unique<BlockPool>(num_blocks, options.block_size);
    SchedulerOptions so;
    so.max_num_seqs = options.max_num_seqs;
    so.max_num_batched_tokens = options.max_batch_tokens;
    so.enable_prefix_caching = options.enable_prefix_caching;
    e->scheduler_ = std::make_unique<Scheduler>(*e->block_pool_, so);
    return e;
}

Status Engine::validate(const Request& r) const {
    const ModelConfig& c = model_->config();
    if (r.prompt_ids.empty()) return Status::error("the prompt is empty (no tokens to start from)");
    for (int32_t id : r.prompt_ids) {
        if (id < 0 || id >= c.vocab_size) {
            return Status::errorf("prompt token id {} is outside the vocabulary (0..{})", id, c.vocab_size - 1);
        }
    }
    for (int32_t id : r.stop_token_ids) {
        if (id < 0 || id >= c.vocab_size) {
            return Status::errorf("stop token id {} is outside the vocabulary (0..{})", id, c.vocab_size - 1);
        }
    }
    if (static_cast<int64_t>(r.prompt_ids.size()) >= context_length_) {
        // Name the limit that binds: the KV cache, the model's trained context, or the -c the engine was given.
        const char* hint = context_length_ < std::min<int64_t>(options_.context_length, c.context_length)
                               ? "the KV cache holds no more: give it more memory or shorten the prompt"
                           : options_.context_length >= c.context_length
                               ? "the model's trained context: shorten the prompt"
                               : "raise -c or shorten the prompt";
        return Status::errorf("the prompt has {} tokens but the context holds {} ({})", r.prompt_ids.size(),
                              context_length_, hint);
    }
    if (r.num_logprobs > kMaxLogprobs) {
        return Status::errorf("at most {} log-probabilities per token, not {}", kMaxLogprobs, r.num_logprobs);
    }
    return ok_status();
}

Status Engine::add_request(const Request& r) {
    RETURN_IF_ERROR(validate(r));
    if (requests_.contains(r.request_id)) return Status::errorf("request id {} is already in use", r.request_id);

    auto seq = std::make_unique<Sequence>(r.request_id, r.prompt_ids, *block_pool_);
    seq->max_new_tokens = r.max_new_tokens;
    seq->max_tokens = context_length_;
    if (!r.ignore_eos) seq->stop_token_ids = eog_ids_;
    seq->stop_token_ids.insert(seq->stop_token_ids.end(), r.stop_token_ids.begin(), r.stop_token_ids.end());
    requests_.emplace(r.request_id, RequestState{Sampler(r.sampling), r.num_logprobs});
    scheduler_->add(std::move(seq));
    return ok_status();
}

bool Engine::abort_request(int64_t request_id) {
    requests_.erase(request_id);
    return scheduler_->abort(request_id);
}

Status Engine::run_batch(const SchedulerOutput& so, std::vector<int32_t>* tokens,
                         std::vector<RequestOutput>* logprobs) {
    ForwardBatch batch;
    batch.num_seqs = static_cast<int32_t>(so.scheduled.size());
    size_t max_blocks = 1;
    for (const ScheduledSequence& s : so.scheduled) max_blocks = std::max(max_blocks, s.seq->blocks.blocks().size());
    batch.max_blocks_per_seq = static_cast<int32_t>(max_blocks);
    batch.block_tables.assign(so.scheduled.size() * max_blocks, -1);
    batch.token_ids.reserve(static_cast<size_t>(so.num_batched_tokens));
    std::vector<RequestState*> states;  // of the sampling sequences, in output order
    bool on_device = true;
    for (size_t s = 0; s < so.scheduled.size(); ++s) {
        const Sequence& seq = *so.scheduled[s].seq;
        std::copy(seq.blocks.blocks().begin(), seq.blocks.blocks().end(), batch.block_tables.begin() + s * max_blocks);
        for (int64_t i = 0; i < so.scheduled[s].num_tokens; ++i) {
            const int64_t pos = seq.num_computed_tokens + i;
            batch.token_ids.push_back(seq.token_ids[pos]);
            batch.positions.push_back(static_cast<int32_t>(pos));
            batch.token_seq.push_back(static_cast<int32_t>(s));
            batch.slot_mapping.push_back(seq.blocks.slot(pos));
        }
        if (so.scheduled[s].sample) {
            batch.logits_indices.push_back(static_cast<int32_t>(batch.token_ids.size() - 1));
            RequestState& state = requests_.at(seq.request_id);
            states.push_back(&state);
            on_device = on_device && state.num_logprobs < 0;
        }
    }
    // Sample on the device when the backend takes every sequence's chain and nobody wants log-probabilities (only
    // ids come back); otherwise bring the logits to the host. Either way each sampling step draws one uniform from
    // its sequence's generator.
    std::vector<SamplingRow> rows;
    for (size_t r = 0; r < states.size() && on_device; ++r) {
        const std::optional<SamplingRow> row = states[r]->sampler.device_row();
        on_device = row.has_value() && backend_->can_sample(*row);
        if (on_device) rows.push_back(*row);
    }
    tokens->clear();
    if (on_device) {
        for (size_t r = 0; r < rows.size(); ++r) {
            if (rows[r].temperature > 0) rows[r].uniform = states[r]->sampler.draw_uniform();
        }
        return model_->forward_sample(batch, *kv_, rows, tokens);
    }
    std::vector<float> logits;
    RETURN_IF_ERROR(model_->forward(batch, *kv_, &logits));
    const auto vocab = static_cast<size_t>(model_->config().vocab_size);
    size_t r = 0;
    for (const ScheduledSequence& s : so.scheduled) {
        if (!s.sample) continue;
        const std::span<const float> row(logits.data() + r * vocab, vocab);
        RequestState& state = *states[r];
        tokens->push_back(state.sampler.sample(row, s.seq->token_ids));
        RequestOutput lp;
        if (state.num_logprobs >= 0) {
            lp.token_id = tokens->back();
            fill_logprobs(row, state.num_logprobs, &lp);
        }
        logprobs->push_back(std::move(lp));
        ++r;
    }
    return ok_status();
}

Result<std::vector<RequestOutput>> Engine::step() {
    const auto start = std::chrono::steady_clock::now();
    std::vector<RequestOutput> outputs;
    const SchedulerOutput so = scheduler_->schedule();
    for (const SequenceOutput& f : so.finished) {
        requests_.erase(f.request_id);
        RequestOutput out;
        out.request_id = f.request_id;
        out.finish_reason = f.finish_reason;
        outputs.push_back(std::move(out));
    }
    if (so.empty()) return outputs;

    bool prefill = false;
    for (const ScheduledSequence& s : so.scheduled) prefill = prefill || s.num_tokens > 1 || !s.sample;
    std::vector<int32_t> tokens;
    std::vector<RequestOutput> logprobs;
    RETURN_IF_ERROR(run_batch(so, &tokens, &logprobs));

    const std::vector<SequenceOutput> done = scheduler_->update(so, tokens);
    for (size_t i = 0; i < done.size(); ++i) {
        RequestOutput out;
        if (i < logprobs.size()) out = std::move(logprobs[i]);
        out.request_id = done[i].request_id;
        out.token_id = done[i].token_id;
        out.finish_reason = done[i].finish_reason;
        if (out.finish_reason != FinishReason::kNone) requests_.erase(out.request_id);
        outputs.push_back(std::move(out));
    }

    const double elapsed = seconds_since(start);
    if (prefill) {
        stats_.prompt_seconds += elapsed;
        stats_.prompt_tokens += so.num_batched_tokens;
    } else {
        stats_.decode_seconds += elapsed;
        stats_.generated_tokens += static_cast<int64_t>(done.size());
    }
    return outputs;
}

Result<std::vector<float>> Engine::evaluate(const std::vector<int32_t>& ids) {
    if (ids.empty()) return Status::error("nothing to evaluate");
    if (static_cast<int64_t>(ids.size()) > context_length_) {
        return Status::errorf("{} tokens exceed the context of {}", ids.size(), context_length_);
    }
    if (has_unfinished()) return Status::error("evaluate() needs an idle engine");
    BlockTable blocks(*block_pool_);
    const int64_t vocab = model_->config().vocab_size;
    std::vector<float> all;
    all.reserve(ids.size() * static_cast<size_t>(vocab));
    int64_t num_computed = 0;
    while (num_computed < static_cast<int64_t>(ids.size())) {
        const int64_t count =
            std::min<int64_t>(options_.max_batch_tokens, static_cast<int64_t>(ids.size()) - num_computed);
        ForwardBatch batch;
        RETURN_IF_ERROR(blocks.reserve(num_computed + count));
        batch.num_seqs = 1;
        batch.max_blocks_per_seq = static_cast<int32_t>(blocks.blocks().size());
        batch.block_tables = blocks.blocks();
        for (int64_t i = 0; i < count; ++i) {
            const int64_t pos = num_computed + i;
            batch.token_ids.push_back(ids[pos]);
            batch.positions.push_back(static_cast<int32_t>(pos));
            batch.token_seq.push_back(0);
            batch.slot_mapping.push_back(blocks.slot(pos));
            batch.logits_indices.push_back(static_cast<int32_t>(i));
        }
        std::vector<float> logits;
        RETURN_IF_ERROR(model_->forward(batch, *kv_, &logits));
        all.insert(all.end(), logits.begin(), logits.end());
        num_computed += count;
    }
    return all;
}

}  // namespace frugal
