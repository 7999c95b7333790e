// Multi-head latent attention (DeepSeek-V2/V3) in its weight-absorbed form: every query head attends over one
// shared cached latent c (kv_lora_rank wide) and rotary key p per token, score = scale * (q_latent . c + q_rope . p),
// and its output is the softmax-weighted sum of the latents (the per-head value projection comes after, in
// matmul_heads). Also copy_cols, which splits the per-head query and the compressed kv projection into parts.
//
// Grid: (token x head, split). Each block takes one contiguous slice of the token's visible keys; with one split it
// writes the normalized output, with several (decode, where tokens x heads alone would not fill the GPU) an
// unnormalized partial that a second kernel merges (as attention.cu). Keys are taken in chunks: the block's warps
// score a chunk's keys (one key per warp at a time, lanes across the latent) into shared memory, then every thread
// folds the chunk into its own slice of the latent accumulator with an online softmax (running max and normalizer).
// The fold's loads of the chunk's latents are independent of each other and unrolled, so many are in flight at once.
#include <algorithm>

#include "backend/cuda/cuda_kernels.cuh"

namespace frugal::cuda {
namespace {

constexpr int kWarps = 8;
constexpr int kThreads = kWarps * kWarpSize;
constexpr int kChunk = 64;                                     // keys scored per pass (<= kThreads)
constexpr int kLatentPerThread = kMaxMlaLatentDim / kThreads;  // accumulator elements per thread
constexpr int kMaxMlaSplits = 32;

template <bool kF16>
__device__ __forceinline__ float cache_load(const void* cache, int64_t i) {
    if constexpr (kF16) {
        return __half2float(static_cast<const __half*>(cache)[i]);
    } else {
        return static_cast<const float*>(cache)[i];
    }
}

// One lane's share of q . cache[row, 0:D) (q in shared memory): kLoadBatch loads per lane are issued before any is
// used, so a key's dot product waits on a few memory round trips rather than one per element.
constexpr int kLoadBatch = 8;

template <bool kF16>
__device__ __forceinline__ float dot_cached(const float* q, const void* cache, int64_t row, int64_t D, int lane) {
    float s = 0.0f;
    for (int64_t i0 = 0; i0 < D; i0 += kLoadBatch * kWarpSize) {
        float v[kLoadBatch];
#pragma unroll
        for (int u = 0; u < kLoadBatch; ++u) {
            const int64_t i = i0 + u * kWarpSize + lane;
            v[u] = i < D ? cache_load<kF16>(cache, row + i) : 0.0f;
        }
#pragma unroll
        for (int u = 0; u < kLoadBatch; ++u) {
            const int64_t i = i0 + u * kWarpSize + lane;
            if (i < D) s += q[i] * v[u];
        }
    }
    return s;
}

// One chunk's step of the online softmax, shared by both kernels and the same in every thread of the block: moves
// the running max m over scores[0, count). Unless every score so far is -inf (then it returns false: nothing to
// fold), it writes probs[k] = exp(scores[k] - m) for the chunk, synchronizes the block, and sets correction, the
// factor exp(old m - new m) that rescales what was accumulated before (0 while the old m was -inf).
__device__ __forceinline__ bool chunk_softmax(const float* scores, float* probs, int count, float& m,
                                              float& correction) {
    float chunk_max = -INFINITY;
    for (int k = 0; k < count; ++k) chunk_max = fmaxf(chunk_max, scores[k]);
    const float m_new = fmaxf(m, chunk_max);
    if (!(m_new > -INFINITY)) return false;
    if (threadIdx.x < count) probs[threadIdx.x] = expf(scores[threadIdx.x] - m_new);  // exp(-inf) = 0
    __syncthreads();
    correction = expf(m - m_new);
    m = m_new;
    return true;
}

template <bool kF16>
__global__ void __launch_bounds__(kThreads) mla_attention_kernel(MlaLaunch a) {
    extern __shared__ float q_smem[];  // q_latent [L], then q_rope [R]
    __shared__ float scores[kChunk];   // -inf: a position without a KV block
    __shared__ float probs[kChunk];
    __shared__ int64_t slots[kChunk];  // -1: a position without a KV block (probability 0)
    begin_dependent_kernel();
    const int64_t item = blockIdx.x;
    const int split = static_cast<int>(blockIdx.y);
    const int64_t t = item / a.heads;
    const int64_t L = a.latent_dim, R = a.rope_dim;
    float* ql = q_smem;
    float* qr = q_smem + L;
    for (int64_t i = threadIdx.x; i < L; i += kThreads) ql[i] = a.q_latent[item * L + i];
    for (int64_t i = threadIdx.x; i < R; i += kThreads) qr[i] = a.q_rope[item * R + i];
    __syncthreads();
    const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
    const int32_t* table = a.block_tables + static_cast<int64_t>(a.token_seq[t]) * a.max_blocks;
    const int64_t pos = a.positions[t];
    const int64_t lo = a.sliding_window > 0 ? max(int64_t{0}, pos - a.sliding_window + 1) : 0;
    const int64_t per_split = ceil_div(max(pos - lo + 1, int64_t{0}), a.splits);
    const int64_t begin = lo + split * per_split;
    const int64_t end = min(pos + 1, begin + per_split);
    float acc[kLatentPerThread] = {};
    float m = -INFINITY, l = 0.0f;
    for (int64_t base = begin; base < end; base += kChunk) {
        const int count = static_cast<int>(min(static_cast<int64_t>(kChunk), end - base));
        // The chunk's slots first, one thread per key, so scoring does not wait on the block table key after key.
        if (threadIdx.x < count) {
            const int64_t j = base + threadIdx.x;
            const int64_t block = table[j / a.block_size];
            slots[threadIdx.x] = block < 0 ? -1 : block * a.block_size + j % a.block_size;
        }
        __syncthreads();
        for (int k = warp; k < count; k += kWarps) {
            const int64_t slot = slots[k];
            if (slot < 0) {
                if (lane == 0) scores[k] = -INFINITY;
                continue;
            }
            float s = dot_cached<kF16>(ql, a.latent_cache, slot * L, L, lane) +
                      dot_cached<kF16>(qr, a.rope_cache, slot * R, R, lane);
            s = warp_sum(s) * a.scale;
            if (a.softcap > 0.0f) s = a.softcap * tanhf(s / a.softcap);
            if (lane == 0) scores[k] = s;
        }
        __syncthreads();
        // Every thread gets the same result, so the branch is uniform across the block.
        float correction;
        if (chunk_softmax(scores, probs, count, m, correction)) {
            l *= correction;
#pragma unroll
            for (int e = 0; e < kLatentPerThread; ++e) acc[e] *= correction;
#pragma unroll 8
            for (int k = 0; k < count; ++k) {
                const float p = probs[k];
                const int64_t row = max(slots[k], int64_t{0}) * L;  // no block: probability 0
                l += p;
#pragma unroll
                for (int e = 0; e < kLatentPerThread; ++e) {
                    const int64_t i = threadIdx.x + static_cast<int64_t>(e) * kThreads;
                    if (i < L) acc[e] += p * cache_load<kF16>(a.latent_cache, row + i);
                }
            }
        }
        __syncthreads();  // the next chunk overwrites scores, probs and slots
    }
    if (a.splits == 1) {
#pragma unroll
        for (int e = 0; e < kLatentPerThread; ++e) {
            const int64_t i = threadIdx.x + static_cast<int64_t>(e) * kThreads;
            if (i < L) a.out[item * L + i] = l > 0.0f ? acc[e] / l : 0.0f;
        }
        return;
    }
    const int64_t part = item * a.splits + split;
#pragma unroll
    for (int e = 0; e < kLatentPerThread; ++e) {
        const int64_t i = threadIdx.x + static_cast<int64_t>(e) * kThreads;
        if (i < L) a.partial_acc[part * L + i] = acc[e];
    }
    if (threadIdx.x == 0) {
        a.partial_ml[2 * part] = m;
        a.partial_ml[2 * part + 1] = l;
    }
}

// The same contract for F16 caches whose latent and rotary widths are multiples of 8 (DeepSeek-V2/V3: 512 and 64),
// with 16-byte loads throughout and all of a key's loads in flight at once:
//  - scoring: a warp takes two keys at a time, each lane reading 16 bytes per 256 latent elements and one 16-byte
//    piece of the rotary part, so a pair of keys waits on one round trip instead of several per key;
//  - folding: thread i owns 8 latent elements (i % (L / 8)) for every (kThreads / (L / 8))-th key of the chunk, so
//    its loads are 16 bytes and independent; the key groups are summed through shared memory at the end.
// Index math is 32-bit (the 64-bit divisions of mla_attention_kernel are software routines).
__device__ __forceinline__ float dot8(const float* q, const uint4& raw) {
    const __half2* h = reinterpret_cast<const __half2*>(&raw);
    float s = 0.0f;
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float2 f = __half22float2(h[i]);
        s = fmaf(q[2 * i], f.x, s);
        s = fmaf(q[2 * i + 1], f.y, s);
    }
    return s;
}

constexpr int kMaxLatentVectorsPerLane = static_cast<int>(kMaxMlaLatentDim / 8 / kWarpSize);

__global__ void __launch_bounds__(kThreads) mla_attention_f16_kernel(MlaLaunch a) {
    extern __shared__ float q_smem[];  // q_latent [L], then q_rope [R]
    __shared__ float scores[kChunk];   // -inf: a position without a KV block
    __shared__ float probs[kChunk];
    __shared__ int slots[kChunk];      // -1: a position without a KV block (probability 0)
    __shared__ float group_acc[kThreads * 8];
    begin_dependent_kernel();
    const int item = blockIdx.x;
    const int split = static_cast<int>(blockIdx.y);
    const int t = item / static_cast<int>(a.heads);
    const int L = static_cast<int>(a.latent_dim), R = static_cast<int>(a.rope_dim);
    const int vl = L / 8, vr = R / 8;  // 16-byte vectors per cached row
    float* ql = q_smem;
    float* qr = q_smem + L;
    for (int i = threadIdx.x; i < L; i += kThreads) ql[i] = a.q_latent[static_cast<int64_t>(item) * L + i];
    for (int i = threadIdx.x; i < R; i += kThreads) qr[i] = a.q_rope[static_cast<int64_t>(item) * R + i];
    __syncthreads();
    const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
    const int32_t* table = a.block_tables + static_cast<int64_t>(a.token_seq[t]) * a.max_blocks;
    const int bs = static_cast<int>(a.block_size);
    const int pos = a.positions[t];
    const int lo = a.sliding_window > 0 ? max(0, pos - a.sliding_window + 1) : 0;
    const int per_split = (max(pos - lo + 1, 0) + a.splits - 1) / a.splits;
    const int begin = lo + split * per_split;
    const int end = min(pos + 1, begin + per_split);
    const uint4* latent = static_cast<const uint4*>(a.latent_cache);
    const uint4* rope = static_cast<const uint4*>(a.rope_cache);
    // This thread's part of the fold: latent vector c of every groups-th key from key g of a chunk.
    const int groups = kThreads / vl;
    const int c = threadIdx.x % vl, g = threadIdx.x / vl;
    const bool folds = g < groups;
    float acc[8] = {};
    float m = -INFINITY, l = 0.0f;
    for (int base = begin; base < end; base += kChunk) {
        const int count = min(kChunk, end - base);
        if (threadIdx.x < count) {
            const int j = base + threadIdx.x;
            const int block = table[j / bs];
            slots[threadIdx.x] = block < 0 ? -1 : block * bs + j % bs;
        }
        __syncthreads();
        for (int k0 = warp; k0 < count; k0 += 2 * kWarps) {
            int slot[2];
            slot[0] = slots[k0];
            slot[1] = k0 + kWarps < count ? slots[k0 + kWarps] : -1;
            uint4 lv[2][kMaxLatentVectorsPerLane], rv[2];
#pragma unroll
            for (int u = 0; u < 2; ++u) {
                const int64_t s = max(slot[u], 0);
#pragma unroll
                for (int i = 0; i < kMaxLatentVectorsPerLane; ++i) {
                    const int v = lane + i * kWarpSize;
                    if (slot[u] >= 0 && v < vl) lv[u][i] = latent[s * vl + v];
                }
                if (slot[u] >= 0 && lane < vr) rv[u] = rope[s * vr + lane];
            }
#pragma unroll
            for (int u = 0; u < 2; ++u) {
                float s = 0.0f;
#pragma unroll
                for (int i = 0; i < kMaxLatentVectorsPerLane; ++i) {
                    const int v = lane + i * kWarpSize;
                    if (slot[u] >= 0 && v < vl) s += dot8(ql + 8 * v, lv[u][i]);
                }
                if (slot[u] >= 0 && lane < vr) s += dot8(qr + 8 * lane, rv[u]);
                s = warp_sum(s) * a.scale;
                if (a.softcap > 0.0f) s = a.softcap * tanhf(s / a.softcap);
                const int k = k0 + u * kWarps;
                if (lane == 0 && k < count) scores[k] = slot[u] < 0 ? -INFINITY : s;
            }
        }
        __syncthreads();
        // Every thread gets the same result, so the branch is uniform across the block.
        float correction;
        if (chunk_softmax(scores, probs, count, m, correction)) {
            float chunk_sum = 0.0f;
            for (int k = 0; k < count; ++k) chunk_sum += probs[k];
            l = l * correction + chunk_sum;
#pragma unroll
            for (int e = 0; e < 8; ++e) acc[e] *= correction;
            if (folds) {
#pragma unroll 4
                for (int k = g; k < count; k += groups) {
                    const int slot = slots[k];
                    if (slot < 0) continue;  // no block: probability 0
                    const uint4 raw = latent[static_cast<int64_t>(slot) * vl + c];
                    const float p = probs[k];
                    const __half2* h = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
                    for (int i = 0; i < 4; ++i) {
                        const float2 f = __half22float2(h[i]);
                        acc[2 * i] = fmaf(p, f.x, acc[2 * i]);
                        acc[2 * i + 1] = fmaf(p, f.y, acc[2 * i + 1]);
                    }
                }
            }
        }
        __syncthreads();  // the next chunk overwrites scores, probs and slots
    }
    if (folds) {
#pragma unroll
        for (int e = 0; e < 8; ++e) group_acc[g * L + 8 * c + e] = acc[e];
    }
    __syncthreads();
    const int64_t part = static_cast<int64_t>(item) * a.splits + split;
    for (int i = threadIdx.x; i < L; i += kThreads) {
        float v = 0.0f;
        for (int k = 0; k < groups; ++k) v += group_acc[k * L + i];
        if (a.splits == 1) {
            a.out[static_cast<int64_t>(item) * L + i] = l > 0.0f ? v / l : 0.0f;
        } else {
            a.partial_acc[part * L + i] = v;
        }
    }
    if (a.splits > 1 && threadIdx.x == 0) {
        a.partial_ml[2 * part] = m;
        a.partial_ml[2 * part + 1] = l;
    }
}

// out = the splits' partials rescaled to their common maximum, over the sum of their normalizers.
__global__ void __launch_bounds__(kThreads) mla_combine_kernel(MlaLaunch a) {
    begin_dependent_kernel();
    const int64_t item = blockIdx.x;
    const int64_t L = a.latent_dim;
    const float* ml = a.partial_ml + 2 * item * a.splits;
    float mx = -INFINITY;
    for (int s = 0; s < a.splits; ++s) {
        if (ml[2 * s + 1] > 0.0f) mx = fmaxf(mx, ml[2 * s]);
    }
    float den = 0.0f;
    for (int s = 0; s < a.splits; ++s) {
        if (ml[2 * s + 1] > 0.0f) den += expf(ml[2 * s] - mx) * ml[2 * s + 1];
    }
    for (int64_t i = threadIdx.x; i < L; i += kThreads) {
        float v = 0.0f;
        for (int s = 0; s < a.splits; ++s) {
            if (ml[2 * s + 1] > 0.0f) v += expf(ml[2 * s] - mx) * a.partial_acc[(item * a.splits + s) * L + i];
        }
        a.out[item * L + i] = den > 0.0f ? v / den : 0.0f;
    }
}

__global__ void copy_cols_kernel(const float* src, int64_t src_width, int64_t offset, int64_t rows, int64_t width,
                                 float* dst) {
    begin_dependent_kernel();
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= rows * width) return;
    dst[i] = src[(i / width) * src_width + offset + i % width];
}

}  // namespace

void launch_copy_cols(const float* src, int64_t src_width, int64_t offset, int64_t rows, int64_t width, float* dst,
                      cudaStream_t stream) {
    CHECK(offset >= 0 && offset + width <= src_width) << "columns " << offset << "+" << width << " of " << src_width;
    if (rows * width == 0) return;
    constexpr int kElementThreads = 256;
    launch_kernel(copy_cols_kernel, static_cast<unsigned>(ceil_div(rows * width, kElementThreads)), kElementThreads, 0,
                  stream, src, src_width, offset, rows, width, dst);
}

int mla_attention_splits(int64_t n, int64_t heads, int64_t max_keys, int num_sms) {
    // About two blocks per SM, of at least 32 keys each (attention_splits' reasoning: a block's time is mostly
    // its chain of dependent loads, so more and shorter slices finish sooner, up to a point). Depends on the block
    // table's width, not on the sequence lengths, so a recorded decode graph stays valid as sequences grow. Measured
    // on the H200 with mla_attention_f16_kernel (DeepSeek-V2-Lite Q4_K, tg128, tok/s): 2 per SM 422 / 358 at depth
    // 0 / 512, 3 per SM 424 / 342.
    const int64_t want = ceil_div(2 * static_cast<int64_t>(num_sms), n * heads);
    const int64_t useful = ceil_div(max_keys, 32);
    return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({want, useful, kMaxMlaSplits})));
}

void launch_mla_attention(const MlaLaunch& a, cudaStream_t stream) {
    CHECK(a.latent_dim >= 1 && a.latent_dim <= kMaxMlaLatentDim) << "latent dim " << a.latent_dim;
    CHECK(a.rope_dim >= 0 && a.rope_dim <= kMaxMlaRopeDim) << "rotary dim " << a.rope_dim;
    CHECK(a.splits >= 1 && a.splits <= kMaxMlaSplits) << a.splits << " splits";
    CHECK(a.splits == 1 || (a.partial_acc != nullptr && a.partial_ml != nullptr));
    if (a.n * a.heads == 0) return;
    const size_t smem = static_cast<size_t>(a.latent_dim + a.rope_dim) * sizeof(float);
    const dim3 grid(static_cast<unsigned>(a.n * a.heads), static_cast<unsigned>(a.splits));
    if (a.cache_f16 && a.latent_dim % 8 == 0 && a.rope_dim % 8 == 0 && aligned16(a.latent_cache) &&
        aligned16(a.rope_cache)) {
        launch_kernel(mla_attention_f16_kernel, grid, kThreads, smem, stream, a);
    } else if (a.cache_f16) {
        launch_kernel(mla_attention_kernel<true>, grid, kThreads, smem, stream, a);
    } else {
        launch_kernel(mla_attention_kernel<false>, grid, kThreads, smem, stream, a);
    }
    if (a.splits > 1) {
        launch_kernel(mla_combine_kernel, static_cast<unsigned>(a.n * a.heads), kThreads, 0, stream, a);
    }
}

}  // namespace frugal::cuda
