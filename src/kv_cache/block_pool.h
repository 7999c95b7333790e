// BlockPool: hands out fixed-size KV-cache blocks by id, counts who holds each one, and remembers which full blocks
// hold which token prefix (the prefix cache), so a sequence whose prompt starts like an earlier one adopts those
// blocks instead of computing them again. Pure bookkeeping: it never touches device memory (KvStorage owns the
// bytes). Not thread-safe: owned and mutated by the engine's step loop.
//
// A block is free when no sequence holds it (reference count 0). Free blocks wait in one queue, in the order
// they are handed out again: blocks without a cached prefix at the front (most recently freed first), cached
// blocks behind them, least recently freed first, so the cache keeps the blocks that were used last (LRU). A
// cached block is forgotten by the cache only when allocate() hands it out for new contents.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace frugal {

// Prefix-cache key of a full block: a hash chained over its parent block's key and its own token ids, so equal
// keys mean equal prefixes up to hash collisions (which the pool rules out by comparing the token ids).
using BlockHash = uint64_t;
BlockHash hash_block_tokens(BlockHash parent, std::span<const int32_t> tokens);
inline constexpr BlockHash kRootBlockHash = 0x6a09e667f3bcc908ull;  // the parent of a sequence's first block

class BlockPool {
public:
    BlockPool(int64_t num_blocks, int block_size);

    int64_t num_blocks() const { return num_blocks_; }
    int block_size() const { return block_size_; }
    // Blocks no sequence holds, cached ones included (they are reused when nothing else is left).
    int64_t num_free_blocks() const { return num_free_; }
    int64_t num_used_blocks() const { return num_blocks_ - num_free_; }
    int64_t num_cached_blocks() const { return static_cast<int64_t>(cached_.size()); }
    int ref_count(int32_t block_id) const;

    // A free block with reference count 1 (its cached prefix, if any, is forgotten), or nullopt when every block
    // is held.
    std::optional<int32_t> allocate();
    // Drops one reference. CHECK-fails on a block nobody holds or an id that is not from this pool.
    void free(int32_t block_id);

    // The cached block holding exactly `tokens` after the prefix `hash` stands for, with one more reference taken
    // for the caller; nullopt when there is none.
    std::optional<int32_t> find_cached(BlockHash hash, std::span<const int32_t> tokens);
    // Records that the held block `block_id` holds the full block `tokens` (block_size ids) with key `hash`. A key
    // that another block already holds is left with that block.
    void cache_block(int32_t block_id, BlockHash hash, std::span<const int32_t> tokens);

private:
    void unlink(int32_t block_id);
    void push_front(int32_t block_id);
    void push_back(int32_t block_id);

    int64_t num_blocks_;
    int block_size_;
    int64_t num_free_;
    std::vector<int32_t> ref_count_;  // [num_blocks]
    // The free queue, a doubly linked list over block ids with a sentinel at index num_blocks.
    std::vector<int32_t> prev_;  // [num_blocks + 1]
    std::vector<int32_t> next_;  // [num_blocks + 1]
    std::vector<bool> in_cache_;                    // [num_blocks]
    std::vector<BlockHash> hash_;                   // [num_blocks] valid where in_cache_
    std::vector<int32_t> tokens_;                   // [num_blocks, block_size] valid where in_cache_
    std::unordered_map<BlockHash, int32_t> cached_;  // key -> block
};

}  // namespace frugal
