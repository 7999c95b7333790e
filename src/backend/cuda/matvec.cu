// Matrix-vector (and matrix-small-batch) products: y[t][o] = sum_i w[o][i] x[t][i] for up to 16 tokens.
//
// Decode reads every weight once per step, so these kernels are built around the weight stream: one warp per
// output row, each lane reading 16 aligned bytes per step (a warp moves 512 contiguous bytes), dequantizing in
// registers. Quantized weights meet int8 activations (quantized per 32 beforehand) in dp4a dot products, four
// multiply-adds per instruction, so the arithmetic stays below the memory time even at 4.5 bits per weight; the
// per-block scales are applied once per 16 or 32 products. Each token's partial sum stays in a register of every
// lane and is reduced across the warp at the end; the weights are read once for all tokens of the batch.
#include <algorithm>

#include "backend/cuda/matvec_dot.cuh"

namespace frugal::cuda {
namespace {

constexpr int kRowsPerBlock = 4;  // warps per block, one output row each
constexpr int kThreads = kRowsPerBlock * kWarpSize;

// Starts the first bytes of row `row` (of its quant plane; the small scale planes are left to the loads) on their
// way into L2 with one request, before the kernel waits for its inputs. Capped at kPrefetchBytes per row: every
// resident warp of this kernel and, under programmatic launch, of the next one prefetches, and whole rows (28 KB for
// a BF16 row of 14336) would overflow L2 and be fetched twice (measured: BF16 decode 186 -> 160 tok/s uncapped).
constexpr int64_t kPrefetchBytes = 1024;

__device__ __forceinline__ void prefetch_span(const uint8_t* p, int64_t bytes) {
    prefetch_l2(p, static_cast<uint32_t>(bytes < kPrefetchBytes ? bytes : kPrefetchBytes));
}

template <WeightFormat F>
__device__ __forceinline__ void prefetch_row(const WeightView& w, int64_t row) {
    const int64_t K = w.cols;
    if constexpr (F == WeightFormat::kQ8) {
        prefetch_span(w.data + row * K, K);
    } else if constexpr (F == WeightFormat::kQ4_0) {
        prefetch_span(w.data + row * (K / 2), K / 2);
    } else if constexpr (F == WeightFormat::kQ4K || F == WeightFormat::kQ5K) {
        const int64_t bytes = K / 256 * (F == WeightFormat::kQ4K ? 144 : 176);
        prefetch_span(w.data + row * bytes, bytes);
    } else if constexpr (F == WeightFormat::kQ6K) {
        prefetch_span(w.data + row * (K / 256) * 128, (K / 256) * 128);
    } else {
        const int64_t bytes = K * (F == WeightFormat::kF32 ? 4 : 2);
        if (bytes % 16 == 0) prefetch_span(w.data + row * bytes, bytes);
    }
}

// One launch for up to three products over the same input (rows of the products are stacked: warp w takes
// flat row w), or, in GLU mode, for gate and up together: a warp computes gate row o and up row o and writes
// act(gate) * up, so neither intermediate reaches memory.
// Rows per warp of the stacked (non-GLU) products. Two for the K-quants, whose rows are short in bytes (Q4_K 4096
// wide: 2.3 KB); measured on the H200, two rows per warp made Q4_K decode 371 -> 379 tok/s but Q8_0 306 -> 287 and
// BF16 214 -> 205 (their higher register count cost more occupancy than the second row gained).
template <WeightFormat F>
constexpr int kStackedRows = F == WeightFormat::kQ4K || F == WeightFormat::kQ5K ? 2 : 1;

// The rope epilogue's angle for the pair whose first row is r (even) of matrix mat (0 q, 1 k, 2 v): (1, 0) where
// nothing rotates. It depends only on the step's position (written before the step) and the constant frequency
// factors, so the kernels compute it before waiting on their input.
__device__ __forceinline__ float2 rope_pair_angle(const RopeEpilogue& rope, int mat, int64_t r) {
    float cs = 1.0f, sn = 0.0f;
    const int e = static_cast<int>(r % rope.head_dim);
    if (mat < 2 && e < rope.n_rot) {
        rope_cos_sin(rope.positions[0], e / 2, rope.n_rot, rope.freq_base, rope.freq_scale, rope.factors, &cs, &sn);
    }
    return make_float2(cs, sn);
}

// Writes rows r, r + 1 (r even) of matrix mat as launch_rope_store_kv leaves them: q and k rotated by `angle` (their
// first n_rot elements of each head), k and v also into the caches at the token's slot.
__device__ __forceinline__ void rope_pair_store(const RopeEpilogue& rope, const MatvecJob& job, int mat, int64_t r,
                                                float a, float b, float2 angle) {
    if (mat < 2 && r % rope.head_dim < rope.n_rot) rope_rotate(angle.x, angle.y, &a, &b);
    float* y = mat == 0 ? job.y[0] : mat == 1 ? job.y[1] : job.y[2];
    y[r] = a;
    y[r + 1] = b;
    if (mat == 0) return;
    const int64_t dst = static_cast<int64_t>(rope.slots[0]) * (mat == 1 ? job.w[1].rows : job.w[2].rows) + r;
    void* cache = mat == 1 ? rope.k_cache : rope.v_cache;
    if (rope.cache_f16) {
        *reinterpret_cast<__half2*>(static_cast<__half*>(cache) + dst) = __floats2half2_rn(a, b);
    } else {
        *reinterpret_cast<float2*>(static_cast<float*>(cache) + dst) = make_float2(a, b);
    }
}

// kGlu is a template parameter so the stacked products keep the smaller register footprint (higher occupancy) of
// the one-row path; the GLU path reads its two rows together.
// kRope (one token, two rows per warp): the q/k/v products with launch_rope_store_kv's work in the epilogue. A warp's
// rows 2i and 2i + 1 are an adjacent pair of one head (every row count is even): lane 0 rotates and stores them.
// BF16 takes two rows a warp in this form only; its other stacked products keep one row. Measured on an H100 (tg128
// @ d512, two rounds each; docs/perf/h200.md, twenty-eighth session): two rows for all BF16 stacked products lost
// 3.5%, and the epilogue on top of them won 0.7% back; two rows in the q/k/v product with the epilogue only, +0.7%
// over the separate rope_store_kv kernel.
template <int NT, WeightFormat F, bool kGlu, bool kRope = false>
__global__ void __launch_bounds__(kThreads) matvec_kernel(MatvecJob job, QuantizedActivations xq, const float* xf,
                                                          int n, RopeEpilogue rope) {
    const int64_t row = blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x / kWarpSize;
    const int lane = threadIdx.x % kWarpSize;
    if constexpr (kGlu) {
        const int64_t rows = job.w[0].rows;
        if (row < rows && lane == 0) {
            prefetch_row<F>(job.w[0], row);
            prefetch_row<F>(job.w[1], row);
        }
        begin_dependent_kernel();
        if (row >= rows) return;
        float gu[2][NT] = {};
        const WeightView ws[2] = {job.w[0], job.w[1]};
        const int64_t rows2[2] = {row, row};
        rows_dot<NT, F, 2, true>(ws, rows2, xq, xf, n, gu);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const float gs = warp_sum(gu[0][t]), us = warp_sum(gu[1][t]);
            if (lane == 0 && t < n) job.y[0][t * rows + row] = glu_activation(job.glu_kind, gs) * us;
        }
    } else if constexpr (!kRope && kStackedRows<F> == 1) {
        // The one-row path spelled out rather than the R-row branch below with R = 1. The two are equivalent, but
        // nvcc allocates them differently, and on the H200 the general form ran BF16 decode at 206 tok/s against
        // 214 for this one (a single run each); keep this form until a side-by-side measurement says otherwise.
        const int64_t end0 = job.w[0].rows;
        const int64_t end1 = end0 + (job.count > 1 ? job.w[1].rows : 0);
        const int64_t end2 = end1 + (job.count > 2 ? job.w[2].rows : 0);
        const int m = row < end0 ? 0 : row < end1 ? 1 : 2;
        // Selected by value, not by a computed index, which would copy the parameter arrays to local memory.
        const WeightView& w = m == 0 ? job.w[0] : m == 1 ? job.w[1] : job.w[2];
        float* y = m == 0 ? job.y[0] : m == 1 ? job.y[1] : job.y[2];
        const int64_t r = row - (m == 0 ? 0 : m == 1 ? end0 : end1);
        if (row < end2 && lane == 0) prefetch_row<F>(w, r);
        begin_dependent_kernel();
        if (row >= end2) return;
        float acc[1][NT] = {};
        const WeightView ws[1] = {w};
        const int64_t rows1[1] = {r};
        rows_dot<NT, F, 1, true, true>(ws, rows1, xq, xf, n, acc);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const float v = warp_sum(acc[0][t]);
            if (lane == 0 && t < n) {
                float* dst = y + t * w.rows + r;
                *dst = job.accumulate ? *dst + v : v;
            }
        }
    } else {
        // kStackedRows<F> consecutive flat rows per warp, read together when they are in the same matrix (always,
        // when the stacked matrices have row counts divisible by it), else one after the other.
        constexpr int R = kRope ? 2 : kStackedRows<F>;
        const int64_t end0 = job.w[0].rows;
        const int64_t end1 = end0 + (job.count > 1 ? job.w[1].rows : 0);
        const int64_t end2 = end1 + (job.count > 2 ? job.w[2].rows : 0);
        const int64_t first = R * row;
        int m[R];
        int64_t r[R];
        bool same = first + R - 1 < end2;
#pragma unroll
        for (int i = 0; i < R; ++i) {
            m[i] = first + i < end0 ? 0 : first + i < end1 ? 1 : 2;
            r[i] = first + i - (m[i] == 0 ? 0 : m[i] == 1 ? end0 : end1);
            same = same && m[i] == m[0];
        }
        // Selected by value, not by a computed index, which would copy the parameter arrays to local memory.
        auto view = [&](int k) -> const WeightView& { return k == 0 ? job.w[0] : k == 1 ? job.w[1] : job.w[2]; };
        if (lane == 0) {
#pragma unroll
            for (int i = 0; i < R; ++i) {
                if (first + i < end2) prefetch_row<F>(view(m[i]), r[i]);
            }
        }
        float2 angle = make_float2(1.0f, 0.0f);
        if constexpr (kRope) {
            static_assert(NT == 1 && R == 2, "the rope epilogue takes one token and row pairs");
            if (lane == 0 && first < end2) angle = rope_pair_angle(rope, m[0], r[0]);
        }
        begin_dependent_kernel();
        if (first >= end2) return;
        float acc[R][NT] = {};
        if (same) {
            WeightView ws[R];
#pragma unroll
            for (int i = 0; i < R; ++i) ws[i] = view(m[0]);
            rows_dot<NT, F, R, true, true>(ws, r, xq, xf, n, acc);
        } else {
#pragma unroll
            for (int i = 0; i < R; ++i) {
                if (first + i >= end2) break;
                const WeightView ws[1] = {view(m[i])};
                const int64_t one[1] = {r[i]};
                rows_dot<NT, F, 1, true, true>(ws, one, xq, xf, n, *reinterpret_cast<float (*)[1][NT]>(&acc[i]));
            }
        }
        if constexpr (kRope) {
            // Even row counts: both rows are in matrix m[0] (same is true).
            const float a = warp_sum(acc[0][0]), b = warp_sum(acc[1][0]);
            if (lane == 0) rope_pair_store(rope, job, m[0], r[0], a, b, angle);
        } else {
#pragma unroll
            for (int i = 0; i < R; ++i) {
                if (first + i >= end2) break;
                float* y = m[i] == 0 ? job.y[0] : m[i] == 1 ? job.y[1] : job.y[2];
                const int64_t rows = view(m[i]).rows;
#pragma unroll
                for (int t = 0; t < NT; ++t) {
                    const float v = warp_sum(acc[i][t]);
                    if (lane == 0 && t < n) {
                        float* dst = y + t * rows + r[i];
                        *dst = job.accumulate ? *dst + v : v;
                    }
                }
            }
        }
    }
}

// ---- one token on sm_90: the weight tile streamed into shared memory by the bulk-copy engine ----
// The register kernel above keeps at most a few KB per warp in flight and the warp's loads wait behind its own
// arithmetic. Here one thread of a block asks the copy engine (cp.async.bulk, completing on an mbarrier) for the
// block's whole tile of rows, before the block even waits for the previous kernel: the bytes in flight are bounded
// by shared memory (up to ~200 KB per SM), not by registers, and the next kernel's tiles start streaming while this
// one's last blocks compute. The warps then run the same dot products on the tile in shared memory.
constexpr int kBulkWarps = 4;
constexpr int kBulkThreads = kBulkWarps * kWarpSize;
constexpr int64_t kBulkMaxTileBytes = 48 * 1024;  // the dynamic shared memory a block gets without opting in

struct BulkPlan {
    int rows_per_block;      // RB: rows of each matrix per block
    int splits;              // warps per row (K split in equal chunks), 1 when RB >= kBulkWarps
    int64_t blocks[3];       // blocks of each stacked matrix (non-GLU); a block never straddles two
    uint32_t row_bytes;      // bytes per row of the main plane
    uint32_t aux_row_bytes;  // bytes per row of the scale plane (Q8), else 0
};

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900  // only the sm_90 copies below use it
__device__ __forceinline__ uint32_t smem_addr(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
#endif

__device__ __forceinline__ void bulk_copy_to_smem(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                     smem_addr(dst)),
                 "l"(src), "r"(bytes), "r"(smem_addr(bar))
                 : "memory");
#endif
}

__device__ __forceinline__ void mbarrier_init_expect(uint64_t* bar, uint32_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(smem_addr(bar)) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_addr(bar)), "r"(bytes)
                 : "memory");
#endif
}

__device__ __forceinline__ void mbarrier_wait(uint64_t* bar, uint32_t phase) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    uint32_t done = 0;
    do {
        asm volatile(
            "{\n .reg .pred p;\n mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n selp.u32 %0, 1, 0, p;\n}\n"
            : "=r"(done)
            : "r"(smem_addr(bar)), "r"(phase)
            : "memory");
    } while (done == 0);
#endif
}

// Bytes per row of the main plane and of the scale plane of a format's layout (cuda_common.cuh).
template <WeightFormat F>
__host__ __device__ constexpr int64_t bulk_row_bytes(int64_t K) {
    return F == WeightFormat::kQ8    ? K
           : F == WeightFormat::kQ4K ? K / 256 * 144
           : F == WeightFormat::kQ5K ? K / 256 * 176
           : F == WeightFormat::kF32 ? K * 4
                                     : K * 2;
}

// Row r's dot products over the K chunk [k0, k0 + Kc) of R rows held in the tile (rows at main[i], scales at
// aux[i]), for one token.
template <WeightFormat F, int R>
__device__ __forceinline__ void tile_dot(const uint8_t* const (&main)[R], const uint8_t* const (&aux)[R], int64_t k0,
                                         int64_t Kc, const QuantizedActivations& xq, const float* xf,
                                         float (&acc)[R][1]) {
    if constexpr (F == WeightFormat::kQ8) {
        const int8_t* wq[R];
        const __half* wd[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            wq[r] = reinterpret_cast<const int8_t*>(main[r]) + k0;
            wd[r] = reinterpret_cast<const __half*>(aux[r]) + k0 / 32;
        }
        const QuantizedActivations xs{xq.q + k0, xq.d + k0 / 32, xq.sum + k0 / 32, Kc};
        dot_q8<1, R>(wq, wd, Kc, xs, 1, acc);
    } else if constexpr (F == WeightFormat::kQ4K || F == WeightFormat::kQ5K) {
        const uint8_t* wr[R];
#pragma unroll
        for (int r = 0; r < R; ++r) wr[r] = main[r] + k0 / 256 * (F == WeightFormat::kQ4K ? 144 : 176);
        const QuantizedActivations xs{xq.q + k0, xq.d + k0 / 32, xq.sum + k0 / 32, Kc};
        dot_k<1, F == WeightFormat::kQ5K, R>(wr, Kc, xs, 1, acc);
    } else {
        using T = std::conditional_t<F == WeightFormat::kF32, float,
                                     std::conditional_t<F == WeightFormat::kF16, __half, __nv_bfloat16>>;
        const T* wr[R];
#pragma unroll
        for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const T*>(main[r]) + k0;
        dot_float<1, T, R>(wr, Kc, xf + k0, 1, acc);
    }
}

// kRope: the q/k/v products with the rope epilogue (rows per block even): the block's rows meet in shared memory and
// thread i stores pair i.
template <WeightFormat F, bool kGlu, bool kRope = false>
__global__ void __launch_bounds__(kBulkThreads) matvec_bulk_kernel(MatvecJob job, QuantizedActivations xq,
                                                                   const float* xf, BulkPlan plan, RopeEpilogue rope) {
    extern __shared__ __align__(128) uint8_t tile[];
    __shared__ uint64_t bar;
    __shared__ float partial[2][kBulkWarps];
    __shared__ float rope_rows[kRope ? 32 : 1];
    constexpr int kMats = kGlu ? 2 : 1;
    int64_t b = blockIdx.x;
    int m = 0;
    if constexpr (!kGlu) {
        if (b >= plan.blocks[0]) {
            b -= plan.blocks[0];
            m = 1;
            if (b >= plan.blocks[1]) {
                b -= plan.blocks[1];
                m = 2;
            }
        }
    }
    // Selected by value, not by a computed index, which would copy the parameter arrays to local memory.
    const WeightView& w = m == 0 ? job.w[0] : m == 1 ? job.w[1] : job.w[2];
    float* y = m == 0 ? job.y[0] : m == 1 ? job.y[1] : job.y[2];
    const int RB = plan.rows_per_block;
    const int64_t row0 = b * RB;
    const int rows = static_cast<int>(min(static_cast<int64_t>(RB), w.rows - row0));
    const int64_t main_tile = static_cast<int64_t>(RB) * plan.row_bytes;
    const int64_t mat_tile = main_tile + static_cast<int64_t>(RB) * plan.aux_row_bytes;
    if (threadIdx.x == 0) {
        mbarrier_init_expect(&bar, static_cast<uint32_t>(kMats * rows * (plan.row_bytes + plan.aux_row_bytes)));
#pragma unroll
        for (int i = 0; i < kMats; ++i) {
            const WeightView& wi = i == 0 ? w : job.w[1];
            bulk_copy_to_smem(tile + i * mat_tile, wi.data + row0 * plan.row_bytes, rows * plan.row_bytes, &bar);
            if (plan.aux_row_bytes != 0) {
                bulk_copy_to_smem(tile + i * mat_tile + main_tile,
                                  wi.data + wi.rows * plan.row_bytes + row0 * plan.aux_row_bytes,
                                  rows * plan.aux_row_bytes, &bar);
            }
        }
    }
    float2 angle = make_float2(1.0f, 0.0f);
    if constexpr (kRope) {
        if (2 * static_cast<int>(threadIdx.x) < rows) angle = rope_pair_angle(rope, m, row0 + 2 * threadIdx.x);
    }
    // The barrier's initialization must be visible to every thread before any waits on it.
    __syncthreads();
    begin_dependent_kernel();
    mbarrier_wait(&bar, 0);
    const int warp = threadIdx.x / kWarpSize, lane = threadIdx.x % kWarpSize;
    const int64_t K = w.cols;
    auto row_main = [&](int i, int r) { return tile + i * mat_tile + r * static_cast<int64_t>(plan.row_bytes); };
    auto row_aux = [&](int i, int r) {
        return tile + i * mat_tile + main_tile + r * static_cast<int64_t>(plan.aux_row_bytes);
    };
    auto finish = [&](int r, const float (&acc)[kMats][1]) {
        if constexpr (kRope) {
            rope_rows[r] = acc[0][0];
        } else if constexpr (kGlu) {
            job.y[0][row0 + r] = glu_activation(job.glu_kind, acc[0][0]) * acc[1][0];
        } else {
            float* dst = y + row0 + r;
            *dst = job.accumulate ? *dst + acc[0][0] : acc[0][0];
        }
    };
    if (plan.splits == 1) {
        for (int r = warp; r < rows; r += kBulkWarps) {
            float acc[kMats][1] = {};
            const uint8_t* mains[kMats];
            const uint8_t* auxs[kMats];
#pragma unroll
            for (int i = 0; i < kMats; ++i) {
                mains[i] = row_main(i, r);
                auxs[i] = row_aux(i, r);
            }
            tile_dot<F, kMats>(mains, auxs, 0, K, xq, xf, acc);
#pragma unroll
            for (int i = 0; i < kMats; ++i) acc[i][0] = warp_sum(acc[i][0]);
            if (lane == 0) finish(r, acc);
        }
    } else {
        const int r = warp / plan.splits, s = warp % plan.splits;
        const int64_t Kc = K / plan.splits;
        float acc[kMats][1] = {};
        if (r < rows) {
            const uint8_t* mains[kMats];
            const uint8_t* auxs[kMats];
#pragma unroll
            for (int i = 0; i < kMats; ++i) {
                mains[i] = row_main(i, r);
                auxs[i] = row_aux(i, r);
            }
            tile_dot<F, kMats>(mains, auxs, s * Kc, Kc, xq, xf, acc);
        }
#pragma unroll
        for (int i = 0; i < kMats; ++i) {
            const float v = warp_sum(acc[i][0]);
            if (lane == 0) partial[i][warp] = v;
        }
        __syncthreads();
        if (threadIdx.x < rows) {
            float sum[kMats][1] = {};
            for (int k = 0; k < plan.splits; ++k) {
#pragma unroll
                for (int i = 0; i < kMats; ++i) sum[i][0] += partial[i][threadIdx.x * plan.splits + k];
            }
            finish(threadIdx.x, sum);
        }
    }
    if constexpr (kRope) {
        __syncthreads();
        if (2 * static_cast<int>(threadIdx.x) < rows) {
            const int i = 2 * static_cast<int>(threadIdx.x);
            rope_pair_store(rope, job, m, row0 + i, rope_rows[i], rope_rows[i + 1], angle);
        }
    }
}

// Tile bytes a block asks for, per format and for the GLU (gate and up rows together) or not; 0: the register
// kernel instead. Measured on the H200 (tg128 at depth 512, tok/s, register kernel -> bulk path):
//  Q8_0  both 32 KB: 294 -> 317 (16 KB: 313, 48 KB: 315; GLU only: 305, stacked only: 302)
//  BF16  GLU 16 KB: 210 -> 213 (32 KB: 195); stacked products 16 KB: 209 -> 179
//  Q4_K  GLU 16 KB: 410 -> 407; stacked products 16 KB: 410 -> 373 (its dequantization is the bound, not the
//        bytes in flight, and the tile path adds a wait for the whole tile before any arithmetic)
template <WeightFormat F>
constexpr int64_t bulk_tile_bytes(bool glu) {
    if constexpr (F == WeightFormat::kQ8) return 32 * 1024;
    if constexpr (F == WeightFormat::kBF16) return glu ? 16 * 1024 : 0;
    return 0;
}

// Rows per block of the bulk-copy kernel for one product of width K (both matrices of a GLU when glu), or 0 when that
// kernel does not take the product (sm_90, a layout it reads, a tile that fits).
template <WeightFormat F>
int64_t bulk_rows_per_block(int64_t K, bool glu) {
    constexpr bool kSupported = F == WeightFormat::kQ8 || F == WeightFormat::kQ4K || F == WeightFormat::kQ5K ||
                                F == WeightFormat::kF32 || F == WeightFormat::kF16 || F == WeightFormat::kBF16;
    if constexpr (!kSupported) {
        return 0;
    } else {
        const int64_t target = bulk_tile_bytes<F>(glu);
        if (target <= 0 || !programmatic_launch_available()) return 0;
        const bool is_float = F == WeightFormat::kF32 || F == WeightFormat::kF16 || F == WeightFormat::kBF16;
        // Row starts of both planes must be 16-byte aligned: whole 16-byte vectors per row, and for the Q8 scale
        // plane (K / 16 bytes per row) K a multiple of 256.
        if (is_float ? K % 8 != 0 : K % 256 != 0) return 0;
        const int64_t row_total = (glu ? 2 : 1) * (bulk_row_bytes<F>(K) + (F == WeightFormat::kQ8 ? K / 16 : 0));
        if (row_total > kBulkMaxTileBytes) return 0;
        const int64_t rb = std::max<int64_t>(1, std::min(target, kBulkMaxTileBytes) / row_total);
        // A power of two up to 32 rows.
        return std::min<int64_t>(int64_t{1} << (63 - __builtin_clzll(static_cast<uint64_t>(rb))), 32);
    }
}

// Launches the bulk-copy kernel when the job suits it (one token, bulk_rows_per_block > 0).
template <WeightFormat F>
bool launch_bulk(const MatvecJob& job, const QuantizedActivations& xq, const float* xf, cudaStream_t stream,
                 const RopeEpilogue* rope) {
    constexpr bool kSupported = F == WeightFormat::kQ8 || F == WeightFormat::kQ4K || F == WeightFormat::kQ5K ||
                                F == WeightFormat::kF32 || F == WeightFormat::kF16 || F == WeightFormat::kBF16;
    const int64_t K = job.w[0].cols;
    const int64_t rb = bulk_rows_per_block<F>(K, job.glu);
    if constexpr (!kSupported) {
        return false;
    } else {
        if (rb == 0) return false;
        const bool is_float = F == WeightFormat::kF32 || F == WeightFormat::kF16 || F == WeightFormat::kBF16;
        const int mats = job.glu ? 2 : 1;
        BulkPlan plan{};
        plan.row_bytes = static_cast<uint32_t>(bulk_row_bytes<F>(K));
        plan.aux_row_bytes = F == WeightFormat::kQ8 ? static_cast<uint32_t>(K / 16) : 0;
        const int64_t row_total = mats * static_cast<int64_t>(plan.row_bytes + plan.aux_row_bytes);
        plan.rows_per_block = static_cast<int>(rb);
        plan.splits = 1;
        if (rb < kBulkWarps) {
            const int64_t granule = F == WeightFormat::kQ8 ? 32 : is_float ? 8 : 256;
            const int splits = kBulkWarps / static_cast<int>(rb);
            if (K % (splits * granule) == 0) plan.splits = splits;
        }
        int64_t blocks = 0;
        for (int i = 0; i < (job.glu ? 1 : job.count); ++i) {
            plan.blocks[i] = ceil_div(job.w[i].rows, rb);
            blocks += plan.blocks[i];
        }
        const size_t smem = static_cast<size_t>(rb * row_total);
        if (rope != nullptr) {
            // Only Q8's stacked products take this kernel (bulk_tile_bytes); matvec_rope_epilogue_supported agrees.
            if constexpr (F == WeightFormat::kQ8) {
                CHECK(rb >= 2 && !job.glu) << "the rope epilogue pairs rows within a block";
                launch_kernel(matvec_bulk_kernel<F, false, true>, static_cast<unsigned>(blocks), kBulkThreads, smem,
                              stream, job, xq, xf, plan, *rope);
            } else {
                CHECK(false) << "no bulk rope epilogue for this format";
            }
        } else if (job.glu) {
            launch_kernel(matvec_bulk_kernel<F, true>, static_cast<unsigned>(blocks), kBulkThreads, smem, stream, job,
                          xq, xf, plan, RopeEpilogue{});
        } else {
            launch_kernel(matvec_bulk_kernel<F, false>, static_cast<unsigned>(blocks), kBulkThreads, smem, stream,
                          job, xq, xf, plan, RopeEpilogue{});
        }
        return true;
    }
}

template <int NT, WeightFormat F>
void launch_format(const MatvecJob& job, const QuantizedActivations& xq, const float* xf, int n,
                   cudaStream_t stream, const RopeEpilogue* rope) {
    if (rope != nullptr) {
        if constexpr (NT == 1) {
            if (launch_bulk<F>(job, xq, xf, stream, rope)) return;
            if constexpr (kStackedRows<F> == 2 || F == WeightFormat::kBF16) {
                const int64_t rows = job.w[0].rows + job.w[1].rows + job.w[2].rows;
                const auto blocks = static_cast<unsigned>(ceil_div(rows, 2 * kRowsPerBlock));
                launch_kernel(matvec_kernel<1, F, false, true>, blocks, kThreads, 0, stream, job, xq, xf, n, *rope);
                return;
            }
        }
        CHECK(false) << "no rope epilogue for this product (matvec_rope_epilogue_supported)";
    }
    if (NT == 1 && launch_bulk<F>(job, xq, xf, stream, nullptr)) return;
    int64_t rows = job.w[0].rows;
    if (!job.glu) {
        for (int i = 1; i < job.count; ++i) rows += job.w[i].rows;
    }
    if (job.glu) {
        const auto blocks = static_cast<unsigned>(ceil_div(rows, kRowsPerBlock));
        launch_kernel(matvec_kernel<NT, F, true>, blocks, kThreads, 0, stream, job, xq, xf, n, RopeEpilogue{});
    } else {
        const auto blocks = static_cast<unsigned>(ceil_div(rows, kStackedRows<F> * kRowsPerBlock));
        launch_kernel(matvec_kernel<NT, F, false>, blocks, kThreads, 0, stream, job, xq, xf, n, RopeEpilogue{});
    }
}

template <int NT>
void launch_for_tokens(const MatvecJob& job, const QuantizedActivations& xq, const float* xf, int n,
                       cudaStream_t stream, const RopeEpilogue* rope) {
    switch (job.w[0].format) {
        case WeightFormat::kQ8:
            return launch_format<NT, WeightFormat::kQ8>(job, xq, xf, n, stream, rope);
        case WeightFormat::kQ4_0:
            return launch_format<NT, WeightFormat::kQ4_0>(job, xq, xf, n, stream, rope);
        case WeightFormat::kQ4K:
            return launch_format<NT, WeightFormat::kQ4K>(job, xq, xf, n, stream, rope);
        case WeightFormat::kQ5K:
            return launch_format<NT, WeightFormat::kQ5K>(job, xq, xf, n, stream, rope);
        case WeightFormat::kQ6K:
            return launch_format<NT, WeightFormat::kQ6K>(job, xq, xf, n, stream, rope);
        case WeightFormat::kF32:
            return launch_format<NT, WeightFormat::kF32>(job, xq, xf, n, stream, rope);
        case WeightFormat::kF16:
            return launch_format<NT, WeightFormat::kF16>(job, xq, xf, n, stream, rope);
        case WeightFormat::kBF16:
            return launch_format<NT, WeightFormat::kBF16>(job, xq, xf, n, stream, rope);
    }
}
}  // namespace

bool matvec_rope_epilogue_supported(WeightFormat format, int64_t K) {
    // The two-row kernel (Q4_K, Q5_K, and BF16 in this form only) and Q8's bulk-copy kernel. The one-row kernel's
    // form of the epilogue (the pair's two warps meeting at a named barrier) was correct but slower: BF16 tg128 @
    // d512 on an H100 175.8 -> 169.5 tok/s (docs/perf/h200.md, sixteenth session).
    switch (format) {
        case WeightFormat::kQ4K:
        case WeightFormat::kQ5K:
        case WeightFormat::kBF16:
            return true;
        case WeightFormat::kQ8:
            return bulk_rows_per_block<WeightFormat::kQ8>(K, false) >= 2;
        default:
            return false;
    }
}

bool matvec_uses_quantized_activations(WeightFormat format) {
    return format != WeightFormat::kF32 && format != WeightFormat::kF16 && format != WeightFormat::kBF16;
}

void launch_matvec(const MatvecJob& job, const float* x, const QuantizedActivations& xq, int64_t n,
                   cudaStream_t stream, const RopeEpilogue* rope) {
    CHECK(n >= 1 && n <= kMaxMatvecTokens) << "matvec takes 1.." << kMaxMatvecTokens << " tokens, got " << n;
    CHECK(job.count >= 1 && job.count <= 3 && (!job.glu || job.count == 2));
    for (int i = 1; i < job.count; ++i) {
        CHECK(job.w[i].format == job.w[0].format && job.w[i].cols == job.w[0].cols);
    }
    if (rope != nullptr) {
        CHECK(n == 1 && !job.glu && job.count == 3 && matvec_rope_epilogue_supported(job.w[0].format, job.w[0].cols));
        CHECK(job.w[0].rows % 2 == 0 && job.w[1].rows % 2 == 0 && job.w[2].rows % 2 == 0 && rope->head_dim % 2 == 0);
    }
    const int nt = static_cast<int>(n);
    if (nt == 1) {
        launch_for_tokens<1>(job, xq, x, nt, stream, rope);
    } else if (nt == 2) {
        launch_for_tokens<2>(job, xq, x, nt, stream, rope);
    } else if (nt <= 4) {
        launch_for_tokens<4>(job, xq, x, nt, stream, rope);
    } else if (nt <= 8) {
        launch_for_tokens<8>(job, xq, x, nt, stream, rope);
    } else {
        launch_for_tokens<16>(job, xq, x, nt, stream, rope);
    }
}

}  // namespace frugal::cuda
