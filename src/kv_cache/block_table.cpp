#include "kv_cache/block_table.h"

#include <utility>

#include "core/check.h"

namespace frugal {

BlockTable::BlockTable(BlockTable&& other) noexcept : pool_(other.pool_), blocks_(std::move(other.blocks_)) {
    other.blocks_.clear();
}

BlockTable& BlockTable::operator=(BlockTable&& other) noexcept {
    if (this != &other) {
        release();
        pool_ = other.pool_;
        blocks_ = std::move(other.blocks_);
        other.blocks_.clear();
    }
    return *this;
}

Status BlockTable::reserve(int64_t num_tokens) {
    const int64_t bs = pool_->block_size();
    const int64_t needed = (num_tokens + bs - 1) / bs - static_cast<int64_t>(blocks_.size());
    if (needed <= 0) return ok_status();
    if (needed > pool_->num_free_blocks()) {
        return Status::errorf("KV cache full: {} tokens need {} more blocks of {} tokens, {} of {} free", num_tokens,
                              needed, bs, pool_->num_free_blocks(), pool_->num_blocks());
    }
    for (int64_t i = 0; i < needed; ++i) blocks_.push_back(*pool_->allocate());
    return ok_status();
}

void BlockTable::release() {
    // Last block first: the pool's LRU then forgets a freed prefix from its end, and a prefix is only useful
    // from its start.
    for (auto it = blocks_.rbegin(); it != blocks_.rend(); ++it) pool_->free(*it);
    blocks_.clear();
}

int32_t BlockTable::slot(int64_t position) const {
    const int64_t bs = pool_->block_size();
    CHECK(position >= 0 && position < capacity_tokens()) << "position " << position;
    return static_cast<int32_t>(blocks_[position / bs] * bs + position % bs);
}

}  // namespace frugal
