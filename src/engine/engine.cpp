#include "engine/engine.h"

#include <algorithm>
#include <chrono>

#include "core/logging.h"

namespace frugal {
namespace {
double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
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
    }
    const ModelConfig& c = e->model_->config();
    if (options.context_length <= 0 || options.block_size <= 0 || options.max_batch_tokens <= 0) {
        return Status::error("context length, block size and batch size must be positive");
    }
    e->context_length_ = std::min<int64_t>(options.context_length, c.context_length);
    const int64_t kv_tokens = options.kv_cache_tokens > 0 ? options.kv_cache_tokens : e->context_length_;
    const int64_t num_blocks = (kv_tokens + options.block_size - 1) / options.block_size;
    e->kv_ = std::make_unique<KvStorage>(*e->backend_, c, num_blocks, options.block_size, options.kv_dtype);
    e->block_pool_ = std::make_unique<BlockPool>(num_blocks, options.block_size);
    return e;
}

Status Engine::add_request(const Request& r) {
    const ModelConfig& c = model_->config();
    if (r.prompt_ids.empty()) return Status::error("the prompt is empty (no tokens to start from)");
    for (int32_t id : r.prompt_ids) {
        if (id < 0 || id >= c.vocab_size) {
            return Status::errorf("prompt token id {} is outside the vocabulary (0..{})", id, c.vocab_size - 1);
        }
    }
    if (static_cast<int64_t>(r.prompt_ids.size()) >= context_length_) {
        return Status::errorf("the prompt has {} tokens but the context holds {} (raise -c or shorten the prompt)",
                              r.prompt_ids.size(), context_length_);
    }
    auto seq = std::unique_ptr<Sequence>(new Sequence{r, r.prompt_ids, 0, BlockTable(*block_pool_),
                                                      Sampler(r.sampling), 0});
    running_.push_back(std::move(seq));
    return ok_status();
}

Result<std::vector<int32_t>> Engine::run_batch(const std::vector<Sequence*>& seqs, const std::vector<int64_t>& counts,
                                             const std::vector<bool>& want_logits) {
    ForwardBatch batch;
    batch.num_seqs = static_cast<int32_t>(seqs.size());
    size_t max_blocks = 1;
    for (size_t s = 0; s < seqs.size(); ++s) {
        RETURN_IF_ERROR(seqs[s]->blocks.reserve(seqs[s]->num_computed_tokens + counts[s]));
        max_blocks = std::max(max_blocks, seqs[s]->blocks.blocks().size());
    }
    batch.max_blocks_per_seq = static_cast<int32_t>(max_blocks);
    batch.block_tables.assign(seqs.size() * max_blocks, -1);
    for (size_t s = 0; s < seqs.size(); ++s) {
        Sequence& seq = *seqs[s];
        std::copy(seq.blocks.blocks().begin(), seq.blocks.blocks().end(), batch.block_tables.begin() + s * max_blocks);
        for (int64_t i = 0; i < counts[s]; ++i) {
            const int64_t pos = seq.num_computed_tokens + i;
            batch.token_ids.push_back(seq.tokens[pos]);
            batch.positions.push_back(static_cast<int32_t>(pos));
            batch.token_seq.push_back(static_cast<int32_t>(s));
            batch.slot_mapping.push_back(seq.blocks.slot(pos));
        }
        if (want_logits[s]) batch.logits_indices.push_back(static_cast<int32_t>(batch.token_ids.size() - 1));
    }
    // Sample on the device when the backend takes every sequence's chain (only ids come back); otherwise bring
    // the logits to the host. Either way each sampling step draws one uniform from its sequence's generator.
    std::vector<SamplingRow> rows;
    bool on_device = true;
    for (size_t s = 0; s < seqs.size() && on_device; ++s) {
        if (!want_logits[s]) continue;
        const std::optional<SamplingRow> row = seqs[s]->sampler.device_row();
        on_device = row.has_value() && backend_->can_sample(*row);
        if (on_device) rows.push_back(*row);
    }
    std::vector<int32_t> tokens;
    if (on_device) {
        size_t r = 0;
        for (size_t s = 0; s < seqs.size(); ++s) {
            if (!want_logits[s]) continue;
            if (rows[r].temperature > 0) rows[r].uniform = seqs[s]->sampler.draw_uniform();
            ++r;
        }
        RETURN_IF_ERROR(model_->forward_sample(batch, *kv_, rows, &tokens));
    } else {
        std::vector<float> logits;
        RETURN_IF_ERROR(model_->forward(batch, *kv_, &logits));
        const int64_t vocab = model_->config().vocab_size;
        size_t logit_row = 0;
        for (size_t s = 0; s < seqs.size(); ++s) {
            if (!want_logits[s]) continue;
            const std::span<const float> row(logits.data() + logit_row * vocab, static_cast<size_t>(vocab));
            ++logit_row;
            tokens.push_back(seqs[s]->sampler.sample(row, seqs[s]->tokens));
        }
    }
    for (size_t s = 0; s < seqs.size(); ++s) seqs[s]->num_computed_tokens += counts[s];
    return tokens;
}

Result<std::vector<RequestOutput>> Engine::step() {
    const auto start = std::chrono::steady_clock::now();
    std::vector<Sequence*> seqs;
    std::vector<int64_t> counts;
    std::vector<bool> want_logits;
    std::vector<RequestOutput> outputs;
    int64_t budget = options_.max_batch_tokens;
    int64_t free_blocks = block_pool_->num_free_blocks();
    bool prefill = false;
    for (auto& seq : running_) {
        const int64_t pending = static_cast<int64_t>(seq->tokens.size()) - seq->num_computed_tokens;
        int64_t count = std::min(pending, budget);
        if (count <= 0) continue;
        // Wait for KV blocks while other sequences hold them; a lone sequence that cannot fit is finished.
        const int64_t bs = block_pool_->block_size();
        const int64_t needed_blocks = (seq->num_computed_tokens + count + bs - 1) / bs -
                                      static_cast<int64_t>(seq->blocks.blocks().size());
        if (needed_blocks > free_blocks) {
            if (running_.size() == 1) {
                LOG_WARN("request {}: KV cache full after {} tokens; stopping", seq->request.request_id,
                         seq->tokens.size());
                outputs.push_back({seq->request.request_id, -1, FinishReason::kLength});
                seq->blocks.release();
                running_.clear();
                return outputs;
            }
            continue;
        }
        prefill = prefill || seq->generated == 0;
        budget -= count;
        free_blocks -= std::max<int64_t>(needed_blocks, 0);
        seqs.push_back(seq.get());
        counts.push_back(count);
        want_logits.push_back(seq->num_computed_tokens + count == static_cast<int64_t>(seq->tokens.size()));
    }
    if (seqs.empty()) return outputs;

    ASSIGN_OR_RETURN(const std::vector<int32_t> tokens, run_batch(seqs, counts, want_logits));

    size_t next = 0;
    for (size_t s = 0; s < seqs.size(); ++s) {
        if (!want_logits[s]) continue;
        Sequence& seq = *seqs[s];
        const int32_t token = tokens[next++];
        seq.tokens.push_back(token);
        ++seq.generated;
        RequestOutput out{seq.request.request_id, token, FinishReason::kNone};
        const bool eog = !seq.request.ignore_eos && tokenizer_ != nullptr && tokenizer_->is_eog(token);
        if (eog) {
            out.finish_reason = FinishReason::kStop;
        } else if ((seq.request.max_new_tokens >= 0 && seq.generated >= seq.request.max_new_tokens) ||
                   static_cast<int64_t>(seq.tokens.size()) >= context_length_) {
            out.finish_reason = FinishReason::kLength;
        }
        outputs.push_back(out);
    }
    std::erase_if(running_, [&](const std::unique_ptr<Sequence>& seq) {
        for (const RequestOutput& o : outputs) {
            if (o.request_id == seq->request.request_id && o.finish_reason != FinishReason::kNone) return true;
        }
        return false;
    });

    const double elapsed = seconds_since(start);
    if (prefill) {
        stats_.prompt_seconds += elapsed;
        for (int64_t c : counts) stats_.prompt_tokens += c;
    } else {
        stats_.decode_seconds += elapsed;
        stats_.generated_tokens += static_cast<int64_t>(outputs.size());
    }
    return outputs;
}

Result<std::vector<float>> Engine::evaluate(const std::vector<int32_t>& ids) {
    if (ids.empty()) return Status::error("nothing to evaluate");
    if (static_cast<int64_t>(ids.size()) > context_length_) {
        return Status::errorf("{} tokens exceed the context of {}", ids.size(), context_length_);
    }
    if (has_unfinished()) return Status::error("evaluate() needs an idle engine");
    Sequence seq{Request{}, ids, 0, BlockTable(*block_pool_), Sampler(SamplingParams{}), 0};
    const int64_t vocab = model_->config().vocab_size;
    std::vector<float> all;
    all.reserve(ids.size() * static_cast<size_t>(vocab));
    while (seq.num_computed_tokens < static_cast<int64_t>(ids.size())) {
        const int64_t count =
            std::min<int64_t>(options_.max_batch_tokens, static_cast<int64_t>(ids.size()) - seq.num_computed_tokens);
        ForwardBatch batch;
        RETURN_IF_ERROR(seq.blocks.reserve(seq.num_computed_tokens + count));
        batch.num_seqs = 1;
        batch.max_blocks_per_seq = static_cast<int32_t>(seq.blocks.blocks().size());
        batch.block_tables = seq.blocks.blocks();
        for (int64_t i = 0; i < count; ++i) {
            const int64_t pos = seq.num_computed_tokens + i;
            batch.token_ids.push_back(ids[pos]);
            batch.positions.push_back(static_cast<int32_t>(pos));
            batch.token_seq.push_back(0);
            batch.slot_mapping.push_back(seq.blocks.slot(pos));
            batch.logits_indices.push_back(static_cast<int32_t>(i));
        }
        std::vector<float> logits;
        RETURN_IF_ERROR(model_->forward(batch, *kv_, &logits));
        all.insert(all.end(), logits.begin(), logits.end());
        seq.num_computed_tokens += count;
    }
    return all;
}

}  // namespace frugal
