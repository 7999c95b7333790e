// Paged attention with split-KV: each query token attends to its sequence's cached keys, read through the block
// table, with an online softmax (running max and normalizer) so scores are never stored.
//
// Grid: (token, kv head x query-head group, split). One block handles up to kGroup query heads that share a KV
// head (GQA/MQA: each K/V row is loaded once for the whole group) over one contiguous slice of the visible key
// range; its 4 warps take every 4th key of the slice. With one split the block writes the normalized output;
// with several (decode, where tokens x heads alone would not fill the GPU), each writes an unnormalized partial
// and a second kernel merges the slices. Launch shapes depend only on (n, heads, splits), not on the context
// length, so a decode step can be captured once in a CUDA graph and replayed as the sequence grows.
#include <algorithm>
#include <cfloat>
#include <cstdint>

#include "backend/cuda/cuda_kernels.cuh"

namespace frugal::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * kWarpSize;
constexpr int kGroup = 4;  // query heads per block

template <bool kF16>
__device__ __forceinline__ float cache_load(const void* cache, int64_t i) {
    if constexpr (kF16) {
        return __half2float(static_cast<const __half*>(cache)[i]);
    } else {
        return static_cast<const float*>(cache)[i];
    }
}

// Loads the EPL head elements a lane owns: lane * EPL + i when the head fills the warp (one vector load),
// otherwise lane + 32 * i (heads narrower than 32 * EPL, e.g. 8 or 80 wide).
template <int EPL, bool kF16>
__device__ __forceinline__ void load_head(const void* cache, int64_t base, int64_t D, int lane, float (&v)[EPL]) {
    if (D == 32 * EPL) {
        if constexpr (kF16) {
            const __half* p = static_cast<const __half*>(cache) + base + lane * EPL;
            if constexpr (EPL == 1) {
                v[0] = __half2float(*p);
            } else {
#pragma unroll
                for (int i = 0; i < EPL; i += 2) {
                    const float2 f = __half22float2(*reinterpret_cast<const __half2*>(p + i));
                    v[i] = f.x;
                    v[i + 1] = f.y;
                }
            }
        } else {
            const float* p = static_cast<const float*>(cache) + base + lane * EPL;
#pragma unroll
            for (int i = 0; i < EPL; ++i) v[i] = p[i];
        }
    } else {
#pragma unroll
        for (int i = 0; i < EPL; ++i) {
            const int64_t e = lane + 32 * i;
            v[i] = e < D ? cache_load<kF16>(cache, base + e) : 0.0f;
        }
    }
}

__device__ __forceinline__ int64_t head_element(int64_t D, int epl, int lane, int i) {
    return D == 32 * epl ? static_cast<int64_t>(lane) * epl + i : lane + 32 * i;
}

// EPL: head elements per lane (head_dim <= 32 * EPL). Each warp takes kUnroll keys at a time, so their dot
// products (and the shuffles reducing them) are independent and overlap instead of forming one long chain.
template <int EPL, bool kF16>
__global__ void __launch_bounds__(kThreads) attention_kernel(AttentionLaunch a) {
    constexpr int kUnroll = EPL >= 8 ? 2 : 4;
    const int64_t t = blockIdx.x;
    const int64_t groups_per_kv = ceil_div(a.heads / a.kv_heads, kGroup);
    const int64_t kvh = blockIdx.y / groups_per_kv;
    const int64_t group = a.heads / a.kv_heads;
    const int64_t h0 = kvh * group + (blockIdx.y % groups_per_kv) * kGroup;
    const int gq = static_cast<int>(kvh * group + group - h0 < kGroup ? kvh * group + group - h0 : kGroup);
    const int split = blockIdx.z;
    const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
    const int64_t D = a.head_dim;

    const int64_t pos = a.positions[t];
    const int64_t lo = a.sliding_window > 0 && pos - a.sliding_window + 1 > 0 ? pos - a.sliding_window + 1 : 0;
    const int64_t num_keys = pos - lo + 1;
    const int64_t per_split = ceil_div(num_keys, a.splits);
    const int64_t key_begin = lo + split * per_split;
    const int64_t key_end = key_begin + per_split < pos + 1 ? key_begin + per_split : pos + 1;
    const int32_t* table = a.block_tables + static_cast<int64_t>(a.token_seq[t]) * a.max_blocks;
    const int64_t kv_row = a.kv_heads * D;
    auto load_keys = [&](int64_t j0, float (&kr)[kUnroll][EPL], float (&vr)[kUnroll][EPL], int64_t below,
                         int64_t from) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            const int64_t j = j0 + u < key_end ? j0 + u : key_end - 1;  // past the end: a valid key, masked below
            if (j < from || j >= below) continue;
            const int64_t block = table[j / a.block_size];
            const int64_t base = (block * a.block_size + j % a.block_size) * kv_row + kvh * D;
            load_head<EPL, kF16>(a.k_cache, base, D, lane, kr[u]);
            load_head<EPL, kF16>(a.v_cache, base, D, lane, vr[u]);
        }
    };
    // Everything above came from the step's inputs, which the host wrote before the step. With one token per
    // sequence (a.early_keys), every key before pos was written by an earlier step too, so this warp's first keys
    // are loaded before the wait, overlapping the kernel that writes the current token's K/V (RoPE + KV write):
    // when this kernel starts, that kernel has passed its own wait, so everything before it is complete. The
    // current token's row is loaded after the wait.
    const int64_t j_first = key_begin + warp * kUnroll;
    float kr[kUnroll][EPL], vr[kUnroll][EPL];
    const bool early = a.early_keys && j_first < key_end;
    if (early) load_keys(j_first, kr, vr, pos, 0);
    begin_dependent_kernel();
    if (early) load_keys(j_first, kr, vr, INT64_MAX, pos);

    float q[kGroup][EPL];
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
#pragma unroll
        for (int i = 0; i < EPL; ++i) {
            const int64_t e = head_element(D, EPL, lane, i);
            q[g][i] = (g < gq && e < D) ? a.q[(t * a.heads + h0 + g) * D + e] * a.scale : 0.0f;
        }
    }
    float m[kGroup], l[kGroup], acc[kGroup][EPL];
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
        m[g] = -FLT_MAX;
        l[g] = 0.0f;
#pragma unroll
        for (int i = 0; i < EPL; ++i) acc[g][i] = 0.0f;
    }

    for (int64_t j0 = j_first; j0 < key_end; j0 += kWarps * kUnroll) {
        if (!early || j0 != j_first) load_keys(j0, kr, vr, INT64_MAX, 0);
#pragma unroll
        for (int g = 0; g < kGroup; ++g) {
            float sc[kUnroll];
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                float s = 0;
#pragma unroll
                for (int i = 0; i < EPL; ++i) s += q[g][i] * kr[u][i];
                sc[u] = s;
            }
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) sc[u] = warp_sum(sc[u]);
            float m_new = m[g];
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                if (a.softcap > 0) sc[u] = a.softcap * tanhf(sc[u] / a.softcap);
                if (j0 + u < key_end) m_new = fmaxf(m_new, sc[u]);
            }
            const float corr = __expf(m[g] - m_new);
            float p[kUnroll];
            float psum = 0;
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                p[u] = j0 + u < key_end ? __expf(sc[u] - m_new) : 0.0f;
                psum += p[u];
            }
            l[g] = l[g] * corr + psum;
            m[g] = m_new;
#pragma unroll
            for (int i = 0; i < EPL; ++i) {
                float v = acc[g][i] * corr;
#pragma unroll
                for (int u = 0; u < kUnroll; ++u) v += p[u] * vr[u][i];
                acc[g][i] = v;
            }
        }
    }

    // Merge the warps' running states through shared memory.
    __shared__ float s_ml[kWarps][kGroup][2];
    __shared__ float s_acc[kWarps][kGroup][EPL * 32];
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
        if (lane == 0) {
            s_ml[warp][g][0] = m[g];
            s_ml[warp][g][1] = l[g];
        }
#pragma unroll
        for (int i = 0; i < EPL; ++i) {
            const int64_t e = head_element(D, EPL, lane, i);
            if (e < D) s_acc[warp][g][e] = acc[g][i];
        }
    }
    __syncthreads();
    for (int64_t idx = threadIdx.x; idx < static_cast<int64_t>(gq) * D; idx += kThreads) {
        const int g = static_cast<int>(idx / D);
        const int64_t e = idx % D;
        float mm = -FLT_MAX;
        for (int w = 0; w < kWarps; ++w) mm = fmaxf(mm, s_ml[w][g][0]);
        float ll = 0, vv = 0;
        for (int w = 0; w < kWarps; ++w) {
            if (s_ml[w][g][1] == 0.0f) continue;  // a warp that saw no key
            const float f = __expf(s_ml[w][g][0] - mm);
            ll += s_ml[w][g][1] * f;
            vv += s_acc[w][g][e] * f;
        }
        const int64_t head = h0 + g;
        if (a.splits == 1) {
            a.out[(t * a.heads + head) * D + e] = ll > 0 ? vv / ll : 0.0f;
        } else {
            const int64_t slot = (t * a.heads + head) * a.splits + split;
            a.partial_acc[slot * D + e] = vv;
            if (e == 0) {
                a.partial_ml[slot * 2] = mm;
                a.partial_ml[slot * 2 + 1] = ll;
            }
        }
    }
}

// One block per (token, head): merges the splits' partial states. Warp 0 reads every split's (max, normalizer)
// at once (at most 64 splits, two per lane) and leaves each split's weight in shared memory; then each thread
// sums its head elements over the splits with independent loads.
constexpr int kMaxSplits = 64;

template <bool kQuant>
__global__ void attention_combine_kernel(AttentionLaunch a, QuantizedOut qo) {
    begin_dependent_kernel();
    const int64_t th = blockIdx.x;  // token * heads + head
    const int64_t D = a.head_dim;
    const float* ml = a.partial_ml + th * a.splits * 2;
    __shared__ float s_weight[kMaxSplits];
    __shared__ float s_norm;
    if (threadIdx.x < kWarpSize) {
        const int lane = threadIdx.x;
        float m[2], l[2];
#pragma unroll
        for (int k = 0; k < 2; ++k) {
            const int s = lane + k * kWarpSize;
            m[k] = s < a.splits ? ml[2 * s] : -FLT_MAX;
            l[k] = s < a.splits ? ml[2 * s + 1] : 0.0f;
        }
        float mm = -FLT_MAX;
#pragma unroll
        for (int k = 0; k < 2; ++k) {
            if (l[k] > 0) mm = fmaxf(mm, m[k]);
        }
        mm = warp_max(mm);
        float norm = 0;
#pragma unroll
        for (int k = 0; k < 2; ++k) {
            const int s = lane + k * kWarpSize;
            const float f = l[k] > 0 ? __expf(m[k] - mm) : 0.0f;
            if (s < a.splits) s_weight[s] = f;
            norm += l[k] * f;
        }
        norm = warp_sum(norm);
        if (lane == 0) s_norm = norm;
    }
    __syncthreads();
    const float inv = s_norm > 0 ? 1.0f / s_norm : 0.0f;
    for (int64_t e = threadIdx.x; e < D; e += blockDim.x) {
        float vv = 0;
#pragma unroll 8
        for (int s = 0; s < a.splits; ++s) vv += s_weight[s] * a.partial_acc[(th * a.splits + s) * D + e];
        vv *= inv;
        a.out[th * D + e] = vv;
        if constexpr (kQuant) {
            // D is a multiple of 32 and the block is whole warps, so each warp holds one whole 32-block of the row.
            const int64_t b = (th * D + e) / 32;
            quantize_block32_warp(vv, qo.q + th * D + e, qo.d + b, qo.sum + b);
        }
    }
}

template <int EPL>
void launch_epl(const AttentionLaunch& a, dim3 grid, cudaStream_t stream) {
    if (a.cache_f16) {
        launch_kernel(attention_kernel<EPL, true>, grid, kThreads, 0, stream, a);
    } else {
        launch_kernel(attention_kernel<EPL, false>, grid, kThreads, 0, stream, a);
    }
}

}  // namespace

bool attention_supported_head_dim(int64_t head_dim) { return head_dim >= 1 && head_dim <= 256; }

int attention_splits(int64_t n, int64_t heads, int64_t kv_heads, int64_t max_keys, int num_sms) {
    const int64_t blocks = n * kv_heads * ceil_div(heads / kv_heads, kGroup);
    // About three blocks per SM, of at least 16 keys each. Each block's cost is mostly its chain of dependent
    // loads (position, block table, keys), not its share of the keys, so more and shorter splits finish sooner.
    // Measured on the H200 (Llama-3-8B Q4_K, tg128 at depth 512): 2 blocks per SM / 32 keys 407 tok/s,
    // 3 / 16: 423, 4 / 16: 421, 4 / 8: 414; fewer splits cost more (at most 16 splits: 386, 8: 345).
    const int64_t want = ceil_div(3 * static_cast<int64_t>(num_sms), blocks);
    const int64_t useful = ceil_div(max_keys, 16);
    return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({want, useful, kMaxSplits})));
}

bool launch_attention(const AttentionLaunch& a, cudaStream_t stream, const QuantizedOut& out_q) {
    CHECK(attention_supported_head_dim(a.head_dim)) << "head_dim " << a.head_dim;
    if (a.n == 0) return false;
    const dim3 grid(static_cast<unsigned>(a.n),
                    static_cast<unsigned>(a.kv_heads * ceil_div(a.heads / a.kv_heads, kGroup)),
                    static_cast<unsigned>(a.splits));
    if (a.head_dim <= 32) {
        launch_epl<1>(a, grid, stream);
    } else if (a.head_dim <= 64) {
        launch_epl<2>(a, grid, stream);
    } else if (a.head_dim <= 128) {
        launch_epl<4>(a, grid, stream);
    } else {
        launch_epl<8>(a, grid, stream);
    }
    if (a.splits <= 1) return false;
    const auto blocks = static_cast<unsigned>(a.n * a.heads);
    if (out_q.q != nullptr && a.head_dim % 32 == 0) {
        launch_kernel(attention_combine_kernel<true>, blocks, 128, 0, stream, a, out_q);
        return true;
    }
    launch_kernel(attention_combine_kernel<false>, blocks, 128, 0, stream, a, QuantizedOut{});
    return false;
}

}  // namespace frugal::cuda
