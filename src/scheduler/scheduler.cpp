#include "scheduler/scheduler.h"

#include <algorithm>
#include <unordered_map>

#include "core/check.h"
#include "core/logging.h"

namespace frugal {

Scheduler::Scheduler(BlockPool& pool, const SchedulerOptions& options) : pool_(&pool), options_(options) {
    CHECK(options.max_num_seqs > 0 && options.max_num_batched_tokens > 0)
        << options.max_num_seqs << " sequences, " << options.max_num_batched_tokens << " tokens per step";
}

void Scheduler::add(std::unique_ptr<Sequence> seq) {
    CHECK(seq != nullptr && seq->num_tokens() > 0 && seq->num_computed_tokens == 0 && seq->blocks.blocks().empty());
    seq->status = SequenceStatus::kWaiting;
    waiting_.push_back(std::move(seq));
}

bool Scheduler::abort(int64_t request_id) {
    auto match = [&](const std::unique_ptr<Sequence>& s) { return s->request_id == request_id; };
    if (auto it = std::find_if(running_.begin(), running_.end(), match); it != running_.end()) {
        std::unique_ptr<Sequence> seq = std::move(*it);
        running_.erase(it);
        finish(std::move(seq), FinishReason::kAborted);
        return true;
    }
    if (auto it = std::find_if(waiting_.begin(), waiting_.end(), match); it != waiting_.end()) {
        std::unique_ptr<Sequence> seq = std::move(*it);
        waiting_.erase(it);
        finish(std::move(seq), FinishReason::kAborted);
        return true;
    }
    return false;
}

void Scheduler::preempt(Sequence& seq) {
    seq.blocks.release();
    seq.block_hashes.clear();
    seq.num_computed_tokens = 0;
    seq.status = SequenceStatus::kPreempted;
    ++seq.num_preemptions;
    ++stats_.num_preemptions;
}

void Scheduler::finish(std::unique_ptr<Sequence> seq, FinishReason reason) {
    seq->blocks.release();
    seq->status = SequenceStatus::kFinished;
    seq->finish_reason = reason;
}

void Scheduler::adopt_cached_prefix(Sequence& seq) {
    const int bs = pool_->block_size();
    // The last token is always computed, so the step that admits the sequence has logits to sample from.
    const int64_t max_blocks = (seq.num_tokens() - 1) / bs;
    BlockHash parent = kRootBlockHash;
    int64_t j = 0;
    for (; j < max_blocks; ++j) {
        const std::span<const int32_t> tokens(seq.token_ids.data() + j * bs, static_cast<size_t>(bs));
        const BlockHash h = hash_block_tokens(parent, tokens);
        const std::optional<int32_t> block = pool_->find_cached(h, tokens);
        if (!block) break;
        seq.blocks.append_held(*block);
        seq.block_hashes.push_back(h);
        parent = h;
    }
    seq.num_computed_tokens = j * bs;
    if (seq.status == SequenceStatus::kWaiting) seq.num_cached_prompt_tokens = seq.num_computed_tokens;
    stats_.prefix_cache_queries += seq.num_tokens();
    stats_.prefix_cache_hits += seq.num_computed_tokens;
}

void Scheduler::cache_full_blocks(Sequence& seq) {
    const int bs = pool_->block_size();
    const int64_t num_full = seq.num_computed_tokens / bs;
    for (auto j = static_cast<int64_t>(seq.block_hashes.size()); j < num_full; ++j) {
        const BlockHash parent = j == 0 ? kRootBlockHash : seq.block_hashes[static_cast<size_t>(j - 1)];
        const std::span<const int32_t> tokens(seq.token_ids.data() + j * bs, static_cast<size_t>(bs));
        const BlockHash h = hash_block_tokens(parent, tokens);
        pool_->cache_block(seq.blocks.blocks()[static_cast<size_t>(j)], h, tokens);
        seq.block_hashes.push_back(h);
    }
}

SchedulerOutput Scheduler::schedule() {
    SchedulerOutput out;
    int64_t budget = options_.max_num_batched_tokens;
    bool preempted = false;

    // Running sequences, in admission order; blocks they need come from the free pool, then from preempting
    // the most recently admitted running sequence.
    for (size_t i = 0; i < running_.size() && budget > 0;) {
        Sequence& seq = *running_[i];
        const int64_t n = std::min(seq.num_tokens() - seq.num_computed_tokens, budget);
        CHECK(n > 0) << "running sequence " << seq.request_id << " has nothing to compute";
        bool runs = true;
        while (!seq.blocks.reserve(seq.num_computed_tokens + n).ok()) {
            preempted = true;
            std::unique_ptr<Sequence> victim = std::move(running_.back());
            running_.pop_back();
            if (victim.get() == &seq && i == 0) {
                // Alone and still no room: the cache cannot hold this sequence. The engine sizes the context to
                // the cache, so this is a configuration error, reported as a length stop rather than a crash.
                LOG_WARN("request {}: the KV cache ({} blocks of {}) cannot hold {} tokens; stopping it",
                         seq.request_id, pool_->num_blocks(), pool_->block_size(), seq.num_computed_tokens + n);
                out.finished.push_back({seq.request_id, -1, FinishReason::kLength});
                finish(std::move(victim), FinishReason::kLength);
                runs = false;
                break;
            }
            preempt(*victim);
            out.preempted_ids.push_back(victim->request_id);
            const bool self = victim.get() == &seq;
            waiting_.push_front(std::move(victim));
            if (self) {
                runs = false;
                break;
            }
        }
        if (!runs) break;  // seq was the last running sequence
        out.scheduled.push_back({&seq, n, seq.num_computed_tokens + n == seq.num_tokens()});
        out.num_batched_tokens += n;
        budget -= n;
        ++i;
    }

    // Waiting sequences in arrival order (preempted ones are at the front), while nothing had to be preempted.
    while (!preempted && !waiting_.empty() && budget > 0 &&
           static_cast<int64_t>(running_.size()) < options_.max_num_seqs) {
        Sequence& seq = *waiting_.front();
        if (options_.enable_prefix_caching && seq.num_computed_tokens == 0) adopt_cached_prefix(seq);
        const int64_t n = std::min(seq.num_tokens() - seq.num_computed_tokens, budget);
        if (!seq.blocks.reserve(seq.num_computed_tokens + n).ok()) {
            seq.blocks.release();
            seq.block_hashes.clear();
            seq.num_computed_tokens = 0;
            break;
        }
        seq.status = SequenceStatus::kRunning;
        running_.push_back(std::move(waiting_.front()));
        waiting_.pop_front();
        out.scheduled.push_back({&seq, n, seq.num_computed_tokens + n == seq.num_tokens()});
        out.num_batched_tokens += n;
        budget -= n;
    }
    return out;
}

std::vector<SequenceOutput> Scheduler::update(const SchedulerOutput& output, std::span<const int32_t> sampled) {
    std::vector<SequenceOutput> outs;
    size_t next = 0;
    for (const ScheduledSequence& s : output.scheduled) {
        Sequence& seq = *s.seq;
        CHECK(seq.status == SequenceStatus::kRunning) << "sequence " << seq.request_id << " left the batch";
        seq.num_computed_tokens += s.num_tokens;
        CHECK(seq.num_computed_tokens <= seq.blocks.capacity_tokens());
        if (options_.enable_prefix_caching) cache_full_blocks(seq);
        if (!s.sample) continue;
        CHECK(next < sampled.size()) << "fewer sampled tokens than sampling sequences";
        const int32_t token = sampled[next++];
        seq.token_ids.push_back(token);
        FinishReason reason = FinishReason::kNone;
        if (std::find(seq.stop_token_ids.begin(), seq.stop_token_ids.end(), token) != seq.stop_token_ids.end()) {
            reason = FinishReason::kStop;
        } else if ((seq.max_new_tokens >= 0 && seq.num_output_tokens() >= seq.max_new_tokens) ||
                   (seq.max_tokens > 0 && seq.num_tokens() >= seq.max_tokens)) {
            reason = FinishReason::kLength;
        }
        seq.finish_reason = reason;
        outs.push_back({seq.request_id, token, reason});
    }
    CHECK(next == sampled.size()) << sampled.size() << " sampled tokens for " << next << " sampling sequences";
    for (auto it = running_.begin(); it != running_.end();) {
        if ((*it)->finish_reason != FinishReason::kNone) {
            const FinishReason reason = (*it)->finish_reason;
            std::unique_ptr<Sequence> seq = std::move(*it);
            it = running_.erase(it);
            finish(std::move(seq), reason);
        } else {
            ++it;
        }
    }
    return outs;
}

void Scheduler::check_invariants() const {
    std::unordered_map<int32_t, int> held;
    auto count = [&](const Sequence& seq) {
        CHECK(seq.num_computed_tokens >= 0 && seq.num_computed_tokens <= seq.num_tokens());
        CHECK(seq.num_computed_tokens <= seq.blocks.capacity_tokens());
        CHECK(static_cast<int64_t>(seq.block_hashes.size()) <= seq.num_computed_tokens / pool_->block_size());
        for (int32_t b : seq.blocks.blocks()) ++held[b];
    };
    for (const auto& seq : running_) {
        CHECK(seq->status == SequenceStatus::kRunning) << "running sequence " << seq->request_id;
        count(*seq);
    }
    for (const auto& seq : waiting_) {
        CHECK(seq->status == SequenceStatus::kWaiting || seq->status == SequenceStatus::kPreempted);
        CHECK(seq->blocks.blocks().empty()) << "waiting sequence " << seq->request_id << " holds blocks";
        count(*seq);
    }
    int64_t num_free = 0;
    for (int32_t b = 0; b < pool_->num_blocks(); ++b) {
        const auto it = held.find(b);
        const int want = it == held.end() ? 0 : it->second;
        CHECK(pool_->ref_count(b) == want) << "block " << b << ": ref count " << pool_->ref_count(b) << ", held "
                                           << want << " times";
        num_free += want == 0;
    }
    CHECK(num_free == pool_->num_free_blocks()) << num_free << " vs " << pool_->num_free_blocks();
    CHECK(static_cast<int64_t>(running_.size()) <= options_.max_num_seqs);
}

}  // namespace frugal
