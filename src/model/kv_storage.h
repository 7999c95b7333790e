// Device memory of the paged KV cache: per layer, K and V for num_blocks * block_size slots. Which slots belong
// to which sequence is bookkeeping in kv_cache/ (BlockPool, BlockTable); this class only owns the bytes.
#pragma once

#include <memory>
#include <vector>

#include "backend/backend.h"
#include "model/model_config.h"

namespace frugal {

class KvStorage {
public:
    KvStorage(Backend& backend, const ModelConfig& config, int64_t num_blocks, int block_size, DType dtype);

    int64_t num_blocks() const { return num_blocks_; }
    int block_size() const { return block_size_; }
    DType dtype() const { return dtype_; }
    size_t size_bytes() const;
    // Bytes one token's K and V take across every layer.
    static int64_t bytes_per_token(const ModelConfig& config, DType dtype);
    // [num_slots, cache_kv_heads, cache_k_dim] and [num_slots, cache_kv_heads, cache_v_dim] (ModelConfig).
    const Tensor& k(int64_t layer) const { return k_[layer]; }
    const Tensor& v(int64_t layer) const { return v_[layer]; }

private:
    int64_t num_blocks_;
    int block_size_;
    DType dtype_;
    std::vector<std::unique_ptr<DeviceBuffer>> buffers_;
    std::vector<Tensor> k_;
    std::vector<Tensor> v_;
};

}  // namespace frugal
