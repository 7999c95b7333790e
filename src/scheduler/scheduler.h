// Scheduler: continuous (iteration-level) batching over a paged KV cache. Each step it decides which sequences
// run and how many of their tokens: running sequences first (one token for a decode, a chunk for a prefill that
// is still going), then waiting ones in arrival order, until the step's token budget, the sequence limit or the
// free KV blocks run out. When a running sequence needs a block and none is free, the most recently admitted
// running sequence is preempted: its blocks go back to the pool and it waits at the front of the queue to be
// recomputed. Full blocks go into the pool's prefix cache, so a new sequence that starts like an earlier one
// adopts those blocks and computes only the rest.
//
// Pure CPU bookkeeping with no device types, tested with fake requests. Not thread-safe: the engine's step loop
// owns it. Every Sequence* it hands out stays valid until the sequence finishes (update() or abort()).
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "core/status.h"
#include "kv_cache/block_pool.h"
#include "scheduler/sequence.h"

namespace frugal {

struct SchedulerOptions {
    int max_num_seqs = 256;                // running sequences at most
    int64_t max_num_batched_tokens = 512;  // tokens per step, prompt chunks and decodes together
    bool enable_prefix_caching = true;
};

// One sampled token of a sequence, and whether it finished the sequence.
struct SequenceOutput {
    int64_t request_id = 0;
    int32_t token_id = -1;
    FinishReason finish_reason = FinishReason::kNone;
};

struct ScheduledSequence {
    Sequence* seq = nullptr;
    int64_t num_tokens = 0;  // tokens to compute this step, from seq->num_computed_tokens on
    bool sample = false;     // the chunk reaches the sequence's last token: its next token is sampled
};

struct SchedulerOutput {
    std::vector<ScheduledSequence> scheduled;  // in batch order
    std::vector<int64_t> preempted_ids;        // sequences preempted while making this step
    // Sequences finished while making this step: one that cannot fit the KV cache even alone (kLength).
    std::vector<SequenceOutput> finished;
    int64_t num_batched_tokens = 0;

    bool empty() const { return scheduled.empty(); }
};

struct SchedulerStats {
    int64_t num_preemptions = 0;
    int64_t prefix_cache_queries = 0;  // prompt tokens looked up in the prefix cache at admission
    int64_t prefix_cache_hits = 0;     // of those, tokens found cached
};

class Scheduler {
public:
    Scheduler(BlockPool& pool, const SchedulerOptions& options);

    // Queues a sequence (status kWaiting, nothing computed). Its request_id must be unused.
    void add(std::unique_ptr<Sequence> seq);
    // Finishes a waiting or running sequence as kAborted and frees its blocks now. False if it is not here.
    bool abort(int64_t request_id);

    SchedulerOutput schedule();
    // Applies a step's results: advances num_computed_tokens, caches newly full blocks, appends the sampled
    // tokens (one per scheduled entry with sample set, in order), and finishes sequences that hit a stop token,
    // max_new_tokens or max_tokens, freeing their blocks.
    std::vector<SequenceOutput> update(const SchedulerOutput& output, std::span<const int32_t> sampled);

    bool has_unfinished() const { return !running_.empty() || !waiting_.empty(); }
    int64_t num_running() const { return static_cast<int64_t>(running_.size()); }
    int64_t num_waiting() const { return static_cast<int64_t>(waiting_.size()); }
    const BlockPool& pool() const { return *pool_; }
    const SchedulerStats& stats() const { return stats_; }
    // Checks every invariant of the bookkeeping (block ownership against reference counts, statuses, counts);
    // CHECK-fails on a violation. For tests.
    void check_invariants() const;

private:
    void preempt(Sequence& seq);
    void finish(std::unique_ptr<Sequence> seq, FinishReason reason);
    // Adopts the longest cached prefix of seq's tokens (full blocks, never the last token).
    void adopt_cached_prefix(Sequence& seq);
    void cache_full_blocks(Sequence& seq);

    BlockPool* pool_;
    SchedulerOptions options_;
    std::deque<std::unique_ptr<Sequence>> waiting_;
    std::vector<std::unique_ptr<Sequence>> running_;  // admission order; preemption takes from the back
    SchedulerStats stats_;
};

}  // namespace frugal
