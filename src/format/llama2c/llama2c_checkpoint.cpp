#include "format/llama2c/llama2c_checkpoint.h"

#include <climits>
#include <cstring>
#include <span>

namespace frugal {
namespace {
constexpr size_t kHeaderBytes = 7 * sizeof(int32_t);
constexpr int32_t kMaxDim = 1 << 16;
}  // namespace

Result<Llama2cCheckpoint> Llama2cCheckpoint::parse(const uint8_t* data, size_t size, const std::string& name) {
    if (size < kHeaderBytes) return Status::errorf("llama2.c checkpoint '{}' is {} bytes, too short for a header", name, size);
    if (size >= 4 && std::memcmp(data, "ak42", 4) == 0) {
        return Status::errorf("'{}' is a versioned llama2.c export; only the legacy (version 0) float32 export is "
                              "supported", name);
    }
    int32_t h[7];
    std::memcpy(h, data, sizeof(h));
    Llama2cCheckpoint ckpt;
    Llama2cConfig& c = ckpt.config_;
    c.dim = h[0];
    c.hidden_dim = h[1];
    c.num_layers = h[2];
    c.num_heads = h[3];
    c.num_kv_heads = h[4];
    c.shared_classifier = h[5] > 0;
    // INT32_MIN has no positive counterpart; it is no plausible vocabulary size either.
    c.vocab_size = h[5] > 0 ? h[5] : (h[5] == INT32_MIN ? 0 : -h[5]);
    c.seq_len = h[6];
    auto in_range = [](int32_t v) { return v > 0 && v <= kMaxDim; };
    if (!in_range(c.dim) || !in_range(c.hidden_dim) || !in_range(c.num_layers) || !in_range(c.num_heads) ||
        !in_range(c.num_kv_heads) || !in_range(c.vocab_size) || !in_range(c.seq_len) || c.dim % c.num_heads != 0 ||
        c.num_heads % c.num_kv_heads != 0 || (c.dim / c.num_heads) % 2 != 0) {
        return Status::errorf("'{}' is not a llama2.c checkpoint: implausible header dim={} hidden={} layers={} "
                              "heads={} kv_heads={} vocab={} seq_len={}", name, c.dim, c.hidden_dim, c.num_layers,
                              c.num_heads, c.num_kv_heads, h[5], c.seq_len);
    }
    const uint64_t head = c.dim / c.num_heads;
    const uint64_t kv_dim = head * c.num_kv_heads;
    const uint64_t L = c.num_layers;
    const auto dim = static_cast<uint64_t>(c.dim);
    const auto vocab = static_cast<uint64_t>(c.vocab_size);
    uint64_t floats = vocab * dim + L * dim * 2 + L * dim * (dim + 2 * kv_dim + dim) +
                      L * 3 * static_cast<uint64_t>(c.hidden_dim) * dim + dim + static_cast<uint64_t>(c.seq_len) * head;
    if (!c.shared_classifier) floats += vocab * dim;
    if (size - kHeaderBytes != floats * 4) {
        return Status::errorf("llama2.c checkpoint '{}' is {} bytes; its header (dim={}, layers={}, vocab={}) "
                              "implies {} bytes", name, size, c.dim, c.num_layers, c.vocab_size,
                              kHeaderBytes + floats * 4);
    }
    ckpt.weights_ = reinterpret_cast<const float*>(data + kHeaderBytes);
    return ckpt;
}

Status Llama2cCheckpoint::add_to_gguf(GgufWriter& w) const {
    const Llama2cConfig& c = config_;
    const int64_t head = c.dim / c.num_heads;
    const int64_t kv_dim = head * c.num_kv_heads;
    w.set_string("general.architecture", "llama");
    w.set_string("general.name", "llama2.c checkpoint");
    w.set_uint32("llama.context_length", static_cast<uint32_t>(c.seq_len));
    w.set_uint32("llama.embedding_length", static_cast<uint32_t>(c.dim));
    w.set_uint32("llama.block_count", static_cast<uint32_t>(c.num_layers));
    w.set_uint32("llama.feed_forward_length", static_cast<uint32_t>(c.hidden_dim));
    w.set_uint32("llama.attention.head_count", static_cast<uint32_t>(c.num_heads));
    w.set_uint32("llama.attention.head_count_kv", static_cast<uint32_t>(c.num_kv_heads));
    w.set_uint32("llama.rope.dimension_count", static_cast<uint32_t>(head));
    w.set_float32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    w.set_float32("llama.rope.freq_base", 10000.0f);
    w.set_uint32("llama.vocab_size", static_cast<uint32_t>(c.vocab_size));
    w.set_uint32("general.file_type", 0);  // all F32

    const float* p = weights_;
    // Tensors are stored [out][in] row-major, which is GGML shape {in, out}; llama2.c rotates adjacent pairs,
    // as llama.cpp's "normal" RoPE does, so q and k need no permutation.
    auto take = [&p](int64_t count) {
        std::span<const uint8_t> bytes(reinterpret_cast<const uint8_t*>(p), static_cast<size_t>(count) * 4);
        p += count;
        return bytes;
    };
    auto per_layer = [&](const char* suffix, std::vector<int64_t> shape) -> Status {
        const int64_t count = shape[0] * (shape.size() > 1 ? shape[1] : 1);
        for (int32_t l = 0; l < c.num_layers; ++l) {
            RETURN_IF_ERROR(w.add_tensor(fmt::format("blk.{}.{}", l, suffix), DType::kF32, shape, take(count)));
        }
        return ok_status();
    };
    RETURN_IF_ERROR(w.add_tensor("token_embd.weight", DType::kF32, {c.dim, c.vocab_size},
                                 take(int64_t{c.vocab_size} * c.dim)));
    RETURN_IF_ERROR(per_layer("attn_norm.weight", {c.dim}));
    RETURN_IF_ERROR(per_layer("attn_q.weight", {c.dim, c.dim}));
    RETURN_IF_ERROR(per_layer("attn_k.weight", {c.dim, kv_dim}));
    RETURN_IF_ERROR(per_layer("attn_v.weight", {c.dim, kv_dim}));
    RETURN_IF_ERROR(per_layer("attn_output.weight", {c.dim, c.dim}));
    RETURN_IF_ERROR(per_layer("ffn_norm.weight", {c.dim}));
    RETURN_IF_ERROR(per_layer("ffn_gate.weight", {c.dim, c.hidden_dim}));
    RETURN_IF_ERROR(per_layer("ffn_down.weight", {c.hidden_dim, c.dim}));
    RETURN_IF_ERROR(per_layer("ffn_up.weight", {c.dim, c.hidden_dim}));
    RETURN_IF_ERROR(w.add_tensor("output_norm.weight", DType::kF32, {c.dim}, take(c.dim)));
    p += int64_t{c.seq_len} * head;  // legacy freq_cis_real / freq_cis_imag tables, unused
    if (!c.shared_classifier) {
        RETURN_IF_ERROR(w.add_tensor("output.weight", DType::kF32, {c.dim, c.vocab_size},
                                     take(int64_t{c.vocab_size} * c.dim)));
    }
    return ok_status();
}

}  // namespace frugal
