#include "kv_cache/block_pool.h"

#include <algorithm>

#include "core/check.h"

namespace frugal {

BlockHash hash_block_tokens(BlockHash parent, std::span<const int32_t> tokens) {
    // splitmix64-style mixing of each id into the running state: cheap, well spread, and the pool compares the
    // token ids on every hit, so a collision can cost a cache miss but never a wrong prefix.
    uint64_t h = parent ^ (0x9e3779b97f4a7c15ull * (tokens.size() + 1));
    for (int32_t t : tokens) {
        h += 0x9e3779b97f4a7c15ull + static_cast<uint32_t>(t);
        h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
        h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
        h ^= h >> 31;
    }
    return h;
}

BlockPool::BlockPool(int64_t num_blocks, int block_size)
    : num_blocks_(num_blocks), block_size_(block_size), num_free_(num_blocks) {
    CHECK(num_blocks > 0 && num_blocks < INT32_MAX && block_size > 0) << num_blocks << " blocks of " << block_size;
    const auto n = static_cast<size_t>(num_blocks);
    ref_count_.assign(n, 0);
    in_cache_.assign(n, false);
    hash_.assign(n, 0);
    prev_.resize(n + 1);
    next_.resize(n + 1);
    const auto sentinel = static_cast<int32_t>(num_blocks);
    prev_[n] = next_[n] = sentinel;
    for (int32_t i = 0; i < sentinel; ++i) push_back(i);
}

int BlockPool::ref_count(int32_t block_id) const {
    CHECK(block_id >= 0 && block_id < num_blocks_) << "block " << block_id;
    return ref_count_[static_cast<size_t>(block_id)];
}

void BlockPool::unlink(int32_t b) {
    next_[static_cast<size_t>(prev_[b])] = next_[b];
    prev_[static_cast<size_t>(next_[b])] = prev_[b];
}

void BlockPool::push_front(int32_t b) {
    const auto s = static_cast<int32_t>(num_blocks_);
    prev_[b] = s;
    next_[b] = next_[s];
    prev_[static_cast<size_t>(next_[s])] = b;
    next_[s] = b;
}

void BlockPool::push_back(int32_t b) {
    const auto s = static_cast<int32_t>(num_blocks_);
    next_[b] = s;
    prev_[b] = prev_[s];
    next_[static_cast<size_t>(prev_[s])] = b;
    prev_[s] = b;
}

std::optional<int32_t> BlockPool::allocate() {
    const auto s = static_cast<int32_t>(num_blocks_);
    const int32_t b = next_[s];
    if (b == s) return std::nullopt;
    unlink(b);
    --num_free_;
    ref_count_[b] = 1;
    if (in_cache_[b]) {
        cached_.erase(hash_[b]);
        in_cache_[b] = false;
    }
    return b;
}

void BlockPool::free(int32_t b) {
    CHECK(b >= 0 && b < num_blocks_) << "block " << b;
    CHECK(ref_count_[b] > 0) << "double free of block " << b;
    if (--ref_count_[b] > 0) return;
    ++num_free_;
    if (in_cache_[b]) {
        push_back(b);
    } else {
        push_front(b);
    }
}

std::optional<int32_t> BlockPool::find_cached(BlockHash hash, std::span<const int32_t> tokens) {
    if (static_cast<int>(tokens.size()) != block_size_) return std::nullopt;
    const auto it = cached_.find(hash);
    if (it == cached_.end()) return std::nullopt;
    const int32_t b = it->second;
    const int32_t* held = tokens_.data() + static_cast<size_t>(b) * static_cast<size_t>(block_size_);
    if (!std::equal(tokens.begin(), tokens.end(), held)) return std::nullopt;
    if (ref_count_[b]++ == 0) {
        unlink(b);
        --num_free_;
    }
    return b;
}

void BlockPool::cache_block(int32_t b, BlockHash hash, std::span<const int32_t> tokens) {
    CHECK(b >= 0 && b < num_blocks_ && ref_count_[b] > 0) << "caching block " << b << " that nobody holds";
    CHECK(static_cast<int>(tokens.size()) == block_size_) << "a cached block must be full";
    if (in_cache_[b] || cached_.contains(hash)) return;
    if (tokens_.empty()) tokens_.resize(static_cast<size_t>(num_blocks_) * static_cast<size_t>(block_size_));
    std::copy(tokens.begin(), tokens.end(), tokens_.begin() + static_cast<ptrdiff_t>(b) * block_size_);
    in_cache_[b] = true;
    hash_[b] = hash;
    cached_.emplace(hash, b);
}

}  // namespace frugal
