#include "model/kv_storage.h"

namespace frugal {

KvStorage::KvStorage(Backend& backend, const ModelConfig& config, int64_t num_blocks, int block_size, DType dtype)
    : num_blocks_(num_blocks), block_size_(block_size), dtype_(dtype) {
    CHECK(dtype == DType::kF32 || dtype == DType::kF16) << "KV cache type " << dtype_name(dtype);
    const int64_t slots = num_blocks * block_size;
    for (int64_t l = 0; l < config.num_layers; ++l) {
        Tensor k(nullptr, dtype, {config.cache_k_dim(), config.cache_kv_heads(), slots});
        Tensor v(nullptr, dtype, {config.cache_v_dim(), config.cache_kv_heads(), slots});
        buffers_.push_back(backend.allocate(static_cast<size_t>(k.size_bytes())));
        k.data = buffers_.back()->data();
        buffers_.push_back(backend.allocate(static_cast<size_t>(v.size_bytes())));
        v.data = buffers_.back()->data();
        k_.push_back(k);
        v_.push_back(v);
    }
}

int64_t KvStorage::bytes_per_token(const ModelConfig& config, DType dtype) {
    const int64_t elems = (config.cache_k_dim() + config.cache_v_dim()) * config.cache_kv_heads() * config.num_layers;
    return elems * (dtype == DType::kF32 ? 4 : 2);
}

size_t KvStorage::size_bytes() const {
    size_t total = 0;
    for (const auto& b : buffers_) total += b->size_bytes();
    return total;
}

}  // namespace frugal
