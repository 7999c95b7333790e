// Sequence: the scheduler's view of one request — its tokens (prompt, then output), how many of them have their
// K/V in the cache, its KV blocks, and where it is in its life: waiting -> running -> finished, with running ->
// preempted (its blocks taken back; it waits again and recomputes) as a detour. Owned by the Scheduler; the
// engine reads it between steps.
#pragma once

#include <cstdint>
#include <vector>

#include "kv_cache/block_pool.h"
#include "kv_cache/block_table.h"

namespace frugal {

enum class SequenceStatus { kWaiting, kRunning, kPreempted, kFinished };

// kStop: an end-of-generation or stop token; kLength: max_new_tokens or the context; kAborted: the caller
// cancelled it (a client that went away).
enum class FinishReason { kNone, kStop, kLength, kAborted };

struct Sequence {
    Sequence(int64_t id, std::vector<int32_t> prompt, BlockPool& pool)
        : request_id(id), token_ids(std::move(prompt)), num_prompt_tokens(static_cast<int64_t>(token_ids.size())),
          blocks(pool) {}

    int64_t num_tokens() const { return static_cast<int64_t>(token_ids.size()); }
    int64_t num_output_tokens() const { return num_tokens() - num_prompt_tokens; }

    int64_t request_id;
    std::vector<int32_t> token_ids;  // prompt, then each sampled token
    int64_t num_prompt_tokens;
    int64_t num_computed_tokens = 0;  // tokens whose K/V are in the cache (a prefix of token_ids)
    int64_t max_new_tokens = -1;      // -1: until a stop token or max_tokens
    int64_t max_tokens = 0;           // prompt + output may not exceed this (the context length)
    std::vector<int32_t> stop_token_ids;  // sampling one of these finishes the sequence (kStop)
    SequenceStatus status = SequenceStatus::kWaiting;
    FinishReason finish_reason = FinishReason::kNone;
    BlockTable blocks;
    // Prefix-cache keys of the leading full blocks already offered to the cache (block_hashes.size() of them).
    std::vector<BlockHash> block_hashes;
    int64_t num_cached_prompt_tokens = 0;  // prompt tokens the prefix cache supplied at the last admission
    int num_preemptions = 0;
};

}  // namespace frugal
