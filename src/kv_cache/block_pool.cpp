#include "kv_cache/block_pool.h"

#include "core/check.h"

namespace frugal {

BlockPool::BlockPool(int64_t num_blocks, int block_size)
    : num_blocks_(num_blocks), block_size_(block_size), allocated_(static_cast<size_t>(num_blocks), false) {
    CHECK(num_blocks > 0 && block_size > 0) << num_blocks << " blocks of " << block_size;
    free_.reserve(static_cast<size_t>(num_blocks));
    for (int64_t i = num_blocks - 1; i >= 0; --i) free_.push_back(static_cast<int32_t>(i));
}

std::optional<int32_t> BlockPool::allocate() {
    if (free_.empty()) return std::nullopt;
    const int32_t id = free_.back();
    free_.pop_back();
    allocated_[id] = true;
    return id;
}

void BlockPool::free(int32_t block_id) {
    CHECK(block_id >= 0 && block_id < num_blocks_) << "block " << block_id;
    CHECK(allocated_[block_id]) << "double free of block " << block_id;
    allocated_[block_id] = false;
    free_.push_back(block_id);
}

}  // namespace frugal
