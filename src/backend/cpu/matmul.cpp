#include "backend/cpu/matmul.h"

#include <algorithm>

#include "core/check.h"

namespace frugal {
namespace {

// Prefill keeps a chunk of quantized activation rows resident in L2 (per core) while every weight row of the
// thread's range streams past it once; 1 MiB leaves room for the weight rows and the output.
constexpr int64_t kActivationChunkBytes = 1 << 20;
// From this many tokens on, a variant's packed GEMM (where it has one) beats the tiles.
constexpr int64_t kGemmMinTokens = 8;
// Rows per GEMM work item: a multiple of the 8-row bands the GEMM kernels sweep.
constexpr int64_t kGemmRowGrain = 16;

}  // namespace

CpuMatmul::CpuMatmul(const CpuKernels& k) : kernels_(k) {}

void CpuMatmul::run(ThreadPool& pool, const Tensor& w, const Tensor& x, const Tensor& y) {
    const int64_t in = w.cols(), out = w.rows(), n = x.rows();
    CHECK(x.dtype == DType::kF32) << "matmul activations must be F32";
    CHECK(y.dtype == DType::kF32) << "matmul output must be F32";
    CHECK_EQ(x.cols(), in);
    CHECK_EQ(y.cols(), out);
    CHECK_EQ(y.rows(), n);
    const VecDotTileFn tile = kernels_.vec_dot_tile[static_cast<int>(w.dtype)];
    CHECK(tile != nullptr) << "no matmul kernel for weight type " << dtype_name(w.dtype);
    if (n == 0 || out == 0) return;

    // 1. Activations into the weight's vec_dot_type, once for all rows.
    const DType act_type = quant_traits(w.dtype).vec_dot_type;
    const int64_t act_row_bytes = dtype_row_bytes(act_type, in);
    const uint8_t* act = static_cast<const uint8_t*>(x.data);
    if (act_type != DType::kF32) {
        const QuantizeRowFn quantize = kernels_.quantize_row[static_cast<int>(act_type)];
        CHECK(quantize != nullptr) << "no quantizer for " << dtype_name(act_type);
        scratch_.resize(static_cast<size_t>(act_row_bytes * n));
        uint8_t* dst = scratch_.data();
        const float* src = x.as<float>();
        pool.parallel_for(n, [&](int64_t b, int64_t e) {
            for (int64_t t = b; t < e; ++t) quantize(src + t * in, dst + t * act_row_bytes, in);
        });
        act = scratch_.data();
    }

    const GemmFn gemm = kernels_.gemm[static_cast<int>(w.dtype)];
    if (gemm != nullptr && n >= kGemmMinTokens) {
        run_gemm(pool, w, act, act_row_bytes, n, y);
        return;
    }

    // 2. Each thread owns a contiguous range of output rows (a multiple of the tile height, so every weight byte is
    //    read by exactly one thread) and walks it tile by tile.
    const uint8_t* wd = static_cast<const uint8_t*>(w.data);
    const int64_t w_row_bytes = w.row_bytes();
    float* yd = y.as<float>();
    const int64_t chunk_tokens =
        std::max<int64_t>(kMaxTileTokens, kActivationChunkBytes / act_row_bytes / kMaxTileTokens * kMaxTileTokens);
    pool.parallel_for(
        out,
        [&](int64_t row_begin, int64_t row_end) {
            for (int64_t t0 = 0; t0 < n; t0 += chunk_tokens) {
                const int64_t t1 = std::min(n, t0 + chunk_tokens);
                for (int64_t r = row_begin; r < row_end; r += kMaxTileRows) {
                    const int num_rows = static_cast<int>(std::min<int64_t>(kMaxTileRows, row_end - r));
                    for (int64_t t = t0; t < t1; t += kMaxTileTokens) {
                        const int num_tokens = static_cast<int>(std::min<int64_t>(kMaxTileTokens, t1 - t));
                        tile(in, wd + r * w_row_bytes, w_row_bytes, num_rows, act + t * act_row_bytes, act_row_bytes,
                             num_tokens, yd + t * out + r, out);
                    }
                }
            }
        },
        kMaxTileRows);
}

void CpuMatmul::run_gemm(ThreadPool& pool, const Tensor& w, const uint8_t* act, int64_t act_row_bytes, int64_t n,
                         const Tensor& y) {
    const int64_t in = w.cols(), out = w.rows();
    const GemmPackFn pack = kernels_.gemm_pack[static_cast<int>(w.dtype)];
    const GemmFn gemm = kernels_.gemm[static_cast<int>(w.dtype)];
    CHECK(pack != nullptr) << "GEMM without a packer for " << dtype_name(w.dtype);
    const int64_t block_bytes = pack(in, nullptr, 0, 0, nullptr);
    const int64_t num_blocks = (n + kGemmTokenBlock - 1) / kGemmTokenBlock;
    packed_.resize(static_cast<size_t>(block_bytes * num_blocks));
    uint8_t* packed = packed_.data();
    pool.parallel_for(num_blocks, [&](int64_t b, int64_t e) {
        for (int64_t blk = b; blk < e; ++blk) {
            const int64_t t0 = blk * kGemmTokenBlock;
            const int tokens = static_cast<int>(std::min<int64_t>(kGemmTokenBlock, n - t0));
            pack(in, act + t0 * act_row_bytes, act_row_bytes, tokens, packed + blk * block_bytes);
        }
    });
    const uint8_t* wd = static_cast<const uint8_t*>(w.data);
    const int64_t w_row_bytes = w.row_bytes();
    float* yd = y.as<float>();
    pool.parallel_for(
        out, [&](int64_t b, int64_t e) { gemm(in, wd + b * w_row_bytes, w_row_bytes, e - b, packed, n, yd + b, out); },
        kGemmRowGrain);
}

int64_t CpuMatmul::quantize_groups(DType weight_type, int64_t cols, const std::vector<StackedRows>& groups,
                                   int64_t max_tokens) {
    const DType act_type = quant_traits(weight_type).vec_dot_type;
    const int64_t act_bytes = dtype_row_bytes(act_type, cols);
    expert_act_.resize(static_cast<size_t>(act_bytes * max_tokens * static_cast<int64_t>(groups.size())));
    const QuantizeRowFn quantize =
        act_type == DType::kF32 ? nullptr : kernels_.quantize_row[static_cast<int>(act_type)];
    CHECK(act_type == DType::kF32 || quantize != nullptr) << "no quantizer for " << dtype_name(act_type);
    for (size_t i = 0; i < groups.size(); ++i) {
        uint8_t* dst = expert_act_.data() + static_cast<int64_t>(i) * max_tokens * act_bytes;
        for (int64_t t = 0; t < groups[i].num_tokens; ++t) {
            const float* src = groups[i].x + t * cols;
            if (quantize == nullptr) {
                std::copy_n(reinterpret_cast<const uint8_t*>(src), act_bytes, dst + t * act_bytes);
            } else {
                quantize(src, dst + t * act_bytes, cols);
            }
        }
    }
    return act_bytes;
}

void CpuMatmul::run_experts(ThreadPool& pool, const Tensor& gate_exps, const Tensor& up_exps, const Tensor& down_exps,
                            void (*glu)(const float*, const float*, float*, int64_t),
                            const std::vector<ExpertRows>& experts) {
    const int64_t dim = gate_exps.shape[0];
    const int64_t ffn = gate_exps.shape[1];
    CHECK(gate_exps.dtype == up_exps.dtype) << "gate and up experts differ in dtype";
    const VecDotTileFn tile = kernels_.vec_dot_tile[static_cast<int>(gate_exps.dtype)];
    CHECK(tile != nullptr) << "no matmul kernel for weight type " << dtype_name(gate_exps.dtype);
    const auto num = static_cast<int64_t>(experts.size());
    int64_t max_tokens = 0;
    std::vector<StackedRows> inputs, downs;
    for (const ExpertRows& e : experts) {
        max_tokens = std::max(max_tokens, e.num_tokens);
        inputs.push_back({e.expert, e.num_tokens, e.x, nullptr});
        downs.push_back({e.expert, e.num_tokens, e.h, e.y});
    }
    if (num == 0 || max_tokens == 0) return;

    // Pass 1: gate and up rows of every expert, the GLU applied per tile into h.
    const int64_t x_bytes = quantize_groups(gate_exps.dtype, dim, inputs, max_tokens);
    expert_gate_.resize(static_cast<size_t>(max_tokens * ffn * num) * sizeof(float));
    expert_up_.resize(expert_gate_.size());
    auto* gate_out = reinterpret_cast<float*>(expert_gate_.data());
    auto* up_out = reinterpret_cast<float*>(expert_up_.data());
    const int64_t w_row_bytes = gate_exps.row_bytes();
    pool.parallel_for(
        num * ffn,
        [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e;) {
                const int64_t idx = i / ffn;
                const int64_t r = i % ffn;
                const int nr = static_cast<int>(std::min<int64_t>({kMaxTileRows, ffn - r, e - i}));
                const ExpertRows& ex = experts[idx];
                const int64_t w_row = ex.expert * ffn + r;
                const uint8_t* act = expert_act_.data() + idx * max_tokens * x_bytes;
                float* g = gate_out + idx * max_tokens * ffn;
                float* u = up_out + idx * max_tokens * ffn;
                for (int64_t t = 0; t < ex.num_tokens; t += kMaxTileTokens) {
                    const int nt = static_cast<int>(std::min<int64_t>(kMaxTileTokens, ex.num_tokens - t));
                    tile(dim, gate_exps.row(w_row), w_row_bytes, nr, act + t * x_bytes, x_bytes, nt, g + t * ffn + r,
                         ffn);
                    tile(dim, up_exps.row(w_row), w_row_bytes, nr, act + t * x_bytes, x_bytes, nt, u + t * ffn + r,
                         ffn);
                }
                for (int64_t t = 0; t < ex.num_tokens; ++t) {
                    glu(g + t * ffn + r, u + t * ffn + r, ex.h + t * ffn + r, nr);
                }
                i += nr;
            }
        },
        kMaxTileRows);

    // Pass 2: every expert's down rows over its h.
    run_stacked(pool, down_exps, downs);
}

void CpuMatmul::run_stacked(ThreadPool& pool, const Tensor& w, const std::vector<StackedRows>& items) {
    const int64_t cols = w.shape[0];
    const int64_t rows = w.shape[1];
    const VecDotTileFn tile = kernels_.vec_dot_tile[static_cast<int>(w.dtype)];
    CHECK(tile != nullptr) << "no matmul kernel for weight type " << dtype_name(w.dtype);
    const auto num = static_cast<int64_t>(items.size());
    int64_t max_tokens = 0;
    for (const StackedRows& it : items) max_tokens = std::max(max_tokens, it.num_tokens);
    if (num == 0 || max_tokens == 0) return;
    const int64_t act_bytes = quantize_groups(w.dtype, cols, items, max_tokens);
    const int64_t w_row_bytes = w.row_bytes();
    pool.parallel_for(
        num * rows,
        [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e;) {
                const int64_t idx = i / rows;
                const int64_t r = i % rows;
                const int nr = static_cast<int>(std::min<int64_t>({kMaxTileRows, rows - r, e - i}));
                const StackedRows& it = items[idx];
                const uint8_t* act = expert_act_.data() + idx * max_tokens * act_bytes;
                for (int64_t t = 0; t < it.num_tokens; t += kMaxTileTokens) {
                    const int nt = static_cast<int>(std::min<int64_t>(kMaxTileTokens, it.num_tokens - t));
                    tile(cols, w.row(it.index * rows + r), w_row_bytes, nr, act + t * act_bytes, act_bytes, nt,
                         it.y + t * rows + r, rows);
                }
                i += nr;
            }
        },
        kMaxTileRows);
}
}  // namespace frugal
