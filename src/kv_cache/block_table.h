// BlockTable: the KV blocks of one sequence, in position order, and how many tokens they hold.
// Grows through a BlockPool; release() gives every block back.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "kv_cache/block_pool.h"

namespace frugal {

class BlockTable {
public:
    explicit BlockTable(BlockPool& pool) : pool_(&pool) {}
    ~BlockTable() { release(); }
    BlockTable(BlockTable&& other) noexcept;
    BlockTable& operator=(BlockTable&& other) noexcept;
    BlockTable(const BlockTable&) = delete;
    BlockTable& operator=(const BlockTable&) = delete;

    // Makes room for num_tokens in total. On a full pool returns an error and keeps what it had.
    Status reserve(int64_t num_tokens);
    // Appends a block whose reference the caller already took (a prefix-cache hit); the table now owns it.
    void append_held(int32_t block_id) { blocks_.push_back(block_id); }
    void release();

    const std::vector<int32_t>& blocks() const { return blocks_; }
    int64_t capacity_tokens() const { return static_cast<int64_t>(blocks_.size()) * pool_->block_size(); }
    // KV slot of the token at `position` (must be below capacity_tokens()).
    int32_t slot(int64_t position) const;

private:
    BlockPool* pool_;
    std::vector<int32_t> blocks_;
};

}  // namespace frugal
