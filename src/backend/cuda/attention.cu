// Paged attention with split-KV: each query token attends to its sequence's cached keys, read through the block
// table, with an online softmax (running max and normalizer) so scores are never stored.
//
// Grid: (token, kv head x query-head group, split). One block handles up to kGroup query heads that share a KV
// head (GQA/MQA: each K/V row is loaded once for the whole group) over one contiguous slice of the visible key
// range; its 4 warps take every 4th key of the slice. With one split the block writes the normalized output;
// with several (decode, where tokens x heads alone would not fill the GPU), each writes an unnormalized partial
// and a second kernel merges the slices. Launch shapes depend only on (n, heads, splits), not on the context
// length, so a decode step can be captured once in a CUDA graph and replayed as the sequence grows.
//
// Two kernels share that contract: attention_f16_kernel for F16 caches with head_dim a power of two up to 256 (the
// engine's default cache and every common head size), and the general attention_kernel (F32 caches, other widths).
#include <algorithm>
#include <cfloat>
#include <cstdint>

#include "backend/cuda/cuda_kernels.cuh"

namespace frugal::cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * kWarpSize;
constexpr int kGroup = 4;  // query heads per block
constexpr int kMaxSplits = 64;

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

// The end of both split-KV kernels: merges the block's warps' running states of query heads h0 .. h0 + gq - 1
// (s_ml: each warp's max and normalizer; s_acc: its unnormalized sums, head element e at [e]) and writes the
// normalized output (one split) or this split's partial state for the merge kernel.
template <int kWidth>
__device__ __forceinline__ void store_block_result(const AttentionLaunch& a, const float (&s_ml)[kWarps][kGroup][2],
                                                   const float (&s_acc)[kWarps][kGroup][kWidth], int64_t t,
                                                   int64_t h0, int gq, int split, int D) {
    for (int idx = threadIdx.x; idx < gq * D; idx += kThreads) {
        const int g = idx / D, e = idx % D;
        float mm = -FLT_MAX;
        for (int w = 0; w < kWarps; ++w) {
            if (s_ml[w][g][1] > 0) mm = fmaxf(mm, s_ml[w][g][0]);
        }
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
    const int64_t per_split = max(ceil_div(num_keys, a.splits), static_cast<int64_t>(a.min_split_keys));
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
    store_block_result(a, s_ml, s_acc, t, h0, gq, split, static_cast<int>(D));
}

// The split-KV kernel for F16 caches whose head_dim is a power of two from 8 to 256 (every model frugal runs but
// those with 80- or 96-wide heads). Each lane owns 8 consecutive head elements, so a key's row is kLanes = D / 8
// lanes reading 16 bytes each, and a warp works on 32 / kLanes keys at once; a score is reduced over kLanes lanes
// (log2(kLanes) shuffles) instead of the whole warp. The index math is 32-bit (a 64-bit division is a software
// routine of ~100 instructions), and the key loop is pipelined: a pass's rows are issued before the previous
// pass's arithmetic and its block-table entries one pass earlier still, so a pass waits on neither. Writes the same
// output and partial states as attention_kernel.
template <int kLanes>
__global__ void __launch_bounds__(kThreads) attention_f16_kernel(AttentionLaunch a, int block_shift) {
    constexpr int kD = kLanes * 8;
    constexpr int kSlots = kWarpSize / kLanes;  // keys a warp reads at once
    constexpr int kUnroll = 2;                  // such sets per pass
    constexpr int kWarpKeys = kSlots * kUnroll;
    constexpr int kBlockKeys = kWarps * kWarpKeys;
    const int t = blockIdx.x;
    const int group = static_cast<int>(a.heads / a.kv_heads);
    const int groups_per_kv = (group + kGroup - 1) / kGroup;
    const int kvh = static_cast<int>(blockIdx.y) / groups_per_kv;
    const int h0 = kvh * group + (static_cast<int>(blockIdx.y) % groups_per_kv) * kGroup;
    const int gq = min(kGroup, kvh * group + group - h0);
    const int split = blockIdx.z;
    const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
    const int slot = lane / kLanes, part = lane % kLanes;  // the key this lane reads; its 8 elements of the row
    const int bs = static_cast<int>(a.block_size);

    const int pos = a.positions[t];
    const int lo = a.sliding_window > 0 ? max(0, pos - a.sliding_window + 1) : 0;
    const int per_split = max((pos - lo + 1 + a.splits - 1) / a.splits, a.min_split_keys);
    const int key_begin = lo + split * per_split;
    const int key_end = min(key_begin + per_split, pos + 1);
    const int32_t* table = a.block_tables + static_cast<int64_t>(a.token_seq[t]) * a.max_blocks;
    const int kv_row = static_cast<int>(a.kv_heads) * kD;
    const __half* k_cache = static_cast<const __half*>(a.k_cache) + kvh * kD + part * 8;
    const __half* v_cache = static_cast<const __half*>(a.v_cache) + kvh * kD + part * 8;

    // Key u of this lane in the pass starting at j0; key() clamps past the end to the last key (a valid row, masked
    // below).
    auto key_unclamped = [&](int j0, int u) { return j0 + warp * kWarpKeys + u * kSlots + slot; };
    auto key = [&](int j0, int u) { return min(key_unclamped(j0, u), key_end - 1); };
    auto block_of = [&](int j) { return block_shift >= 0 ? j >> block_shift : j / bs; };
    auto in_block = [&](int j) { return block_shift >= 0 ? j & (bs - 1) : j % bs; };
    auto load_entries = [&](int j0, int (&entry)[kUnroll]) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) entry[u] = table[block_of(key(j0, u))];
    };
    auto load_row = [&](int j, int entry, uint4& kr, uint4& vr) {
        const int64_t row = static_cast<int64_t>(entry * bs + in_block(j)) * kv_row;
        kr = *reinterpret_cast<const uint4*>(k_cache + row);
        vr = *reinterpret_cast<const uint4*>(v_cache + row);
    };
    auto load_rows = [&](int j0, const int (&entry)[kUnroll], uint4 (&kr)[kUnroll], uint4 (&vr)[kUnroll]) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) load_row(key(j0, u), entry[u], kr[u], vr[u]);
    };

    // Before the wait: the block table (a step input) and, with one token per sequence (a.early_keys), the first
    // pass's rows before pos, which earlier steps wrote (see attention_kernel).
    const bool any = key_begin < key_end;
    int entry[kUnroll] = {}, next_entry[kUnroll] = {};
    uint4 kr[kUnroll], vr[kUnroll], next_kr[kUnroll], next_vr[kUnroll];
    if (any) {
        load_entries(key_begin, entry);
        if (a.early_keys) {
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                if (key(key_begin, u) < pos) load_row(key(key_begin, u), entry[u], kr[u], vr[u]);
            }
        }
        load_entries(key_begin + kBlockKeys, next_entry);
    }
    begin_dependent_kernel();
    if (any) {
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            if (!a.early_keys || key(key_begin, u) >= pos) load_row(key(key_begin, u), entry[u], kr[u], vr[u]);
        }
    }

    float q[kGroup][8];
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
        const int head = h0 + min(g, gq - 1);
        const float4* p = reinterpret_cast<const float4*>(a.q + (static_cast<int64_t>(t) * a.heads + head) * kD +
                                                          part * 8);
        const float4 x = p[0], y = p[1];
        const float s = g < gq ? a.scale : 0.0f;
        q[g][0] = x.x * s, q[g][1] = x.y * s, q[g][2] = x.z * s, q[g][3] = x.w * s;
        q[g][4] = y.x * s, q[g][5] = y.y * s, q[g][6] = y.z * s, q[g][7] = y.w * s;
    }
    float m[kGroup], l[kGroup], acc[kGroup][8];
#pragma unroll
    for (int g = 0; g < kGroup; ++g) {
        m[g] = -FLT_MAX;
        l[g] = 0.0f;
#pragma unroll
        for (int i = 0; i < 8; ++i) acc[g][i] = 0.0f;
    }

    for (int j0 = key_begin; j0 < key_end; j0 += kBlockKeys) {
        const bool more = j0 + kBlockKeys < key_end;
        if (more) {
            load_rows(j0 + kBlockKeys, next_entry, next_kr, next_vr);
            load_entries(j0 + 2 * kBlockKeys, next_entry);
        }
        float k[kUnroll][8], v[kUnroll][8];
        bool valid[kUnroll];
#pragma unroll
        for (int u = 0; u < kUnroll; ++u) {
            valid[u] = key_unclamped(j0, u) < key_end;
            const __half2* kh = reinterpret_cast<const __half2*>(&kr[u]);
            const __half2* vh = reinterpret_cast<const __half2*>(&vr[u]);
#pragma unroll
            for (int i = 0; i < 4; ++i) {
                const float2 kf = __half22float2(kh[i]), vf = __half22float2(vh[i]);
                k[u][2 * i] = kf.x, k[u][2 * i + 1] = kf.y;
                v[u][2 * i] = vf.x, v[u][2 * i + 1] = vf.y;
            }
        }
#pragma unroll
        for (int g = 0; g < kGroup; ++g) {
            float s[kUnroll];
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                float d = 0;
#pragma unroll
                for (int i = 0; i < 8; ++i) d = fmaf(q[g][i], k[u][i], d);
#pragma unroll
                for (int o = kLanes / 2; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
                if (a.softcap > 0) d = a.softcap * tanhf(d / a.softcap);
                s[u] = d;
            }
            float m_new = m[g];
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                if (valid[u]) m_new = fmaxf(m_new, s[u]);
            }
            const float corr = __expf(m[g] - m_new);
            float p[kUnroll], psum = 0;
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                p[u] = valid[u] ? __expf(s[u] - m_new) : 0.0f;
                psum += p[u];
            }
            l[g] = l[g] * corr + psum;
            m[g] = m_new;
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                float x = acc[g][i] * corr;
#pragma unroll
                for (int u = 0; u < kUnroll; ++u) x = fmaf(p[u], v[u][i], x);
                acc[g][i] = x;
            }
        }
        if (more) {
#pragma unroll
            for (int u = 0; u < kUnroll; ++u) {
                kr[u] = next_kr[u];
                vr[u] = next_vr[u];
            }
        }
    }

    // Merge the warp's key slots (lanes kLanes apart hold the same elements of different keys) by shuffles, then
    // the warps through shared memory.
#pragma unroll
    for (int o = kLanes; o < kWarpSize; o <<= 1) {
#pragma unroll
        for (int g = 0; g < kGroup; ++g) {
            const float m_other = __shfl_xor_sync(0xffffffffu, m[g], o);
            const float l_other = __shfl_xor_sync(0xffffffffu, l[g], o);
            const float mm = fmaxf(m[g], m_other);
            const float f_self = l[g] > 0 ? __expf(m[g] - mm) : 0.0f;
            const float f_other = l_other > 0 ? __expf(m_other - mm) : 0.0f;
#pragma unroll
            for (int i = 0; i < 8; ++i) {
                const float other = __shfl_xor_sync(0xffffffffu, acc[g][i], o);
                acc[g][i] = acc[g][i] * f_self + other * f_other;
            }
            l[g] = l[g] * f_self + l_other * f_other;
            m[g] = mm;
        }
    }
    __shared__ float s_ml[kWarps][kGroup][2];
    __shared__ float s_acc[kWarps][kGroup][kD];
    if (slot == 0) {
#pragma unroll
        for (int g = 0; g < kGroup; ++g) {
            if (part == 0) {
                s_ml[warp][g][0] = m[g];
                s_ml[warp][g][1] = l[g];
            }
#pragma unroll
            for (int i = 0; i < 8; ++i) s_acc[warp][g][part * 8 + i] = acc[g][i];
        }
    }
    __syncthreads();
    store_block_result(a, s_ml, s_acc, t, h0, gq, split, kD);
}

// One block per (token, head): merges the splits' partial states. Each thread first issues the loads of its first
// head element's partials in every split (at most 64, all in flight at once); meanwhile warp 0 reads every split's
// (max, normalizer), two per lane, and leaves each split's weight in shared memory. So the merge waits on one
// round trip to L2, not one per batch of splits.
template <bool kQuant>
__global__ void attention_combine_kernel(AttentionLaunch a, QuantizedOut qo) {
    begin_dependent_kernel();
    const int64_t th = blockIdx.x;  // token * heads + head
    const int64_t D = a.head_dim;
    const float* ml = a.partial_ml + th * a.splits * 2;
    const float* acc = a.partial_acc + th * a.splits * D;
    float part[kMaxSplits];
    auto load_parts = [&](int64_t e) {
#pragma unroll
        for (int s = 0; s < kMaxSplits; ++s) part[s] = s < a.splits && e < D ? acc[s * D + e] : 0.0f;
    };
    load_parts(threadIdx.x);
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
            if (s < kMaxSplits) s_weight[s] = s < a.splits ? f : 0.0f;
            norm += l[k] * f;
        }
        norm = warp_sum(norm);
        if (lane == 0) s_norm = norm;
    }
    __syncthreads();
    const float inv = s_norm > 0 ? 1.0f / s_norm : 0.0f;
    for (int64_t e = threadIdx.x; e < D; e += blockDim.x) {
        if (e != threadIdx.x) load_parts(e);
        float vv = 0;
#pragma unroll
        for (int s = 0; s < kMaxSplits; ++s) vv += s_weight[s] * part[s];
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
    // About two blocks per SM when the context is long, and at least kAttentionMinSplitKeys keys per split (the
    // kernels take that many keys per split even when it leaves the last splits empty, so short contexts use fewer
    // blocks). Measured on the H200 with attention_f16_kernel (Llama-3-8B Q4_K, tg128 at depths 512 / 2048 / 4096,
    // tok/s): 2 blocks per SM 487 / 462 / 436; 3: 476 / 441 / 413; 4: 470 / 420 / 400; at least 16 keys per split
    // instead of 32: 483 / 461 / 436; 1 block per SM with 16: 490 at 512 but 402 at 4096.
    const int64_t want = ceil_div(2 * static_cast<int64_t>(num_sms), blocks);
    const int64_t useful = ceil_div(max_keys, kAttentionMinSplitKeys);
    return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({want, useful, kMaxSplits})));
}

bool launch_attention(const AttentionLaunch& a, cudaStream_t stream, const QuantizedOut& out_q) {
    CHECK(attention_supported_head_dim(a.head_dim)) << "head_dim " << a.head_dim;
    if (a.n == 0) return false;
    const dim3 grid(static_cast<unsigned>(a.n),
                    static_cast<unsigned>(a.kv_heads * ceil_div(a.heads / a.kv_heads, kGroup)),
                    static_cast<unsigned>(a.splits));
    const bool f16_kernel = a.cache_f16 && a.head_dim >= 8 && a.head_dim <= 256 &&
                            (a.head_dim & (a.head_dim - 1)) == 0 && aligned16(a.q) && aligned16(a.k_cache) &&
                            aligned16(a.v_cache);
    if (f16_kernel) {
        const bool pow2 = (a.block_size & (a.block_size - 1)) == 0;
        const int shift = pow2 ? __builtin_ctzll(static_cast<unsigned long long>(a.block_size)) : -1;
        switch (a.head_dim) {
            case 8: launch_kernel(attention_f16_kernel<1>, grid, kThreads, 0, stream, a, shift); break;
            case 16: launch_kernel(attention_f16_kernel<2>, grid, kThreads, 0, stream, a, shift); break;
            case 32: launch_kernel(attention_f16_kernel<4>, grid, kThreads, 0, stream, a, shift); break;
            case 64: launch_kernel(attention_f16_kernel<8>, grid, kThreads, 0, stream, a, shift); break;
            case 128: launch_kernel(attention_f16_kernel<16>, grid, kThreads, 0, stream, a, shift); break;
            default: launch_kernel(attention_f16_kernel<32>, grid, kThreads, 0, stream, a, shift); break;
        }
    } else if (a.head_dim <= 32) {
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
