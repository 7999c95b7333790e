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

// The router's per-token selection is a few thousand operations at most (256 experts, top 8): one thread per token,
// in double, in exactly the reference's order (reference_ops.cpp, moe_route), so ids and ties match the CPU.
constexpr int kRouteThreads = 64;

__device__ __forceinline__ double route_choice(const double* scores, const float* bias, int e) {
    return scores[e] + (bias != nullptr ? static_cast<double>(bias[e]) : 0.0);
}

__global__ void __launch_bounds__(kRouteThreads)
    moe_route_kernel(const float* logits, int64_t n, int num_experts, MoeRouteArgs r, const float* bias, int32_t* ids,
                     float* weights) {
    begin_dependent_kernel();
    const int64_t t = blockIdx.x * static_cast<int64_t>(kRouteThreads) + threadIdx.x;
    if (t >= n) return;
    const float* row = logits + t * num_experts;
    double scores[kMaxRoutedExperts];
    if (r.softmax) {
        float mx = row[0];
        for (int e = 1; e < num_experts; ++e) mx = fmaxf(mx, row[e]);
        double sum = 0;
        for (int e = 0; e < num_experts; ++e) sum += scores[e] = exp(static_cast<double>(row[e]) - mx);
        for (int e = 0; e < num_experts; ++e) scores[e] /= sum;
    } else {
        for (int e = 0; e < num_experts; ++e) scores[e] = 1.0 / (1.0 + exp(-static_cast<double>(row[e])));
    }
    // Allowed groups as bits (all when ungrouped).
    uint64_t allowed = ~uint64_t{0};
    int group_size = num_experts;
    if (r.num_groups > 1) {
        group_size = num_experts / r.num_groups;
        double group_scores[kMaxExpertGroups];
        for (int g = 0; g < r.num_groups; ++g) {
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
        // The groups_used best groups; equal scores: the lower group first.
        allowed = 0;
        for (int k = 0; k < r.groups_used; ++k) {
            int best = -1;
            for (int g = 0; g < r.num_groups; ++g) {
                if ((allowed >> g) & 1) continue;
                if (best < 0 || group_scores[g] > group_scores[best]) best = g;
            }
            allowed |= uint64_t{1} << best;
        }
    }
    // top_k by choice score, larger first, equal scores: the lower id first; experts of excluded groups rank as
    // -infinity (so they can still fill top_k after every allowed expert, as in the reference).
    uint32_t taken[kMaxRoutedExperts / 32] = {};
    int chosen[kMaxRoutedTopK];
    double sum = 0;
    for (int k = 0; k < r.top_k; ++k) {
        int best = -1;
        double best_v = 0;
        for (int e = 0; e < num_experts; ++e) {
            if ((taken[e / 32] >> (e % 32)) & 1) continue;
            const double v = (allowed >> (e / group_size)) & 1 ? route_choice(scores, bias, e) : -CUDART_INF;
            if (best < 0 || v > best_v) {
                best = e;
                best_v = v;
            }
        }
        taken[best / 32] |= 1u << (best % 32);
        chosen[k] = best;
        sum += scores[best];
    }
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

}  // namespace

void launch_moe_route(const float* logits, int64_t n, int64_t num_experts, const MoeRouteArgs& args, const float* bias,
                      int32_t* ids, float* weights, cudaStream_t stream) {
    CHECK(num_experts >= 1 && num_experts <= kMaxRoutedExperts) << num_experts << " experts";
    CHECK(args.top_k >= 1 && args.top_k <= num_experts && args.top_k <= kMaxRoutedTopK) << "top_k " << args.top_k;
    CHECK(args.num_groups <= 1 || (args.num_groups <= kMaxExpertGroups && num_experts % args.num_groups == 0 &&
                                   args.groups_used >= 1 && args.groups_used <= args.num_groups))
        << args.num_groups << " groups, " << args.groups_used << " used, " << num_experts << " experts";
    if (n == 0) return;
    launch_kernel(moe_route_kernel, static_cast<unsigned>(ceil_div(n, kRouteThreads)), kRouteThreads, 0, stream, logits,
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

}  // namespace frugal::cuda
