// Token sampling on the GPU, so a decode step returns token ids (4 bytes per sequence) instead of a vocabulary of
// logits (513 KB per sequence for Llama 3) for the host to scan.
//
// One 1024-thread block per row. Greedy rows take the first maximum. Sampling rows select the top k by radix select
// on order-preserving integer keys of the logits (four 8-bit digit passes over the row, which sits in L2 after the
// output projection), gather those k into shared memory, sort them with a bitonic network, and finish the chain
// (top-p, min-p, temperature, the draw) over the at most kMaxTopK survivors in one thread, in the same arithmetic as
// the host Sampler (float exponentials, double sums) so both pick the same token from the same logits and uniform.
#include <cfloat>
#include <climits>
#include <cstdint>

#include "backend/cuda/cuda_kernels.cuh"

namespace frugal::cuda {
namespace {

constexpr int kThreads = 1024;
static_assert(kMaxTopK == kThreads, "the bitonic sort gives each thread one candidate");

// Larger floats map to larger unsigned keys (sign-magnitude to two's-complement order).
__device__ __forceinline__ uint32_t order_key(float v) {
    const uint32_t u = __float_as_uint(v);
    return (u & 0x80000000u) != 0 ? ~u : u | 0x80000000u;
}

__device__ __forceinline__ float capped(float v, float softcap) {
    return softcap > 0 ? softcap * tanhf(v / softcap) : v;
}

__device__ void argmax_row(const float* x, int64_t vocab, int32_t* id) {
    __shared__ float s_val[kThreads / kWarpSize];
    __shared__ int64_t s_idx[kThreads / kWarpSize];
    float best = -INFINITY;
    int64_t best_i = LLONG_MAX;
    auto consider = [&](float v, int64_t i) {  // in increasing i: the first maximum of this thread
        if (v > best || best_i == LLONG_MAX) best = v, best_i = i;
    };
    // Each thread takes 4 consecutive logits at a time (one 16-byte load when the row is 16-byte aligned), groups
    // strided by the block, in increasing index: the first maximum of this thread. Four loads in flight per step
    // rather than one keep the single block from waiting on L2 for each logit (Llama 3's 128,256 logits: 12.6 us
    // per step with scalar loads on the H200).
    const bool vec = aligned16(x);
    const int64_t groups = vec ? vocab / 4 : 0;
    constexpr int kUnroll = 4;
    for (int64_t g0 = threadIdx.x; g0 < groups; g0 += kThreads * kUnroll) {
        float4 v[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int64_t g = g0 + static_cast<int64_t>(u) * kThreads;
            v[u] = g < groups ? reinterpret_cast<const float4*>(x)[g] : make_float4(0.0f, 0.0f, 0.0f, 0.0f);
        }
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int64_t g = g0 + static_cast<int64_t>(u) * kThreads;
            if (g >= groups) break;
            const float e[4] = {v[u].x, v[u].y, v[u].z, v[u].w};
#pragma unroll
            for (int k = 0; k < 4; ++k) consider(e[k], 4 * g + k);
        }
    }
    for (int64_t i = 4 * groups + threadIdx.x; i < vocab; i += kThreads) consider(x[i], i);  // tail, or unaligned
    auto better = [](float v, int64_t i, float bv, int64_t bi) { return v > bv || (v == bv && i < bi); };
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float v = __shfl_xor_sync(0xffffffffu, best, o);
        const int64_t i = __shfl_xor_sync(0xffffffffu, best_i, o);
        if (better(v, i, best, best_i)) best = v, best_i = i;
    }
    const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
    if (lane == 0) s_val[warp] = best, s_idx[warp] = best_i;
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < kThreads / kWarpSize; ++w) {
            if (better(s_val[w], s_idx[w], best, best_i)) best = s_val[w], best_i = s_idx[w];
        }
        *id = static_cast<int32_t>(best_i);
    }
}

__global__ void __launch_bounds__(kThreads) sample_kernel(const float* logits, int64_t vocab, const SamplingRow* rows,
                                                          float softcap, int32_t* ids) {
    begin_dependent_kernel();
    const int64_t r = blockIdx.x;
    const float* x = logits + r * vocab;
    const SamplingRow p = rows[r];
    if (p.temperature <= 0) {
        argmax_row(x, vocab, ids + r);  // softcap is monotonic: the maximum stays where it is
        return;
    }
    const int k = static_cast<int>(p.top_k < vocab ? p.top_k : vocab);

    // Radix select of the k-th largest key, one 8-bit digit per pass from the top.
    __shared__ int s_hist[256];
    __shared__ uint32_t s_prefix, s_mask;
    __shared__ int s_remaining;
    if (threadIdx.x == 0) s_prefix = 0, s_mask = 0, s_remaining = k;
    for (int shift = 24; shift >= 0; shift -= 8) {
        if (threadIdx.x < 256) s_hist[threadIdx.x] = 0;
        __syncthreads();
        const uint32_t prefix = s_prefix, mask = s_mask;
        for (int64_t i = threadIdx.x; i < vocab; i += kThreads) {
            const uint32_t key = order_key(x[i]);
            if ((key & mask) == prefix) atomicAdd(&s_hist[(key >> shift) & 255], 1);
        }
        __syncthreads();
        if (threadIdx.x == 0) {
            int above = 0, b = 255;
            while (b > 0 && above + s_hist[b] < s_remaining) above += s_hist[b--];
            s_remaining -= above;
            s_prefix = prefix | (static_cast<uint32_t>(b) << shift);
            s_mask = mask | (255u << shift);
        }
        __syncthreads();
    }
    // s_prefix is now the k-th largest key: every larger key survives, and s_remaining of the keys equal to it.
    const uint32_t threshold = s_prefix;
    const int num_above = k - s_remaining;
    __shared__ float s_logit[kThreads];
    __shared__ int32_t s_id[kThreads];
    __shared__ int s_num_above, s_num_equal;
    s_logit[threadIdx.x] = -INFINITY;
    s_id[threadIdx.x] = INT_MAX;
    if (threadIdx.x == 0) s_num_above = 0, s_num_equal = 0;
    __syncthreads();
    for (int64_t i = threadIdx.x; i < vocab; i += kThreads) {
        const float v = x[i];
        const uint32_t key = order_key(v);
        int slot = -1;
        if (key > threshold) {
            slot = atomicAdd(&s_num_above, 1);
        } else if (key == threshold) {
            const int e = atomicAdd(&s_num_equal, 1);
            if (e < k - num_above) slot = num_above + e;
        }
        if (slot >= 0) {
            s_logit[slot] = v;
            s_id[slot] = static_cast<int32_t>(i);
        }
    }
    __syncthreads();

    // Bitonic sort, descending by logit, ties by ascending id (the padding, -inf with id INT_MAX, sinks to the end).
    for (int size = 2; size <= kThreads; size <<= 1) {
        for (int stride = size / 2; stride > 0; stride >>= 1) {
            const int i = threadIdx.x, j = i ^ stride;
            if (j > i) {
                const bool descending = (i & size) == 0;
                const float a = s_logit[i], b = s_logit[j];
                const int32_t ia = s_id[i], ib = s_id[j];
                const bool a_first = a > b || (a == b && ia < ib);
                if (a_first != descending) {
                    s_logit[i] = b, s_logit[j] = a;
                    s_id[i] = ib, s_id[j] = ia;
                }
            }
            __syncthreads();
        }
    }

    if (threadIdx.x != 0) return;
    int n = k;
    for (int i = 0; i < n; ++i) s_logit[i] = capped(s_logit[i], softcap);
    if (p.top_p < 1.0f) {
        const float max_logit = s_logit[0];
        double sum = 0;
        for (int i = 0; i < n; ++i) sum += expf(s_logit[i] - max_logit);
        double cum = 0;
        for (int i = 0; i < n; ++i) {
            cum += static_cast<float>(expf(s_logit[i] - max_logit) / sum);
            if (cum >= p.top_p) {
                n = i + 1;
                break;
            }
        }
    }
    if (p.min_p > 0.0f) {
        const float threshold_logit = s_logit[0] + logf(p.min_p);
        int keep = 0;
        while (keep < n && s_logit[keep] >= threshold_logit) ++keep;
        n = keep;
    }
    for (int i = 0; i < n; ++i) s_logit[i] /= p.temperature;
    int32_t token = s_id[n > 0 ? n - 1 : 0];
    if (n > 0) {
        const float max_logit = s_logit[0];
        double sum = 0;
        for (int i = 0; i < n; ++i) sum += expf(s_logit[i] - max_logit);
        double cum = 0;
        for (int i = 0; i < n; ++i) {
            cum += static_cast<float>(expf(s_logit[i] - max_logit) / sum);
            if (cum > p.uniform) {
                token = s_id[i];
                break;
            }
        }
    }
    ids[r] = token;
}

// Greedy rows alone (every row's temperature <= 0): the argmax spread over many blocks. A single block scans 513 KB of
// Llama 3 logits in about 12 us (its loads queue on one SM); here each block takes kArgmaxChunk logits (kArgmaxLoads
// loads in flight per thread, one round trip to L2), and one warp per row reduces the blocks' (value, index) pairs.
constexpr int kArgmaxThreads = 256;
constexpr int kArgmaxLoads = 16;
constexpr int64_t kArgmaxChunk = kArgmaxThreads * kArgmaxLoads;

// Whether (v, i) comes before (bv, bi): the larger value, and of equal values the smaller index (the first maximum).
__device__ __forceinline__ bool argmax_better(float v, int32_t i, float bv, int32_t bi) {
    return v > bv || (v == bv && i < bi);
}

__device__ __forceinline__ void warp_argmax(float* best, int32_t* best_i) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
        const float v = __shfl_xor_sync(0xffffffffu, *best, o);
        const int32_t i = __shfl_xor_sync(0xffffffffu, *best_i, o);
        if (argmax_better(v, i, *best, *best_i)) *best = v, *best_i = i;
    }
}

// Grid (chunks, rows): block c writes the first maximum of logits [c * kArgmaxChunk, (c + 1) * kArgmaxChunk) of its
// row into partial[row * chunks + c].
__global__ void __launch_bounds__(kArgmaxThreads) argmax_chunk_kernel(const float* logits, int64_t vocab,
                                                                      float2* partial) {
    begin_dependent_kernel();
    const int64_t chunks = gridDim.x;
    const float* x = logits + blockIdx.y * vocab;
    const int64_t base = blockIdx.x * kArgmaxChunk + threadIdx.x;
    float v[kArgmaxLoads];
#pragma unroll
    for (int k = 0; k < kArgmaxLoads; ++k) {
        const int64_t i = base + static_cast<int64_t>(k) * kArgmaxThreads;
        v[k] = i < vocab ? x[i] : 0.0f;
    }
    float best = -INFINITY;
    int32_t best_i = INT_MAX;
#pragma unroll
    for (int k = 0; k < kArgmaxLoads; ++k) {  // in increasing index: this thread's first maximum
        const int64_t i = base + static_cast<int64_t>(k) * kArgmaxThreads;
        if (i < vocab && (v[k] > best || best_i == INT_MAX)) best = v[k], best_i = static_cast<int32_t>(i);
    }
    warp_argmax(&best, &best_i);
    __shared__ float s_val[kArgmaxThreads / kWarpSize];
    __shared__ int32_t s_idx[kArgmaxThreads / kWarpSize];
    const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
    if (lane == 0) s_val[warp] = best, s_idx[warp] = best_i;
    __syncthreads();
    if (threadIdx.x != 0) return;
    for (int w = 1; w < kArgmaxThreads / kWarpSize; ++w) {
        if (argmax_better(s_val[w], s_idx[w], best, best_i)) best = s_val[w], best_i = s_idx[w];
    }
    partial[blockIdx.y * chunks + blockIdx.x] = make_float2(best, __int_as_float(best_i));
}

// One warp per row: the first maximum of its chunks' maxima.
__global__ void argmax_final_kernel(const float2* partial, int64_t chunks, int32_t* ids) {
    begin_dependent_kernel();
    const float2* p = partial + blockIdx.x * chunks;
    float best = -INFINITY;
    int32_t best_i = INT_MAX;
    for (int64_t c = threadIdx.x; c < chunks; c += kWarpSize) {
        const float2 e = p[c];
        const int32_t i = __float_as_int(e.y);
        if (argmax_better(e.x, i, best, best_i)) best = e.x, best_i = i;
    }
    warp_argmax(&best, &best_i);
    if (threadIdx.x == 0) ids[blockIdx.x] = best_i;
}

}  // namespace

int64_t argmax_scratch_bytes(int64_t n, int64_t vocab) {
    return n * ceil_div(vocab, kArgmaxChunk) * static_cast<int64_t>(sizeof(float2));
}

void launch_argmax(const float* logits, int64_t n, int64_t vocab, void* scratch, int32_t* ids, cudaStream_t stream) {
    if (n == 0) return;
    CHECK(vocab >= 1 && vocab < INT_MAX) << vocab;
    const int64_t chunks = ceil_div(vocab, kArgmaxChunk);
    auto* partial = static_cast<float2*>(scratch);
    launch_kernel(argmax_chunk_kernel, dim3(static_cast<unsigned>(chunks), static_cast<unsigned>(n)), kArgmaxThreads,
                  0, stream, logits, vocab, partial);
    launch_kernel(argmax_final_kernel, static_cast<unsigned>(n), kWarpSize, 0, stream,
                  static_cast<const float2*>(partial), chunks, ids);
}

void launch_sample(const float* logits, int64_t n, int64_t vocab, const SamplingRow* rows, float softcap,
                   int32_t* ids, cudaStream_t stream) {
    if (n == 0) return;
    launch_kernel(sample_kernel, static_cast<unsigned>(n), kThreads, 0, stream, logits, vocab, rows, softcap, ids);
}

}  // namespace frugal::cuda
