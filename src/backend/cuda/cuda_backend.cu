#include "backend/cuda/cuda_backend.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "backend/cuda/cuda_kernels.cuh"
#include "backend/cuda/gemm.cuh"
#include "core/half.h"
#include "quant/quant_traits.h"

namespace frugal {
namespace {

using cuda::WeightFormat;
using cuda::WeightView;

class CudaBuffer final : public DeviceBuffer {
public:
    explicit CudaBuffer(size_t bytes) : size_(bytes) {
        CUDA_CHECK(cudaMalloc(&data_, std::max<size_t>(bytes, 256)));
    }
    ~CudaBuffer() override { cudaFree(data_); }
    void* data() override { return data_; }
    size_t size_bytes() const override { return size_; }

private:
    void* data_ = nullptr;
    size_t size_;
};

// Pinned host memory, grown on demand; staging for copies so they run asynchronously on the stream.
class PinnedBuffer {
public:
    ~PinnedBuffer() {
        if (data_ != nullptr) cudaFreeHost(data_);
    }
    uint8_t* ensure(size_t bytes) {
        if (bytes > size_) {
            if (data_ != nullptr) CUDA_CHECK(cudaFreeHost(data_));
            size_ = std::max(bytes, size_ * 2);
            CUDA_CHECK(cudaMallocHost(&data_, size_));
        }
        return static_cast<uint8_t*>(data_);
    }
    size_t size() const { return size_; }

private:
    void* data_ = nullptr;
    size_t size_ = 0;
};

WeightFormat format_of(DType t) {
    switch (t) {
        case DType::kF32:
            return WeightFormat::kF32;
        case DType::kF16:
            return WeightFormat::kF16;
        case DType::kBF16:
            return WeightFormat::kBF16;
        case DType::kQ8_0:
            return WeightFormat::kQ8;
        case DType::kQ4_0:
            return WeightFormat::kQ4_0;
        case DType::kQ4_K:
            return WeightFormat::kQ4K;
        case DType::kQ5_K:
            return WeightFormat::kQ5K;
        case DType::kQ6_K:
            return WeightFormat::kQ6K;
        default:
            CHECK(false) << "no CUDA layout for " << dtype_name(t);
    }
    return WeightFormat::kF32;
}

WeightView view_of(const Tensor& t) {
    return WeightView{format_of(t.dtype), static_cast<const uint8_t*>(t.data), t.rows(), t.cols()};
}

// ---- weight repacking (host side, once at load) ----

// Q8_0 [34-byte blocks: fp16 d, 32 x int8] -> int8 plane + fp16 scale plane.
void repack_q8_0(const uint8_t* src, int64_t blocks, uint8_t* dst) {
    auto* q = reinterpret_cast<int8_t*>(dst);
    auto* d = reinterpret_cast<uint16_t*>(dst + blocks * 32);
    for (int64_t b = 0; b < blocks; ++b) {
        const uint8_t* blk = src + b * 34;
        std::memcpy(&d[b], blk, 2);
        std::memcpy(q + b * 32, blk + 2, 32);
    }
}

// Q5_0 [22-byte blocks: fp16 d, 4 bytes of fifth bits, 16 bytes of nibbles] -> the Q8 planes with q - 16, the
// same values exactly.
void widen_q5_0(const uint8_t* src, int64_t blocks, uint8_t* dst) {
    auto* q = reinterpret_cast<int8_t*>(dst);
    auto* d = reinterpret_cast<uint16_t*>(dst + blocks * 32);
    for (int64_t b = 0; b < blocks; ++b) {
        const uint8_t* blk = src + b * 22;
        std::memcpy(&d[b], blk, 2);
        uint32_t qh;
        std::memcpy(&qh, blk + 2, 4);
        const uint8_t* qs = blk + 6;
        for (int j = 0; j < 16; ++j) {
            const int lo = (qs[j] & 0xF) | (((qh >> j) & 1) << 4);
            const int hi = (qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
            q[b * 32 + j] = static_cast<int8_t>(lo - 16);
            q[b * 32 + j + 16] = static_cast<int8_t>(hi - 16);
        }
    }
}

// Q4_0 [18-byte blocks: fp16 d, 16 bytes of nibbles] -> nibble plane + fp16 scale plane.
void repack_q4_0(const uint8_t* src, int64_t blocks, uint8_t* dst) {
    auto* d = reinterpret_cast<uint16_t*>(dst + blocks * 16);
    for (int64_t b = 0; b < blocks; ++b) {
        const uint8_t* blk = src + b * 18;
        std::memcpy(&d[b], blk, 2);
        std::memcpy(dst + b * 16, blk + 2, 16);
    }
}

// Q6_K [210-byte blocks: ql 128, qh 64, int8 scales 16, fp16 d] -> four planes.
void repack_q6_k(const uint8_t* src, int64_t blocks, uint8_t* dst) {
    for (int64_t b = 0; b < blocks; ++b) {
        const uint8_t* blk = src + b * 210;
        std::memcpy(dst + b * 128, blk, 128);
        std::memcpy(dst + blocks * 128 + b * 64, blk + 128, 64);
        std::memcpy(dst + blocks * 192 + b * 16, blk + 192, 16);
        std::memcpy(dst + blocks * 208 + b * 2, blk + 208, 2);
    }
}

class CudaBackend final : public Backend {
public:
    explicit CudaBackend(const CudaBackendOptions& options) : options_(options) {
        CUDA_CHECK(cudaSetDevice(options.device));
        CUDA_CHECK(cudaGetDeviceProperties(&props_, options.device));
        CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
        gemm_ = std::make_unique<cuda::Gemm>();
    }

    ~CudaBackend() override {
        cudaStreamSynchronize(stream_);
        clear_graphs();
        for (void* p : weights_) cudaFree(p);
        for (Scratch& s : scratch_) cudaFree(s.data);
        for (auto& [weight, copy] : bf16_cache_) cudaFree(copy);
        gemm_.reset();
        cudaStreamDestroy(stream_);
    }

    std::string name() const override { return fmt::format("cuda:{} ({})", options_.device, props_.name); }

    std::unique_ptr<DeviceBuffer> allocate(size_t bytes) override { return std::make_unique<CudaBuffer>(bytes); }

    Result<Tensor> place_weight(const std::string& name, DType dtype, std::initializer_list<int64_t> shape,
                                const void* host_data) override {
        if (!has_quant_traits(dtype)) {
            return Status::errorf("tensor '{}' has type {}, which the CUDA backend cannot compute with", name,
                                  dtype_name(dtype));
        }
        Tensor t(nullptr, dtype, shape);
        const auto* src = static_cast<const uint8_t*>(host_data);
        const int64_t elements = t.num_elements();
        std::vector<uint8_t> packed;
        const uint8_t* upload = src;
        switch (dtype) {
            case DType::kF32:
            case DType::kF16:
            case DType::kBF16:
            case DType::kQ4_K:
            case DType::kQ5_K:
                break;
            case DType::kQ8_0:
                packed.resize(static_cast<size_t>(t.size_bytes()));
                repack_q8_0(src, elements / 32, packed.data());
                break;
            case DType::kQ5_0:
                t.dtype = DType::kQ8_0;
                packed.resize(static_cast<size_t>(t.size_bytes()));
                widen_q5_0(src, elements / 32, packed.data());
                break;
            case DType::kQ4_0:
                packed.resize(static_cast<size_t>(t.size_bytes()));
                repack_q4_0(src, elements / 32, packed.data());
                break;
            case DType::kQ6_K:
                packed.resize(static_cast<size_t>(t.size_bytes()));
                repack_q6_k(src, elements / 256, packed.data());
                break;
            default: {
                // Formats without a GPU kernel (Q4_1, Q5_1, Q8_K...) are expanded to F32 exactly.
                const QuantTraits& qt = quant_traits(dtype);
                t.dtype = DType::kF32;
                packed.resize(static_cast<size_t>(t.size_bytes()));
                const int64_t src_row_bytes = dtype_row_bytes(dtype, t.cols());
                for (int64_t r = 0; r < t.rows(); ++r) {
                    qt.dequantize_row(src + r * src_row_bytes, reinterpret_cast<float*>(packed.data()) + r * t.cols(),
                                      t.cols());
                }
                break;
            }
        }
        if (!packed.empty()) upload = packed.data();
        if (cuda::matvec_uses_quantized_activations(format_of(t.dtype))) int8_products_ = true;
        const auto bytes = static_cast<size_t>(t.size_bytes());
        void* device = nullptr;
        if (cudaMalloc(&device, std::max<size_t>(bytes, 256)) != cudaSuccess) {
            cudaGetLastError();
            return Status::errorf("out of GPU memory placing tensor '{}' ({} bytes)", name, bytes);
        }
        weights_.push_back(device);
        placed_.insert(device);
        CUDA_CHECK(cudaMemcpy(device, upload, bytes, cudaMemcpyHostToDevice));
        t.data = device;
        return t;
    }

    void copy_to_device(const Tensor& dst, const void* src, size_t bytes) override {
        forget_activation_copies();
        // Staged through pinned memory so the copy queues behind earlier work instead of waiting for it; the
        // staging area is recycled after the next synchronization (copy_to_host).
        if (staging_used_ + bytes > upload_staging_.size()) {
            CUDA_CHECK(cudaStreamSynchronize(stream_));
            staging_used_ = 0;
            upload_staging_.ensure(std::max<size_t>(bytes, 1 << 20));
        }
        uint8_t* stage = upload_staging_.ensure(1) + staging_used_;
        std::memcpy(stage, src, bytes);
        CUDA_CHECK(cudaMemcpyAsync(dst.data, stage, bytes, cudaMemcpyHostToDevice, stream_));
        staging_used_ += (bytes + 255) / 256 * 256;
    }

    void copy_to_host(void* dst, const Tensor& src, size_t bytes) override {
        uint8_t* stage = download_staging_.ensure(bytes);
        CUDA_CHECK(cudaMemcpyAsync(stage, src.data, bytes, cudaMemcpyDeviceToHost, stream_));
        CUDA_CHECK(cudaStreamSynchronize(stream_));
        staging_used_ = 0;
        std::memcpy(dst, stage, bytes);
    }

    void fill_zero(const Tensor& t) override {
        forget_activation_copies();
        CUDA_CHECK(cudaMemsetAsync(t.data, 0, static_cast<size_t>(t.size_bytes()), stream_));
    }

    void get_rows(const Tensor& table, const Tensor& ids, const Tensor& out) override {
        forget_activation_copies();
        cuda::launch_get_rows(view_of(table), ids.as<int32_t>(), ids.num_elements(), out.as<float>(), stream_);
    }

    void rms_norm(const Tensor& x, const Tensor& weight, float eps, const Tensor& out) override {
        forget_activation_copies();
        const int64_t n = x.rows(), d = x.cols();
        // A short batch's normalized rows feed the next matrix-vector products: quantize them in the same pass
        // (unless no placed weight takes int8 activations; then the same kernel without the quantization).
        if (short_batch(n) && cuda::rms_norm_quantize_supported(d)) {
            if (!int8_products_) {
                cuda::launch_rms_norm_quantize(x.as<float>(), weight.as<float>(), eps, n, d, out.as<float>(), nullptr,
                                               nullptr, nullptr, stream_);
                return;
            }
            auto* q = static_cast<int8_t*>(scratch(kScratchActQ, static_cast<size_t>(n * d)));
            auto* qd = static_cast<float*>(scratch(kScratchActD, static_cast<size_t>(n * d / 32) * 4));
            auto* qs = static_cast<float*>(scratch(kScratchActSum, static_cast<size_t>(n * d / 32) * 4));
            cuda::launch_rms_norm_quantize(x.as<float>(), weight.as<float>(), eps, n, d, out.as<float>(), q, qd, qs,
                                           stream_);
            quantized_x_ = out.data;
            quantized_n_ = n;
            quantized_k_ = d;
            return;
        }
        cuda::launch_rms_norm(x.as<float>(), weight.as<float>(), eps, n, d, out.as<float>(), stream_,
                              bf16_copy_target(out.data, n, d));
    }

    void matmul(const Tensor& w, const Tensor& x, const Tensor& y) override {
        cuda::MatvecJob job;
        job.w[0] = view_of(w);
        job.y[0] = y.as<float>();
        if (use_matvec(&w, 1, x)) return run_matvec(job, x);
        gemm(w, x, y);
    }

    void matmul_shared_input(const Tensor* ws, const Tensor* ys, int count, const Tensor& x) override {
        if (count > 3 || !use_matvec(ws, count, x)) return Backend::matmul_shared_input(ws, ys, count, x);
        cuda::MatvecJob job;
        job.count = count;
        for (int i = 0; i < count; ++i) {
            job.w[i] = view_of(ws[i]);
            job.y[i] = ys[i].as<float>();
        }
        run_matvec(job, x);
    }

    void matmul_glu(const Tensor& w_gate, const Tensor& w_up, const Tensor& x, GluKind kind, const Tensor& gate,
                    const Tensor& up, const Tensor& out) override {
        const Tensor ws[2] = {w_gate, w_up};
        if (w_gate.rows() != w_up.rows() || !use_matvec(ws, 2, x)) {
            return Backend::matmul_glu(w_gate, w_up, x, kind, gate, up, out);
        }
        cuda::MatvecJob job;
        job.count = 2;
        job.glu = true;
        job.glu_kind = kind;
        job.w[0] = view_of(w_gate);
        job.w[1] = view_of(w_up);
        job.y[0] = out.as<float>();
        run_matvec(job, x);
    }

    void matmul_add(const Tensor& w, const Tensor& x, const Tensor& scratch, const Tensor& residual) override {
        // The GEMM adds onto the residual in its epilogue; scratch is not needed.
        if (!use_matvec(&w, 1, x)) return gemm(w, x, residual, /*accumulate=*/true);
        cuda::MatvecJob job;
        job.w[0] = view_of(w);
        job.y[0] = residual.as<float>();
        job.accumulate = true;
        run_matvec(job, x);
    }

    void add(const Tensor& a, const Tensor& b, const Tensor& out) override {
        forget_activation_copies();
        cuda::launch_add(a.as<float>(), b.as<float>(), a.num_elements(), b.num_elements(), out.as<float>(), stream_);
    }

    void scale(const Tensor& x, float s) override {
        forget_activation_copies();
        cuda::launch_scale(x.as<float>(), x.num_elements(), s, stream_);
    }

    void rope(const Tensor& x, const Tensor& positions, const RopeParams& params) override {
        forget_activation_copies();
        const float* factors = params.freq_factors != nullptr ? params.freq_factors->as<float>() : nullptr;
        cuda::launch_rope(x.as<float>(), x.shape[2] * x.shape[3], x.shape[1], x.shape[0], positions.as<int32_t>(),
                          params, factors, stream_);
    }

    void glu(const Tensor& gate, const Tensor& up, GluKind kind, const Tensor& out) override {
        forget_activation_copies();
        const int64_t n = out.rows(), d = out.cols();
        __nv_bfloat16* xb = n * d == gate.num_elements() ? bf16_copy_target(out.data, n, d) : nullptr;
        cuda::launch_glu(gate.as<float>(), up.as<float>(), gate.num_elements(), kind, out.as<float>(), stream_, xb);
    }

    void store_kv(const Tensor& k, const Tensor& v, const Tensor& slot_mapping, const Tensor& k_cache,
                  const Tensor& v_cache) override {
        forget_activation_copies();
        CHECK(k_cache.dtype == DType::kF16 || k_cache.dtype == DType::kF32) << dtype_name(k_cache.dtype);
        CHECK(v_cache.dtype == k_cache.dtype);
        const int64_t n = slot_mapping.num_elements();
        if (n == 0) return;
        cuda::launch_store_kv(k.as<float>(), v.as<float>(), slot_mapping.as<int32_t>(), n, k.num_elements() / n,
                              v.num_elements() / n, k_cache.dtype == DType::kF16, k_cache.data, v_cache.data,
                              stream_);
    }

    void rope_store_kv(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& positions,
                       const RopeParams& params, const Tensor& slot_mapping, const Tensor& k_cache,
                       const Tensor& v_cache) override {
        const int64_t head_dim = q.shape[0];
        if (k.shape[0] != head_dim || v.shape[0] != head_dim || v.shape[1] != k.shape[1] || head_dim % 2 != 0 ||
            params.n_rot % 2 != 0 || k_cache.dtype != v_cache.dtype) {
            return Backend::rope_store_kv(q, k, v, positions, params, slot_mapping, k_cache, v_cache);
        }
        forget_activation_copies();
        CHECK(k_cache.dtype == DType::kF16 || k_cache.dtype == DType::kF32) << dtype_name(k_cache.dtype);
        const float* factors = params.freq_factors != nullptr ? params.freq_factors->as<float>() : nullptr;
        cuda::launch_rope_store_kv(q.as<float>(), k.as<float>(), v.as<float>(), q.shape[2] * q.shape[3], q.shape[1],
                                   k.shape[1], head_dim, positions.as<int32_t>(), params, factors,
                                   slot_mapping.as<int32_t>(), k_cache.dtype == DType::kF16, k_cache.data,
                                   v_cache.data, stream_);
    }

    void matmul_qkv_rope_store_kv(const Tensor* ws, const Tensor& x, const Tensor& q, const Tensor& k,
                                  const Tensor& v, const Tensor& positions, const RopeParams& params,
                                  const Tensor& slot_mapping, const Tensor& k_cache, const Tensor& v_cache) override {
        // One token, with products whose kernel pairs adjacent rows: rotate and store in their epilogue.
        const int64_t head_dim = q.shape[0];
        const bool fused = x.rows() == 1 && use_matvec(ws, 3, x) &&
                           cuda::matvec_rope_epilogue_supported(view_of(ws[0]).format, x.cols()) &&
                           params.mode == RopeMode::kNormal && params.n_rot % 2 == 0 && head_dim % 2 == 0 &&
                           k.shape[0] == head_dim && v.shape[0] == head_dim && v.shape[1] == k.shape[1] &&
                           k_cache.dtype == v_cache.dtype &&
                           (k_cache.dtype == DType::kF16 || k_cache.dtype == DType::kF32);
        if (!fused) {
            return Backend::matmul_qkv_rope_store_kv(ws, x, q, k, v, positions, params, slot_mapping, k_cache,
                                                     v_cache);
        }
        cuda::MatvecJob job;
        job.count = 3;
        const Tensor* ys[3] = {&q, &k, &v};
        for (int i = 0; i < 3; ++i) {
            job.w[i] = view_of(ws[i]);
            job.y[i] = ys[i]->as<float>();
        }
        cuda::RopeEpilogue rope{};
        rope.positions = positions.as<int32_t>();
        rope.slots = slot_mapping.as<int32_t>();
        rope.factors = params.freq_factors != nullptr ? params.freq_factors->as<float>() : nullptr;
        rope.head_dim = static_cast<int>(head_dim);
        rope.n_rot = params.n_rot;
        rope.freq_base = params.freq_base;
        rope.freq_scale = params.freq_scale;
        rope.cache_f16 = k_cache.dtype == DType::kF16;
        rope.k_cache = k_cache.data;
        rope.v_cache = v_cache.data;
        run_matvec(job, x, &rope);
    }

    void attention(const Tensor& q, const Tensor& k_cache, const Tensor& v_cache, const AttentionBatch& batch,
                   const AttentionParams& params, const Tensor& out) override {
        forget_activation_copies();
        cuda::AttentionLaunch a{};
        a.q = q.as<float>();
        a.k_cache = k_cache.data;
        a.v_cache = v_cache.data;
        a.cache_f16 = k_cache.dtype == DType::kF16;
        a.positions = batch.positions.as<int32_t>();
        a.token_seq = batch.token_seq.as<int32_t>();
        a.block_tables = batch.block_tables.as<int32_t>();
        a.head_dim = q.shape[0];
        a.heads = q.shape[1];
        a.n = q.shape[2] * q.shape[3];
        a.kv_heads = k_cache.shape[1];
        a.max_blocks = batch.block_tables.shape[0];
        a.block_size = batch.block_size;
        a.scale = params.scale;
        a.softcap = params.softcap;
        a.sliding_window = params.sliding_window;
        a.out = out.as<float>();
        if (batch.seq_starts.data != nullptr && batch.max_seq_tokens > 0) {
            a.seq_starts = batch.seq_starts.as<int32_t>();
            a.num_seqs = batch.seq_starts.num_elements() - 1;
            a.max_seq_tokens = batch.max_seq_tokens;
            // max_seq_tokens is part of Model's graph key, so a replayed graph keeps this valid.
            a.early_keys = batch.max_seq_tokens == 1;
        }
        if (a.n > cuda::kMaxMatvecTokens && cuda::flash_attention_supported(a.head_dim, a.cache_f16)) {
            cuda::launch_flash_attention(a, stream_, bf16_copy_target(out.data, a.n, a.heads * a.head_dim));
            return;
        }
        int64_t max_keys = a.max_blocks * a.block_size;
        if (a.sliding_window > 0) max_keys = std::min<int64_t>(max_keys, a.sliding_window);
        a.splits = cuda::attention_splits(a.n, a.heads, a.kv_heads, max_keys, props_.multiProcessorCount);
        a.min_split_keys = cuda::kAttentionMinSplitKeys;
        if (a.splits > 1) {
            const int64_t slots = a.n * a.heads * a.splits;
            a.partial_acc = static_cast<float*>(scratch(kScratchAttnAcc, static_cast<size_t>(slots * a.head_dim) * 4));
            a.partial_ml = static_cast<float*>(scratch(kScratchAttnMl, static_cast<size_t>(slots) * 8));
        }
        // The output projection's input, quantized in the split merge (when there is one) for the matrix-vector
        // product that reads it next.
        cuda::QuantizedOut qo;
        const int64_t K = a.heads * a.head_dim;
        if (int8_products_ && a.n <= std::min<int64_t>(options_.max_matvec_tokens, cuda::kMaxMatvecTokens)) {
            qo.q = static_cast<int8_t*>(scratch(kScratchActQ, static_cast<size_t>(a.n * K)));
            qo.d = static_cast<float*>(scratch(kScratchActD, static_cast<size_t>(a.n * K / 32) * 4));
            qo.sum = static_cast<float*>(scratch(kScratchActSum, static_cast<size_t>(a.n * K / 32) * 4));
        }
        if (cuda::launch_attention(a, stream_, qo)) {
            quantized_x_ = out.data;
            quantized_n_ = a.n;
            quantized_k_ = K;
        }
    }

    // ---- mixture of experts and multi-head latent attention ----
    bool supports_moe() const override { return true; }
    bool supports_mla() const override { return true; }

    void moe_route(const Tensor& logits, const MoeRouting& routing, const Tensor& expert_ids,
                   const Tensor& expert_weights) override {
        // Writes only the small id and weight buffers: the normalized input's quantized copy, which moe_ffn reads
        // next, stays unless they overlap it.
        forget_copies_if_overlap(expert_ids.data, static_cast<int64_t>(expert_ids.size_bytes()));
        forget_copies_if_overlap(expert_weights.data, static_cast<int64_t>(expert_weights.size_bytes()));
        const int64_t n = logits.rows(), num_experts = logits.cols();
        CHECK_EQ(expert_ids.num_elements(), n * routing.top_k);
        CHECK_EQ(expert_weights.num_elements(), n * routing.top_k);
        const float* bias = nullptr;
        if (routing.selection_bias != nullptr) {
            CHECK_EQ(routing.selection_bias->num_elements(), num_experts);
            bias = routing.selection_bias->as<float>();
        }
        cuda::MoeRouteArgs args;
        args.top_k = routing.top_k;
        args.softmax = routing.gating == MoeGating::kSoftmax;
        args.normalize = routing.normalize;
        args.scale = routing.scale;
        args.num_groups = routing.num_groups;
        args.groups_used = routing.groups_used;
        args.top2_group_score = routing.group_score == MoeGroupScore::kTop2Sum;
        cuda::launch_moe_route(logits.as<float>(), n, num_experts, args, bias, expert_ids.as<int32_t>(),
                               expert_weights.as<float>(), stream_);
    }

    // Decode (steps the matrix-vector kernels take): one item per (token, expert) pair, reading its expert id from
    // device memory (moe.cu), then the down products summed per token. Longer steps: moe_ffn_grouped. Neither waits
    // for the host, so any step can be recorded into a graph.
    void moe_ffn(const Tensor& gate_exps, const Tensor& up_exps, const Tensor& down_exps, const Tensor& x,
                 const Tensor& expert_ids, const Tensor& expert_weights, GluKind kind, const Tensor& out) override {
        const int64_t n = x.rows(), dim = x.cols();
        const int64_t ffn = gate_exps.shape[1], num_experts = gate_exps.shape[2];
        CHECK_EQ(gate_exps.shape[0], dim);
        CHECK(up_exps.shape == gate_exps.shape);
        CHECK_EQ(down_exps.shape[0], ffn);
        CHECK_EQ(down_exps.shape[1], dim);
        CHECK_EQ(down_exps.shape[2], num_experts);
        CHECK_EQ(out.num_elements(), n * dim);
        if (n == 0) return;
        const int64_t top_k = expert_ids.num_elements() / n;
        CHECK_EQ(expert_ids.num_elements(), n * top_k);
        CHECK_EQ(expert_weights.num_elements(), n * top_k);
        const int64_t pairs = n * top_k;
        if (n > std::min<int64_t>(options_.max_matvec_tokens, cuda::kMaxMatvecTokens) &&
            gate_exps.dtype == up_exps.dtype) {
            return moe_ffn_grouped(gate_exps, up_exps, down_exps, x, expert_ids, expert_weights, kind, out);
        }
        auto* h = static_cast<float*>(scratch(kScratchMoeH, static_cast<size_t>(pairs * ffn) * 4));
        cuda::ItemMatvec job;
        job.rows = ffn;
        job.items = pairs;
        job.ids = expert_ids.as<int32_t>();
        job.num_groups = num_experts;
        job.act_div = top_k;
        const cuda::QuantizedActivations xq = quantized(x.data, n, dim, view_of(gate_exps).format);
        if (gate_exps.dtype == up_exps.dtype) {
            job.w = view_of(gate_exps);
            job.w_up = view_of(up_exps);
            job.glu = true;
            job.glu_kind = kind;
            job.y = h;
            cuda::launch_item_matvec(job, x.as<float>(), xq, stream_);
        } else {
            auto* u = static_cast<float*>(scratch(kScratchMoeUp, static_cast<size_t>(pairs * ffn) * 4));
            job.w = view_of(gate_exps);
            job.y = h;
            cuda::launch_item_matvec(job, x.as<float>(), xq, stream_);
            job.w = view_of(up_exps);
            job.y = u;
            cuda::launch_item_matvec(job, x.as<float>(),
                                     quantized(x.data, n, dim, view_of(up_exps).format), stream_);
            cuda::launch_glu(h, u, pairs * ffn, kind, h, stream_);
        }
        cuda::ItemMatvec down;
        down.w = view_of(down_exps);
        down.rows = dim;
        down.items = n;
        down.slots = static_cast<int>(top_k);
        down.ids = expert_ids.as<int32_t>();
        down.num_groups = num_experts;
        down.slot_weights = expert_weights.as<float>();
        down.y = out.as<float>();
        cuda::launch_item_matvec(down, h, quantize_moe(h, pairs, ffn, down.w.format), stream_);
        forget_copies_unless(x.data);
    }

    // Prefill: the step's (token, expert) pairs sorted by expert on the device, the tokens' rows gathered in that
    // order, and each expert's pairs taken up to 8 at a time per weight read (moe.cu); then the weighted sum.
    void moe_ffn_grouped(const Tensor& gate_exps, const Tensor& up_exps, const Tensor& down_exps, const Tensor& x,
                         const Tensor& expert_ids, const Tensor& expert_weights, GluKind kind, const Tensor& out) {
        const int64_t n = x.rows(), dim = x.cols();
        const int64_t ffn = gate_exps.shape[1], num_experts = gate_exps.shape[2];
        const int64_t top_k = expert_ids.num_elements() / n, pairs = n * top_k;
        const int64_t max_chunks = cuda::moe_max_chunks(pairs, num_experts);
        auto* index = static_cast<int32_t*>(scratch(kScratchMoeIndex, static_cast<size_t>(pairs + 3 * max_chunks + 1) * 4));
        int32_t* inv = index;
        int32_t* chunks = index + pairs;
        int32_t* num_chunks = chunks + 3 * max_chunks;
        cuda::launch_moe_sort(expert_ids.as<int32_t>(), pairs, num_experts, inv, chunks, num_chunks, stream_);
        auto* xs = static_cast<float*>(scratch(kScratchMoeUp, static_cast<size_t>(pairs * dim) * 4));
        cuda::launch_gather_rows(x.as<float>(), inv, pairs, top_k, dim, xs, stream_);
        auto* h = static_cast<float*>(scratch(kScratchMoeH, static_cast<size_t>(pairs * ffn) * 4));
        cuda::GroupedMatvec job;
        job.w = view_of(gate_exps);
        job.w_up = view_of(up_exps);
        job.glu = true;
        job.glu_kind = kind;
        job.rows = ffn;
        job.chunks = chunks;
        job.num_chunks = num_chunks;
        job.max_chunks = max_chunks;
        job.y = h;
        cuda::launch_grouped_matvec(job, xs, quantize_moe(xs, pairs, dim, job.w.format), stream_);
        auto* d = static_cast<float*>(scratch(kScratchMoeDown, static_cast<size_t>(pairs * dim) * 4));
        cuda::GroupedMatvec down = job;
        down.w = view_of(down_exps);
        down.w_up = down.w;
        down.glu = false;
        down.rows = dim;
        down.y = d;
        cuda::launch_grouped_matvec(down, h, quantize_moe(h, pairs, ffn, down.w.format), stream_);
        cuda::launch_moe_combine(d, inv, expert_weights.as<float>(), n, top_k, dim, out.as<float>(), stream_);
        forget_copies_unless(x.data);
    }

    // The int8 copy of MoE-internal activations [rows][K] (in the kScratchMoe* buffers, apart from the cached one).
    cuda::QuantizedActivations quantize_moe(const float* a, int64_t rows, int64_t K, WeightFormat format) {
        if (!cuda::matvec_uses_quantized_activations(format)) return {nullptr, nullptr, nullptr, K};
        auto* q = static_cast<int8_t*>(scratch(kScratchMoeQ, static_cast<size_t>(rows * K)));
        auto* d = static_cast<float*>(scratch(kScratchMoeD, static_cast<size_t>(rows * K / 32) * 4));
        auto* sum = static_cast<float*>(scratch(kScratchMoeSum, static_cast<size_t>(rows * K / 32) * 4));
        cuda::launch_quantize_activations(a, rows, K, q, d, sum, stream_);
        return {q, d, sum, K};
    }

    void sigmoid_scale_rows(const Tensor& x, const Tensor& gate) override {
        forget_activation_copies();
        CHECK_EQ(gate.num_elements(), x.rows());
        cuda::launch_sigmoid_scale_rows(x.as<float>(), gate.as<float>(), x.rows(), x.cols(), stream_);
    }

    void copy_cols(const Tensor& src, int64_t offset, const Tensor& dst) override {
        forget_activation_copies();
        const int64_t rows = dst.rows();
        if (rows == 0) return;
        cuda::launch_copy_cols(src.as<float>(), src.num_elements() / rows, offset, rows, dst.cols(), dst.as<float>(),
                               stream_);
    }

    void matmul_heads(const Tensor& w, const Tensor& x, const Tensor& y) override {
        const int64_t in = w.shape[0], out_dim = w.shape[1], heads = w.shape[2];
        const int64_t n = x.num_elements() / (heads * in);
        CHECK_EQ(x.num_elements(), n * heads * in);
        CHECK_EQ(y.num_elements(), n * heads * out_dim);
        if (n == 0) return;
        cuda::ItemMatvec job;
        job.w = view_of(w);
        job.rows = out_dim;
        job.items = n * heads;
        job.num_groups = heads;
        job.y = y.as<float>();
        cuda::launch_item_matvec(job, x.as<float>(), quantized(x.data, n * heads, in, job.w.format), stream_);
        forget_copies_unless(x.data);
    }

    void mla_attention(const Tensor& q_latent, const Tensor& q_rope, const Tensor& latent_cache,
                       const Tensor& rope_cache, const AttentionBatch& batch, const AttentionParams& params,
                       const Tensor& out) override {
        forget_activation_copies();
        CHECK(latent_cache.dtype == DType::kF16 || latent_cache.dtype == DType::kF32) << dtype_name(latent_cache.dtype);
        CHECK(rope_cache.dtype == latent_cache.dtype) << "latent and rotary caches differ in dtype";
        cuda::MlaLaunch a{};
        a.q_latent = q_latent.as<float>();
        a.q_rope = q_rope.as<float>();
        a.latent_cache = latent_cache.data;
        a.rope_cache = rope_cache.data;
        a.cache_f16 = latent_cache.dtype == DType::kF16;
        a.positions = batch.positions.as<int32_t>();
        a.token_seq = batch.token_seq.as<int32_t>();
        a.block_tables = batch.block_tables.as<int32_t>();
        a.latent_dim = q_latent.shape[0];
        a.heads = q_latent.shape[1];
        a.rope_dim = q_rope.shape[0];
        a.n = batch.positions.num_elements();
        CHECK_EQ(latent_cache.shape[0], a.latent_dim);
        CHECK_EQ(rope_cache.shape[0], a.rope_dim);
        CHECK_EQ(q_rope.num_elements(), a.n * a.heads * a.rope_dim);
        CHECK_EQ(out.num_elements(), a.n * a.heads * a.latent_dim);
        a.max_blocks = batch.block_tables.shape[0];
        a.block_size = batch.block_size;
        a.scale = params.scale;
        a.softcap = params.softcap;
        a.sliding_window = params.sliding_window;
        a.out = out.as<float>();
        int64_t max_keys = a.max_blocks * a.block_size;
        if (a.sliding_window > 0) max_keys = std::min<int64_t>(max_keys, a.sliding_window);
        a.splits = cuda::mla_attention_splits(a.n, a.heads, max_keys, props_.multiProcessorCount);
        if (a.splits > 1) {
            const int64_t parts = a.n * a.heads * a.splits;
            a.partial_acc = static_cast<float*>(scratch(kScratchAttnAcc, static_cast<size_t>(parts * a.latent_dim) * 4));
            a.partial_ml = static_cast<float*>(scratch(kScratchAttnMl, static_cast<size_t>(parts) * 8));
        }
        cuda::launch_mla_attention(a, stream_);
    }

    bool can_sample(const SamplingRow& row) const override {
        return row.temperature <= 0 || (row.top_k >= 1 && row.top_k <= cuda::kMaxTopK);
    }

    void sample(const Tensor& logits, const SamplingRow* rows, int64_t n, float softcap, const Tensor& ids) override {
        CHECK(logits.dtype == DType::kF32 && ids.dtype == DType::kI32 && logits.rows() == n && ids.num_elements() == n);
        for (int64_t r = 0; r < n; ++r) CHECK(can_sample(rows[r]));
        if (n == 0) return;
        // Greedy rows need neither their parameters on the device nor one block per row (softcap is monotonic: the
        // maximum stays where it is).
        if (std::all_of(rows, rows + n, [](const SamplingRow& r) { return r.temperature <= 0; })) {
            const int64_t vocab = logits.shape[0];
            void* partial = scratch(kScratchSampling, static_cast<size_t>(cuda::argmax_scratch_bytes(n, vocab)));
            forget_activation_copies();
            cuda::launch_argmax(logits.as<float>(), n, vocab, partial, ids.as<int32_t>(), stream_);
            return;
        }
        const size_t bytes = static_cast<size_t>(n) * sizeof(SamplingRow);
        void* device_rows = scratch(kScratchSampling, bytes);
        copy_to_device(Tensor(device_rows, DType::kI8, {static_cast<int64_t>(bytes)}), rows, bytes);
        cuda::launch_sample(logits.as<float>(), n, logits.shape[0], static_cast<const SamplingRow*>(device_rows), softcap,
                            ids.as<int32_t>(), stream_);
    }

    double measure_copy_bandwidth_gb_s() override {
        // 2 GiB each way: far larger than the 50-60 MB L2, so every byte crosses HBM.
        constexpr size_t kBytes = size_t{2} << 30;
        void *a = nullptr, *b = nullptr;
        if (cudaMalloc(&a, kBytes) != cudaSuccess || cudaMalloc(&b, kBytes) != cudaSuccess) {
            cudaGetLastError();
            cudaFree(a);
            return 0;
        }
        CUDA_CHECK(cudaMemsetAsync(a, 1, kBytes, stream_));
        cudaEvent_t start, stop;
        CUDA_CHECK(cudaEventCreate(&start));
        CUDA_CHECK(cudaEventCreate(&stop));
        float best_ms = 0;
        for (int pass = 0; pass < 6; ++pass) {
            CUDA_CHECK(cudaEventRecord(start, stream_));
            CUDA_CHECK(cudaMemcpyAsync(b, a, kBytes, cudaMemcpyDeviceToDevice, stream_));
            CUDA_CHECK(cudaEventRecord(stop, stream_));
            CUDA_CHECK(cudaEventSynchronize(stop));
            float ms = 0;
            CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
            if (pass > 0 && (best_ms == 0 || ms < best_ms)) best_ms = ms;
        }
        cudaEventDestroy(start);
        cudaEventDestroy(stop);
        cudaFree(a);
        cudaFree(b);
        return 2.0 * static_cast<double>(kBytes) / (best_ms * 1e-3) / 1e9;
    }

    void run_graph(uint64_t key, const std::function<void()>& issue) override {
        forget_activation_copies();  // a recording must not rely on work issued before it
        auto it = graphs_.find(key);
        if (it == graphs_.end()) {
            // Relaxed capture: a scratch buffer may still be allocated (never freed) during the first capture.
            CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeRelaxed));
            issue();
            cudaGraph_t graph = nullptr;
            CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
            cudaGraphExec_t exec = nullptr;
            CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
            CUDA_CHECK(cudaGraphDestroy(graph));
            it = graphs_.emplace(key, exec).first;
        }
        CUDA_CHECK(cudaGraphLaunch(it->second, stream_));
        forget_activation_copies();
    }

    void clear_graphs() override {
        for (auto& [key, exec] : graphs_) cudaGraphExecDestroy(exec);
        graphs_.clear();
        for (void* p : retired_) cudaFree(p);
        retired_.clear();
    }

private:
    // Whether n tokens take the matrix-vector kernels (else the GEMMs).
    bool short_batch(int64_t n) const {
        return n <= std::min<int64_t>(options_.max_matvec_tokens, cuda::kMaxMatvecTokens);
    }

    // Whether a product of these weights (one format and width) with x runs as a matrix-vector kernel.
    bool use_matvec(const Tensor* ws, int count, const Tensor& x) const {
        if (!short_batch(x.rows())) return false;
        for (int i = 0; i < count; ++i) {
            if (ws[i].dtype != ws[0].dtype || ws[i].cols() != ws[0].cols()) return false;
        }
        return true;
    }

    // The int8 copy of activations x [n][K] that products with weights of `format` read (an empty one for float
    // weights). Consecutive products of one input quantize it once: every op that writes device memory, other than
    // a matrix-vector product into a separate output, forgets the quantized copy.
    cuda::QuantizedActivations quantized(const void* x, int64_t n, int64_t K, WeightFormat format) {
        if (!cuda::matvec_uses_quantized_activations(format)) return {nullptr, nullptr, nullptr, K};
        auto* q = static_cast<int8_t*>(scratch(kScratchActQ, static_cast<size_t>(n * K)));
        auto* d = static_cast<float*>(scratch(kScratchActD, static_cast<size_t>(n * K / 32) * 4));
        auto* s = static_cast<float*>(scratch(kScratchActSum, static_cast<size_t>(n * K / 32) * 4));
        if (quantized_x_ != x || quantized_n_ != n || quantized_k_ != K) {
            cuda::launch_quantize_activations(static_cast<const float*>(x), n, K, q, d, s, stream_);
            quantized_x_ = x;
            quantized_n_ = n;
            quantized_k_ = K;
        }
        return {q, d, s, K};
    }

    // The BF16 copy of activations x [n][K] that the GEMMs read (kScratchXBf16): converted once for consecutive
    // products of one input, or written by the op that produced x (rms_norm, glu). It is forgotten as the int8
    // copy is, so a product never reads a copy of values that have changed since.
    const __nv_bfloat16* bf16_copy(const Tensor& x, int64_t n, int64_t K) {
        if (bf16_x_ == x.data && bf16_n_ == n && bf16_k_ == K) {
            return static_cast<const __nv_bfloat16*>(scratch(kScratchXBf16, static_cast<size_t>(n * K) * 2));
        }
        __nv_bfloat16* xb = bf16_buffer_for(x.data, n, K);
        cuda::launch_f32_to_bf16(x.as<float>(), n * K, xb, stream_);
        return xb;
    }

    // The kScratchXBf16 buffer that will hold the BF16 copy of x [n][K], recorded as that copy: the caller enqueues
    // the work that writes it before any product can read it.
    __nv_bfloat16* bf16_buffer_for(const void* x, int64_t n, int64_t K) {
        bf16_x_ = x;
        bf16_n_ = n;
        bf16_k_ = K;
        return static_cast<__nv_bfloat16*>(scratch(kScratchXBf16, static_cast<size_t>(n * K) * 2));
    }

    // For an op writing out [n][K]: where it should also write out's BF16 copy, or nullptr when n tokens take the
    // matrix-vector kernels (no GEMM will read it). Call after the op has forgotten the old copies.
    __nv_bfloat16* bf16_copy_target(const void* out, int64_t n, int64_t K) {
        return short_batch(n) ? nullptr : bf16_buffer_for(out, n, K);
    }

    // Every op that may write device memory its cached copies were made from forgets them (int8 and BF16).
    void forget_activation_copies() {
        quantized_x_ = nullptr;
        bf16_x_ = nullptr;
    }

    // After an op that wrote only its own output and scratch other than the activation-copy buffers: the copies
    // of its input x stay valid (the output may not alias x); any other may have been overwritten.
    void forget_copies_unless(const void* x) {
        if (quantized_x_ != x) quantized_x_ = nullptr;
        if (bf16_x_ != x) bf16_x_ = nullptr;
    }

    // After an op wrote `bytes` at `written`: a copy whose source overlaps it is stale.
    void forget_copies_if_overlap(const void* written, int64_t bytes) {
        const auto* wb = static_cast<const uint8_t*>(written);
        auto overlaps = [&](const void* src, int64_t n, int64_t k) {
            const auto* cb = static_cast<const uint8_t*>(src);
            return src != nullptr && wb < cb + n * k * 4 && cb < wb + bytes;
        };
        if (overlaps(quantized_x_, quantized_n_, quantized_k_)) quantized_x_ = nullptr;
        if (overlaps(bf16_x_, bf16_n_, bf16_k_)) bf16_x_ = nullptr;
    }

    void run_matvec(const cuda::MatvecJob& job, const Tensor& x, const cuda::RopeEpilogue* rope = nullptr) {
        const int64_t n = x.rows(), K = x.cols();
        CHECK_EQ(job.w[0].cols, K);
        const cuda::QuantizedActivations xq = quantized(x.data, n, K, job.w[0].format);
        cuda::launch_matvec(job, x.as<float>(), xq, n, stream_, rope);
        // An output written over the buffer a cached copy was made from makes the copy stale.
        for (int i = 0; i < (job.glu ? 1 : job.count); ++i) {
            forget_copies_if_overlap(job.y[i], (job.glu ? job.w[0].rows : job.w[i].rows) * n * 4);
        }
    }

    // Prefill: tensor cores through cuBLASLt, BF16 operands (weights dequantized to a BF16 scratch), F32
    // accumulation; F32 weights run in full FP32.
    void gemm(const Tensor& w, const Tensor& x, const Tensor& y, bool accumulate = false) {
        const WeightView wv = view_of(w);
        const int64_t n = x.rows(), K = w.cols(), M = w.rows();
        CHECK_EQ(x.cols(), K);
        quantized_x_ = nullptr;
        if (wv.format == WeightFormat::kF32) {
            gemm_->run(cuda::GemmType::kF32, w.data, x.data, y.as<float>(), M, n, K, stream_, accumulate);
        } else {
            const __nv_bfloat16* xb = bf16_copy(x, n, K);
            const void* wb = w.data;
            if (wv.format != WeightFormat::kBF16) {
                wb = cached_bf16(w.data, wv, M, K);
                if (wb == nullptr) {
                    auto* tmp = static_cast<__nv_bfloat16*>(scratch(kScratchWBf16, static_cast<size_t>(M * K) * 2));
                    cuda::launch_dequantize_bf16(wv, 0, M, tmp, stream_);
                    wb = tmp;
                }
            }
            gemm_->run(cuda::GemmType::kBF16, wb, xb, y.as<float>(), M, n, K, stream_, accumulate);
        }
        forget_copies_if_overlap(y.data, static_cast<int64_t>(y.size_bytes()));
    }

    // The BF16 copy of a quantized matrix (dequantized on first use and kept), or nullptr when caching is off or
    // the device would drop below its headroom. Weights never change once placed, so the copy stays valid.
    const void* cached_bf16(const void* weight, const WeightView& wv, int64_t M, int64_t K) {
        // Only placed weights: they live as long as the backend, so no other matrix can reuse the address.
        if (!options_.cache_bf16_weights || placed_.count(weight) == 0) return nullptr;
        if (const auto it = bf16_cache_.find(weight); it != bf16_cache_.end()) return it->second;
        const size_t bytes = static_cast<size_t>(M * K) * 2;
        size_t free_bytes = 0, total_bytes = 0;
        void* copy = nullptr;
        if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess &&
            free_bytes >= bytes + options_.bf16_cache_headroom_bytes && cudaMalloc(&copy, bytes) == cudaSuccess) {
            cuda::launch_dequantize_bf16(wv, 0, M, static_cast<__nv_bfloat16*>(copy), stream_);
        } else {
            (void)cudaGetLastError();  // a failed allocation is not an error here: the matrix is dequantized per step
            copy = nullptr;
        }
        bf16_cache_.emplace(weight, copy);
        return copy;
    }

    enum ScratchSlot { kScratchActQ, kScratchActD, kScratchActSum, kScratchXBf16, kScratchWBf16, kScratchAttnAcc,
                       kScratchAttnMl, kScratchSampling, kScratchMoeH, kScratchMoeUp, kScratchMoeQ, kScratchMoeD,
                       kScratchMoeSum, kScratchMoeDown, kScratchMoeIndex, kNumScratch };

    // Device scratch that only grows. A replaced buffer is retired, not freed, because a recorded graph may
    // still point at it; retired buffers go with clear_graphs().
    void* scratch(ScratchSlot slot, size_t bytes) {
        Scratch& s = scratch_[slot];
        if (bytes > s.bytes) {
            if (s.data != nullptr) retired_.push_back(s.data);
            s.bytes = std::max(bytes, s.bytes * 2);
            CUDA_CHECK(cudaMalloc(&s.data, s.bytes));
        }
        return s.data;
    }

    struct Scratch {
        void* data = nullptr;
        size_t bytes = 0;
    };

    CudaBackendOptions options_;
    cudaDeviceProp props_{};
    cudaStream_t stream_ = nullptr;
    std::unique_ptr<cuda::Gemm> gemm_;
    std::vector<void*> weights_;
    Scratch scratch_[kNumScratch];
    std::vector<void*> retired_;
    PinnedBuffer upload_staging_, download_staging_;
    size_t staging_used_ = 0;
    // Whether a placed weight is of a format whose matrix-vector kernels read int8 activations. When none is (an
    // all-F32/F16/BF16 model), the norms and the attention merge write no int8 copy; a product that needed one
    // would still make it (quantized()), so this only saves work.
    bool int8_products_ = false;
    // The activations currently held quantized in the kScratchAct* buffers (nullptr: none).
    const void* quantized_x_ = nullptr;
    int64_t quantized_n_ = 0, quantized_k_ = 0;
    // The activations currently held as BF16 in kScratchXBf16 (nullptr: none).
    const void* bf16_x_ = nullptr;
    int64_t bf16_n_ = 0, bf16_k_ = 0;
    std::unordered_map<uint64_t, cudaGraphExec_t> graphs_;
    std::unordered_map<const void*, void*> bf16_cache_;  // weight -> its BF16 copy (nullptr: did not fit)
    std::unordered_set<const void*> placed_;              // the weights_ allocations

};

}  // namespace

bool cuda_device_available(std::string* why) {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
        if (why != nullptr) *why = fmt::format("no usable CUDA driver or device ({})", cudaGetErrorString(err));
        cudaGetLastError();
        return false;
    }
    if (count == 0) {
        if (why != nullptr) *why = "no CUDA device found";
        return false;
    }
    return true;
}

Result<std::unique_ptr<Backend>> create_cuda_backend(const CudaBackendOptions& options) {
    std::string why;
    if (!cuda_device_available(&why)) return Status::errorf("--device cuda: {}", why);
    int count = 0;
    cudaGetDeviceCount(&count);
    if (options.device < 0 || options.device >= count) {
        return Status::errorf("CUDA device {} does not exist ({} device(s) found)", options.device, count);
    }
    return std::unique_ptr<Backend>(std::make_unique<CudaBackend>(options));
}

}  // namespace frugal
