// Mixture-of-experts ops: routing on the device, and matrix-vector products whose weight rows are chosen per item
// from device memory (the routed experts' FFN; the per-head products of multi-head latent attention).
//
// Decode runs as a recorded CUDA graph, so nothing here waits for the host: the router writes the chosen expert
// ids to device memory and the expert products read them there, indexing into the stacked [experts * rows, cols]
// weight. Every layout of cuda_common.cuh keeps whole rows addressable in the stacked tensor (the Q8 and Q6_K
// planes too), so expert e's row o is simply row e * rows + o of the stacked weight.
#include <math_constants.h>

#include "backend/cuda/matvec_dot.cuh"

namespace frugal::cuda {
namespace {

// ---- routing ----

// One warp per token, in double. Everything whose result depends on the order of operations runs in the
// reference's order (reference_ops.cpp, moe_route): the softmax's sum (one lane, expert by expert), the group
// scores (one lane per group) and the final weights (one lane); the selections are warp-wide arg-max reductions
// under the reference's total order (larger first, equal: the lower id), so ids and ties match the CPU exactly.
constexpr int kRouteWarps = 4;  // tokens per block
constexpr int kRouteThreads = kRouteWarps * kWarpSize;

__device__ __forceinline__ double route_choice(const double* scores, const float* bias, int e) {
    return scores[e] + (bias != nullptr ? static_cast<double>(bias[e]) : 0.0);
}

// (v, i) becomes (ov, oi) when that ranks first: larger value, equal values the lower index; index -1 is none.
__device__ __forceinline__ void rank_first(double* v, int* i, double ov, int oi) {
    if (oi >= 0 && (*i < 0 || ov > *v || (ov == *v && oi < *i))) {
        *v = ov;
        *i = oi;
    }
}

// The warp's first-ranked (value, index); every lane gets the same answer (the order is total over indices).
__device__ __forceinline__ int warp_rank_first(double v, int i) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const double ov = __shfl_xor_sync(0xffffffffu, v, o);
        const int oi = __shfl_xor_sync(0xffffffffu, i, o);
        rank_first(&v, &i, ov, oi);
    }
    return i;
}

__global__ void __launch_bounds__(kRouteThreads)
    moe_route_kernel(const float* logits, int64_t n, int num_experts, MoeRouteArgs r, const float* bias, int32_t* ids,
                     float* weights) {
    __shared__ double scores_smem[kRouteWarps][kMaxRoutedExperts];
    __shared__ double group_smem[kRouteWarps][kMaxExpertGroups];
    __shared__ int chosen_smem[kRouteWarps][kMaxRoutedTopK];
    begin_dependent_kernel();
    const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
    const int64_t t = blockIdx.x * static_cast<int64_t>(kRouteWarps) + warp;
    if (t >= n) return;  // the whole warp: only warp-level synchronization follows
    double* scores = scores_smem[warp];
    const float* row = logits + t * num_experts;
    if (r.softmax) {
        float mx = -INFINITY;
        for (int e = lane; e < num_experts; e += kWarpSize) mx = fmaxf(mx, row[e]);
        mx = warp_max(mx);
        for (int e = lane; e < num_experts; e += kWarpSize) scores[e] = exp(static_cast<double>(row[e]) - mx);
        __syncwarp();
        double sum = 0;
        if (lane == 0) {
            for (int e = 0; e < num_experts; ++e) sum += scores[e];
        }
        sum = __shfl_sync(0xffffffffu, sum, 0);
        for (int e = lane; e < num_experts; e += kWarpSize) scores[e] /= sum;
    } else {
        for (int e = lane; e < num_experts; e += kWarpSize) {
            scores[e] = 1.0 / (1.0 + exp(-static_cast<double>(row[e])));
        }
    }
    __syncwarp();
    // Allowed groups as bits (all when ungrouped).
    uint64_t allowed = ~uint64_t{0};
    int group_size = num_experts;
    if (r.num_groups > 1) {
        group_size = num_experts / r.num_groups;
        double* group_scores = group_smem[warp];
        for (int g = lane; g < r.num_groups; g += kWarpSize) {
            // The best two members (the second equal to the first when the best value occurs twice).
            double b1 = -CUDART_INF, b2 = -CUDART_INF;
            for (int e = g * group_size; e < (g + 1) * group_size; ++e) {
                const double v = route_choice(scores, bias, e);
                if (v > b1) {
                    b2 = b1;
                    b1 = v;
                } else if (v > b2) {
                    b2 = v;
                }
            }
            group_scores[g] = r.top2_group_score && group_size >= 2 ? b1 + b2 : b1;
        }
        __syncwarp();
        allowed = 0;
        for (int k = 0; k < r.groups_used; ++k) {
            double v = 0;
            int best = -1;
            for (int g = lane; g < r.num_groups; g += kWarpSize) {
                if (((allowed >> g) & 1) == 0) rank_first(&v, &best, group_scores[g], g);
            }
            allowed |= uint64_t{1} << warp_rank_first(v, best);
        }
    }
    // top_k by choice score; experts of excluded groups rank as -infinity (so they can still fill top_k after every
    // allowed expert, as in the reference). Lane l holds experts l, l + 32, ...: bit j of `taken` is expert l + 32 j.
    uint32_t taken = 0;
    for (int k = 0; k < r.top_k; ++k) {
        double v = 0;
        int best = -1;
        for (int e = lane, j = 0; e < num_experts; e += kWarpSize, ++j) {
            if ((taken >> j) & 1) continue;
            const double c = (allowed >> (e / group_size)) & 1 ? route_choice(scores, bias, e) : -CUDART_INF;
            rank_first(&v, &best, c, e);
        }
        best = warp_rank_first(v, best);
        if (best % kWarpSize == lane) taken |= 1u << (best / kWarpSize);
        if (lane == 0) chosen_smem[warp][k] = best;
    }
    if (lane != 0) return;
    const int* chosen = chosen_smem[warp];
    double sum = 0;
    for (int k = 0; k < r.top_k; ++k) sum += scores[chosen[k]];
    for (int k = 0; k < r.top_k; ++k) {
        double w = scores[chosen[k]];
        if (r.normalize) w /= sum + 1e-20;
        ids[t * r.top_k + k] = chosen[k];
        weights[t * r.top_k + k] = static_cast<float>(w * static_cast<double>(r.scale));
    }
}

// ---- products with per-item weight rows ----

constexpr int kRowsPerBlock = 4;  // warps per block, one output row each
constexpr int kThreads = kRowsPerBlock * kWarpSize;

constexpr bool uses_quantized_activations(WeightFormat f) {
    return f != WeightFormat::kF32 && f != WeightFormat::kF16 && f != WeightFormat::kBF16;
}

// Block b: item b / row_blocks, output rows of block b % row_blocks, one per warp. Each product s of the item (its
// `slots` consecutive products) dots weight row group(s) * rows + o with activation row s / act_div; the item's
// output is their weighted sum (or, with kGlu, act(gate) * up of its single product).
template <WeightFormat F, bool kGlu>
__global__ void __launch_bounds__(kThreads)
    item_matvec_kernel(ItemMatvec job, QuantizedActivations xq, const float* xf, int64_t row_blocks) {
    begin_dependent_kernel();
    const int64_t item = blockIdx.x / row_blocks;
    const int64_t o = (blockIdx.x % row_blocks) * kRowsPerBlock + threadIdx.x / kWarpSize;
    if (o >= job.rows) return;
    const int lane = threadIdx.x % kWarpSize;
    const int64_t K = job.w.cols;
    constexpr int R = kGlu ? 2 : 1;
    float total[R] = {};
    for (int j = 0; j < job.slots; ++j) {
        const int64_t s = item * job.slots + j;
        const int64_t g = job.ids != nullptr ? job.ids[s] : s % job.num_groups;
        if (g < 0 || g >= job.num_groups) continue;  // not a valid expert: contributes nothing
        const int64_t a = s / job.act_div;
        QuantizedActivations xa{nullptr, nullptr, nullptr, K};
        if constexpr (uses_quantized_activations(F)) xa = {xq.q + a * K, xq.d + a * (K / 32), xq.sum + a * (K / 32), K};
        const float* xa_f = uses_quantized_activations(F) ? xf : xf + a * K;
        WeightView ws[R];
        int64_t rows[R];
        ws[0] = job.w;
        rows[0] = g * job.rows + o;
        if constexpr (kGlu) {
            ws[1] = job.w_up;
            rows[1] = rows[0];
        }
        float acc[R][1] = {};
        rows_dot<1, F, R>(ws, rows, xa, xa_f, 1, acc);
        const float sw = job.slot_weights != nullptr ? job.slot_weights[s] : 1.0f;
#pragma unroll
        for (int r = 0; r < R; ++r) total[r] += sw * acc[r][0];
    }
#pragma unroll
    for (int r = 0; r < R; ++r) total[r] = warp_sum(total[r]);
    if (lane != 0) return;
    float* y = job.y + item * job.rows + o;
    if constexpr (kGlu) {
        *y = glu_activation(job.glu_kind, total[0]) * total[1];
    } else {
        *y = total[0];
    }
}

template <WeightFormat F>
void launch_item_format(const ItemMatvec& job, const float* x, const QuantizedActivations& xq, cudaStream_t stream) {
    const int64_t row_blocks = ceil_div(job.rows, kRowsPerBlock);
    const auto blocks = static_cast<unsigned>(row_blocks * job.items);
    if (job.glu) {
        launch_kernel(item_matvec_kernel<F, true>, blocks, kThreads, 0, stream, job, xq, x, row_blocks);
    } else {
        launch_kernel(item_matvec_kernel<F, false>, blocks, kThreads, 0, stream, job, xq, x, row_blocks);
    }
}

__global__ void sigmoid_scale_rows_kernel(float* x, const float* gate, int64_t rows, int64_t d) {
    begin_dependent_kernel();
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= rows * d) return;
    x[i] *= 1.0f / (1.0f + expf(-gate[i / d]));
}

// ---- prefill: the step's (token, expert) pairs grouped by expert ----
// Pairs are sorted by expert on the device (no host synchronization), the tokens' rows gathered in that order, and
// each expert's run of pairs split into chunks of up to kChunkPairs: a warp reads a weight row once and dots it with
// every pair of its chunk, so an expert's weights are read once per chunk instead of once per pair.
constexpr int kChunkPairs = 8;
constexpr int kSortThreads = 1024;

// One block: the count per expert, offsets and the chunk list (one thread, in expert order), each pair's position.
__global__ void __launch_bounds__(kSortThreads)
    moe_sort_kernel(const int32_t* ids, int64_t pairs, int num_experts, int64_t max_chunks, int32_t* inv,
                    int32_t* chunks, int32_t* num_chunks) {
    __shared__ int count[kMaxRoutedExperts];
    __shared__ int cursor[kMaxRoutedExperts];
    begin_dependent_kernel();
    for (int e = threadIdx.x; e < num_experts; e += kSortThreads) count[e] = 0;
    __syncthreads();
    for (int64_t s = threadIdx.x; s < pairs; s += kSortThreads) {
        const int e = ids[s];
        if (e >= 0 && e < num_experts) atomicAdd(&count[e], 1);
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        int at = 0, nc = 0;
        for (int e = 0; e < num_experts; ++e) {
            cursor[e] = at;
            for (int c = 0; c < count[e]; c += kChunkPairs) {
                chunks[nc] = at + c;                                       // first sorted position
                chunks[max_chunks + nc] = min(kChunkPairs, count[e] - c);  // pairs
                chunks[2 * max_chunks + nc] = e;
                ++nc;
            }
            at += count[e];
        }
        *num_chunks = nc;
    }
    __syncthreads();
    // Within an expert the order is whatever the atomics give: every pair's result is computed on its own (a
    // chunk's pairs share weight loads, not sums), so it does not depend on its place.
    for (int64_t s = threadIdx.x; s < pairs; s += kSortThreads) {
        const int e = ids[s];
        if (e >= 0 && e < num_experts) {
            inv[s] = atomicAdd(&cursor[e], 1);
        } else {
            inv[s] = -1;
        }
    }
}

// out[inv[s]][:] = x[s / div][:] for every placed pair s.
__global__ void gather_rows_kernel(const float* x, const int32_t* inv, int64_t pairs, int64_t div, int64_t cols,
                                   float* out) {
    begin_dependent_kernel();
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= pairs * cols) return;
    const int64_t s = i / cols;  // pair s goes to row inv[s]
    if (inv[s] < 0) return;
    out[inv[s] * cols + i % cols] = x[(s / div) * cols + i % cols];
}

// Block b: chunk b / row_blocks, output rows of block b % row_blocks, one per warp; activation rows are the chunk's
// sorted positions, outputs y[position][row].
template <WeightFormat F, bool kGlu>
__global__ void __launch_bounds__(kThreads)
    grouped_matvec_kernel(GroupedMatvec job, QuantizedActivations xq, const float* xf, int64_t row_blocks) {
    begin_dependent_kernel();
    const int64_t c = blockIdx.x / row_blocks;
    const int64_t o = (blockIdx.x % row_blocks) * kRowsPerBlock + threadIdx.x / kWarpSize;
    if (c >= *job.num_chunks || o >= job.rows) return;
    const int lane = threadIdx.x % kWarpSize;
    const int64_t first = job.chunks[c];
    const int len = job.chunks[job.max_chunks + c];
    const int64_t e = job.chunks[2 * job.max_chunks + c];
    const int64_t K = job.w.cols;
    constexpr int R = kGlu ? 2 : 1;
    QuantizedActivations xa{nullptr, nullptr, nullptr, K};
    if constexpr (uses_quantized_activations(F)) {
        xa = {xq.q + first * K, xq.d + first * (K / 32), xq.sum + first * (K / 32), K};
    }
    WeightView ws[R];
    int64_t rows[R];
    ws[0] = job.w;
    rows[0] = e * job.rows + o;
    if constexpr (kGlu) {
        ws[1] = job.w_up;
        rows[1] = rows[0];
    }
    float acc[R][kChunkPairs] = {};
    rows_dot<kChunkPairs, F, R>(ws, rows, xa, uses_quantized_activations(F) ? xf : xf + first * K, len, acc);
#pragma unroll
    for (int t = 0; t < kChunkPairs; ++t) {
        float v[R];
#pragma unroll
        for (int r = 0; r < R; ++r) v[r] = warp_sum(acc[r][t]);
        if (lane == 0 && t < len) {
            job.y[(first + t) * job.rows + o] = kGlu ? glu_activation(job.glu_kind, v[0]) * v[R - 1] : v[0];
        }
    }
}

template <WeightFormat F>
void launch_grouped_format(const GroupedMatvec& job, const float* x, const QuantizedActivations& xq,
                           cudaStream_t stream) {
    const int64_t row_blocks = ceil_div(job.rows, kRowsPerBlock);
    const auto blocks = static_cast<unsigned>(row_blocks * job.max_chunks);
    if (job.glu) {
        launch_kernel(grouped_matvec_kernel<F, true>, blocks, kThreads, 0, stream, job, xq, x, row_blocks);
    } else {
        launch_kernel(grouped_matvec_kernel<F, false>, blocks, kThreads, 0, stream, job, xq, x, row_blocks);
    }
}

// out[t][o] = sum_j weights[t][j] * d[inv[t * top_k + j]][o], in slot order.
__global__ void moe_combine_kernel(const float* d, const int32_t* inv, const float* weights, int64_t n, int64_t top_k,
                                   int64_t dim, float* out) {
    begin_dependent_kernel();
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= n * dim) return;
    const int64_t t = i / dim, o = i % dim;
    float acc = 0.0f;
    for (int64_t j = 0; j < top_k; ++j) {
        const int64_t p = inv[t * top_k + j];
        if (p >= 0) acc += weights[t * top_k + j] * d[p * dim + o];
    }
    out[i] = acc;
}

}  // namespace

void launch_moe_route(const float* logits, int64_t n, int64_t num_experts, const MoeRouteArgs& args, const float* bias,
                      int32_t* ids, float* weights, cudaStream_t stream) {
    CHECK(num_experts >= 1 && num_experts <= kMaxRoutedExperts) << num_experts << " experts";
    CHECK(args.top_k >= 1 && args.top_k <= num_experts && args.top_k <= kMaxRoutedTopK) << "top_k " << args.top_k;
    CHECK(args.num_groups <= 1 || (args.num_groups <= kMaxExpertGroups && num_experts % args.num_groups == 0 &&
                                   args.groups_used >= 1 && args.groups_used <= args.num_groups))
        << args.num_groups << " groups, " << args.groups_used << " used, " << num_experts << " experts";
    if (n == 0) return;
    launch_kernel(moe_route_kernel, static_cast<unsigned>(ceil_div(n, kRouteWarps)), kRouteThreads, 0, stream, logits,
                  n, static_cast<int>(num_experts), args, bias, ids, weights);
}

void launch_item_matvec(const ItemMatvec& job, const float* x, const QuantizedActivations& xq, cudaStream_t stream) {
    CHECK(!job.glu || (job.slots == 1 && job.slot_weights == nullptr && job.w_up.format == job.w.format &&
                       job.w_up.cols == job.w.cols));
    CHECK(job.slots >= 1 && job.act_div >= 1 && job.num_groups >= 1);
    CHECK_EQ(job.w.rows, job.num_groups * job.rows);
    if (job.items == 0 || job.rows == 0) return;
    switch (job.w.format) {
        case WeightFormat::kQ8:
            return launch_item_format<WeightFormat::kQ8>(job, x, xq, stream);
        case WeightFormat::kQ4_0:
            return launch_item_format<WeightFormat::kQ4_0>(job, x, xq, stream);
        case WeightFormat::kQ4K:
            return launch_item_format<WeightFormat::kQ4K>(job, x, xq, stream);
        case WeightFormat::kQ5K:
            return launch_item_format<WeightFormat::kQ5K>(job, x, xq, stream);
        case WeightFormat::kQ6K:
            return launch_item_format<WeightFormat::kQ6K>(job, x, xq, stream);
        case WeightFormat::kF32:
            return launch_item_format<WeightFormat::kF32>(job, x, xq, stream);
        case WeightFormat::kF16:
            return launch_item_format<WeightFormat::kF16>(job, x, xq, stream);
        case WeightFormat::kBF16:
            return launch_item_format<WeightFormat::kBF16>(job, x, xq, stream);
    }
}

void launch_sigmoid_scale_rows(float* x, const float* gate, int64_t rows, int64_t d, cudaStream_t stream) {
    if (rows * d == 0) return;
    constexpr int kElementThreads = 256;
    launch_kernel(sigmoid_scale_rows_kernel, static_cast<unsigned>(ceil_div(rows * d, kElementThreads)),
                  kElementThreads, 0, stream, x, gate, rows, d);
}

int64_t moe_max_chunks(int64_t pairs, int64_t num_experts) { return ceil_div(pairs, kChunkPairs) + num_experts; }

void launch_moe_sort(const int32_t* ids, int64_t pairs, int64_t num_experts, int32_t* inv, int32_t* chunks,
                     int32_t* num_chunks, cudaStream_t stream) {
    CHECK(num_experts >= 1 && num_experts <= kMaxRoutedExperts) << num_experts << " experts";
    launch_kernel(moe_sort_kernel, 1, kSortThreads, 0, stream, ids, pairs, static_cast<int>(num_experts),
                  moe_max_chunks(pairs, num_experts), inv, chunks, num_chunks);
}

void launch_gather_rows(const float* x, const int32_t* inv, int64_t pairs, int64_t div, int64_t cols, float* out,
                        cudaStream_t stream) {
    if (pairs * cols == 0) return;
    constexpr int kElementThreads = 256;
    launch_kernel(gather_rows_kernel, static_cast<unsigned>(ceil_div(pairs * cols, kElementThreads)), kElementThreads,
                  0, stream, x, inv, pairs, div, cols, out);
}

void launch_grouped_matvec(const GroupedMatvec& job, const float* x, const QuantizedActivations& xq,
                           cudaStream_t stream) {
    CHECK(!job.glu || (job.w_up.format == job.w.format && job.w_up.cols == job.w.cols));
    if (job.max_chunks == 0 || job.rows == 0) return;
    switch (job.w.format) {
        case WeightFormat::kQ8:
            return launch_grouped_format<WeightFormat::kQ8>(job, x, xq, stream);
        case WeightFormat::kQ4_0:
            return launch_grouped_format<WeightFormat::kQ4_0>(job, x, xq, stream);
        case WeightFormat::kQ4K:
            return launch_grouped_format<WeightFormat::kQ4K>(job, x, xq, stream);
        case WeightFormat::kQ5K:
            return launch_grouped_format<WeightFormat::kQ5K>(job, x, xq, stream);
        case WeightFormat::kQ6K:
            return launch_grouped_format<WeightFormat::kQ6K>(job, x, xq, stream);
        case WeightFormat::kF32:
            return launch_grouped_format<WeightFormat::kF32>(job, x, xq, stream);
        case WeightFormat::kF16:
            return launch_grouped_format<WeightFormat::kF16>(job, x, xq, stream);
        case WeightFormat::kBF16:
            return launch_grouped_format<WeightFormat::kBF16>(job, x, xq, stream);
    }
}

void launch_moe_combine(const float* d, const int32_t* inv, const float* weights, int64_t n, int64_t top_k, int64_t dim,
                        float* out, cudaStream_t stream) {
    if (n * dim == 0) return;
    constexpr int kElementThreads = 256;
    launch_kernel(moe_combine_kernel, static_cast<unsigned>(ceil_div(n * dim, kElementThreads)), kElementThreads, 0,
                  stream, d, inv, weights, n, top_k, dim, out);
}

}  // namespace frugal::cuda
