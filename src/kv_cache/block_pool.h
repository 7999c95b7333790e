// BlockPool: hands out fixed-size KV-cache blocks by id from a free list. Pure bookkeeping: it never touches
// device memory (KvStorage owns the bytes). Not thread-safe: owned and mutated by the engine's step loop.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

namespace frugal {

class BlockPool {
public:
    BlockPool(int64_t num_blocks, int block_size);

    int64_t num_blocks() const { return num_blocks_; }
    int block_size() const { return block_size_; }
    int64_t num_free_blocks() const { return static_cast<int64_t>(free_.size()); }

    // A free block id, or nullopt when the pool is exhausted.
    std::optional<int32_t> allocate();
    // Returns a block to the pool. CHECK-fails on double free or an id that is not from this pool.
    void free(int32_t block_id);

private:
    int64_t num_blocks_;
    int block_size_;
    std::vector<int32_t> free_;       // stack of free ids; the lowest ids are handed out first
    std::vector<bool> allocated_;
};

}  // namespace frugal
