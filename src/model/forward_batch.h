// The flat batch the forward pass consumes: tokens from one or more sequences, each with its position, its
// sequence's block table and the KV-cache slot its key/value goes to. Built on the host by the engine (from the
// scheduler's output and the KV block tables); the model uploads it to the backend once per step.
#pragma once

#include <cstdint>
#include <vector>

namespace frugal {

struct ForwardBatch {
    std::vector<int32_t> token_ids;     // [num_tokens]
    std::vector<int32_t> positions;     // [num_tokens] position of each token in its sequence
    std::vector<int32_t> token_seq;     // [num_tokens] row of block_tables that the token belongs to
    std::vector<int32_t> slot_mapping;  // [num_tokens] KV slot = block_id * block_size + position % block_size
    std::vector<int32_t> block_tables;  // [num_seqs * max_blocks_per_seq], -1 where unused
    int32_t num_seqs = 0;
    int32_t max_blocks_per_seq = 0;
    std::vector<int32_t> logits_indices;  // tokens whose next-token logits are wanted, in output order

    int64_t num_tokens() const { return static_cast<int64_t>(token_ids.size()); }
};

}  // namespace frugal
