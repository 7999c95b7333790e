// Matrix-vector (and matrix-small-batch) products: y[t][o] = sum_i w[o][i] x[t][i] for up to 16 tokens.
//
// Decode reads every weight once per step, so these kernels are built around the weight stream: one warp per
// output row, each lane reading 16 aligned bytes per step (a warp moves 512 contiguous bytes), dequantizing in
// registers. Quantized weights meet int8 activations (quantized per 32 beforehand) in dp4a dot products, four
// multiply-adds per instruction, so the arithmetic stays below the memory time even at 4.5 bits per weight; the
// per-block scales are applied once per 16 or 32 products. Each token's partial sum stays in a register of every
// lane and is reduced across the warp at the end; the weights are read once for all tokens of the batch.
#include <type_traits>

#include "backend/cuda/cuda_kernels.cuh"

namespace frugal::cuda {
namespace {

constexpr int kRowsPerBlock = 4;  // warps per block, one output row each
constexpr int kThreads = kRowsPerBlock * kWarpSize;

// The R-row kernels below (Q8, Q4_K/Q5_K, float) take R rows of one width at once, with R = 2 for gate and up:
// both rows' loads of a step are issued together (twice the bytes in flight per warp) and each activation load
// serves both rows. They take each row's start (and, for the Q8 planes, its scales' start).

// Q8: 16 int8 weights per lane-step, half a 32-block.
template <int NT, int R>
__device__ __forceinline__ void dot_q8(const int8_t* const (&wq)[R], const __half* const (&wd)[R], int64_t K,
                                       const QuantizedActivations& xq, int n, float (&acc)[R][NT]) {
    const int lane = threadIdx.x % kWarpSize;
#pragma unroll 4
    for (int64_t c = lane * 16; c < K; c += 16 * kWarpSize) {
        int4 wv[R];
        float dw[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            wv[r] = *reinterpret_cast<const int4*>(wq[r] + c);
            dw[r] = __half2float(wd[r][c / 32]);
        }
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            if (t < n) {
                const int4 xv = *reinterpret_cast<const int4*>(xq.q + t * K + c);
                const float xd = xq.d[t * (K / 32) + c / 32];
#pragma unroll
                for (int r = 0; r < R; ++r) acc[r][t] += dw[r] * xd * static_cast<float>(dot16(wv[r], xv));
            }
        }
    }
}

// Q4_0: one 32-block per lane-step: 16 bytes of nibbles (low: elements 0..15, high: 16..31).
template <int NT>
__device__ __forceinline__ void dot_q4_0(const WeightView& w, int64_t row, const QuantizedActivations& xq,
        const float* xf, int n, float (&acc)[NT]) {
    const int lane = threadIdx.x % kWarpSize;
    const int64_t K = w.cols;
    const uint8_t* wq = w.data + row * (K / 2);
    const __half* wd = reinterpret_cast<const __half*>(w.data + w.rows * K / 2) + row * (K / 32);
#pragma unroll 4
    for (int64_t c = lane * 32; c < K; c += 32 * kWarpSize) {
        const int4 wv = *reinterpret_cast<const int4*>(wq + c / 2);
        const int4 lo = {wv.x & 0x0F0F0F0F, wv.y & 0x0F0F0F0F, wv.z & 0x0F0F0F0F, wv.w & 0x0F0F0F0F};
        const int4 hi = {(wv.x >> 4) & 0x0F0F0F0F, (wv.y >> 4) & 0x0F0F0F0F, (wv.z >> 4) & 0x0F0F0F0F,
                         (wv.w >> 4) & 0x0F0F0F0F};
        const float dw = __half2float(wd[c / 32]);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            if (t < n) {
                const int8_t* xt = xq.q + t * K + c;
                const int s = dot16(lo, *reinterpret_cast<const int4*>(xt)) +
                              dot16(hi, *reinterpret_cast<const int4*>(xt + 16));
                const int64_t b = t * (K / 32) + c / 32;
                acc[t] += dw * (xq.d[b] * static_cast<float>(s) - 8.0f * xq.sum[b]);
            }
        }
    }
}

// Q4_K / Q5_K: 8 lanes per 256-element super-block. Lane g of the 8 reads qs bytes [16g, 16g + 16): chunk
// c = g / 2 holds elements 64c + 16h + (0..15) in its low nibbles (sub-block 2c) and 64c + 32 + 16h + (0..15) in
// its high nibbles (sub-block 2c + 1), h = g % 2. Q5_K's fifth bits for those elements sit in qh bytes
// [16h, 16h + 16), bit 2c and 2c + 1.
template <int NT, bool kQ5, int R>
__device__ __forceinline__ void dot_k(const uint8_t* const (&wr)[R], int64_t K, const QuantizedActivations& xq, int n,
                                      float (&acc)[R][NT]) {
    constexpr int kBlockBytes = kQ5 ? 176 : 144;
    constexpr int kQsOffset = kQ5 ? 48 : 16;
    const int lane = threadIdx.x % kWarpSize;
    const int g = lane % 8, c = g / 2, h = g % 2;
    const int64_t nb = K / 256;
#pragma unroll 2
    for (int64_t sb = lane / 8; sb < nb; sb += kWarpSize / 8) {
        // The 16-byte header (fp16 d, fp16 dmin, 12 bytes of 6-bit scales and mins) in one load; the 8 lanes of
        // a super-block read the same address, which the memory system serves once.
        int4 head[R], qs[R], qh[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = wr[r] + sb * kBlockBytes;
            head[r] = *reinterpret_cast<const int4*>(blk);
            qs[r] = *reinterpret_cast<const int4*>(blk + kQsOffset + 16 * g);
            if constexpr (kQ5) qh[r] = *reinterpret_cast<const int4*>(blk + 16 + 16 * h);
        }
        int4 lo[R], hi[R];
        float dl[R], ml[R], dh[R], mh[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            lo[r] = {qs[r].x & 0x0F0F0F0F, qs[r].y & 0x0F0F0F0F, qs[r].z & 0x0F0F0F0F, qs[r].w & 0x0F0F0F0F};
            hi[r] = {(qs[r].x >> 4) & 0x0F0F0F0F, (qs[r].y >> 4) & 0x0F0F0F0F, (qs[r].z >> 4) & 0x0F0F0F0F,
                     (qs[r].w >> 4) & 0x0F0F0F0F};
            if constexpr (kQ5) {
                const int sl = 2 * c, sh = 2 * c + 1;
                lo[r].x |= ((qh[r].x >> sl) & 0x01010101) << 4;
                lo[r].y |= ((qh[r].y >> sl) & 0x01010101) << 4;
                lo[r].z |= ((qh[r].z >> sl) & 0x01010101) << 4;
                lo[r].w |= ((qh[r].w >> sl) & 0x01010101) << 4;
                hi[r].x |= ((qh[r].x >> sh) & 0x01010101) << 4;
                hi[r].y |= ((qh[r].y >> sh) & 0x01010101) << 4;
                hi[r].z |= ((qh[r].z >> sh) & 0x01010101) << 4;
                hi[r].w |= ((qh[r].w >> sh) & 0x01010101) << 4;
            }
            const __half2 dm = *reinterpret_cast<const __half2*>(&head[r].x);
            const float d = __low2float(dm), dmin = __high2float(dm);
            int sc_lo, m_lo, sc_hi, m_hi;
            k_scale_min_packed(2 * c, head[r].y, head[r].z, head[r].w, &sc_lo, &m_lo);
            k_scale_min_packed(2 * c + 1, head[r].y, head[r].z, head[r].w, &sc_hi, &m_hi);
            dl[r] = d * static_cast<float>(sc_lo);
            ml[r] = dmin * static_cast<float>(m_lo);
            dh[r] = d * static_cast<float>(sc_hi);
            mh[r] = dmin * static_cast<float>(m_hi);
        }
        const int64_t col_lo = sb * 256 + 64 * c + 16 * h;
        const int64_t blk_lo = col_lo / 32;  // the activation block of the low nibbles; blk_lo + 1 the high
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            if (t < n) {
                const int8_t* xt = xq.q + t * K;
                const int4 xl = *reinterpret_cast<const int4*>(xt + col_lo);
                const int4 xh = *reinterpret_cast<const int4*>(xt + col_lo + 32);
                const float* xd = xq.d + t * (K / 32) + blk_lo;
                const float* xs = xq.sum + t * (K / 32) + blk_lo;
#pragma unroll
                for (int r = 0; r < R; ++r) {
                    float v = xd[0] * dl[r] * static_cast<float>(dot16(lo[r], xl)) +
                              xd[1] * dh[r] * static_cast<float>(dot16(hi[r], xh));
                    // The mins multiply whole 32-blocks of activations: the h = 0 lane of each pair subtracts
                    // them once, from the blocks' precomputed sums.
                    if (h == 0) v -= ml[r] * xs[0] + mh[r] * xs[1];
                    acc[r][t] += v;
                }
            }
        }
    }
}

// Q6_K planes: 4 lanes per super-block. Lane k of the 4 takes half n = k / 2 and l in [16j, 16j + 16), j = k % 2:
// ql bytes l and l + 32 of the half and qh byte l give elements 128n + 32m + l for m = 0..3, all with scale
// index 8n + j + 2m.
template <int NT>
__device__ __forceinline__ void dot_q6k(const WeightView& w, int64_t row, const QuantizedActivations& xq,
        const float* xf, int n, float (&acc)[NT]) {
    const int lane = threadIdx.x % kWarpSize;
    const int k = lane % 4, nh = k / 2, j = k % 2;
    const int64_t K = w.cols;
    const int64_t nb = K / 256;
    const int64_t planes = w.rows * nb;
    const uint8_t* ql_plane = w.data;
    const uint8_t* qh_plane = w.data + planes * 128;
    const auto* sc_plane = reinterpret_cast<const int8_t*>(w.data + planes * 192);
    const auto* d_plane = reinterpret_cast<const __half*>(w.data + planes * 208);
#pragma unroll 2
    for (int64_t sb = lane / 4; sb < nb; sb += kWarpSize / 4) {
        const int64_t idx = row * nb + sb;
        const int4 a = *reinterpret_cast<const int4*>(ql_plane + idx * 128 + 64 * nh + 16 * j);
        const int4 b = *reinterpret_cast<const int4*>(ql_plane + idx * 128 + 64 * nh + 32 + 16 * j);
        const int4 hb = *reinterpret_cast<const int4*>(qh_plane + idx * 64 + 32 * nh + 16 * j);
        const float d = __half2float(d_plane[idx]);
        const int8_t* sc = sc_plane + idx * 16 + 8 * nh + j;
        int4 q[4];
        q[0] = {(a.x & 0x0F0F0F0F) | ((hb.x & 0x03030303) << 4), (a.y & 0x0F0F0F0F) | ((hb.y & 0x03030303) << 4),
                (a.z & 0x0F0F0F0F) | ((hb.z & 0x03030303) << 4), (a.w & 0x0F0F0F0F) | ((hb.w & 0x03030303) << 4)};
        q[1] = {(b.x & 0x0F0F0F0F) | (((hb.x >> 2) & 0x03030303) << 4),
                (b.y & 0x0F0F0F0F) | (((hb.y >> 2) & 0x03030303) << 4),
                (b.z & 0x0F0F0F0F) | (((hb.z >> 2) & 0x03030303) << 4),
                (b.w & 0x0F0F0F0F) | (((hb.w >> 2) & 0x03030303) << 4)};
        q[2] = {((a.x >> 4) & 0x0F0F0F0F) | (((hb.x >> 4) & 0x03030303) << 4),
                ((a.y >> 4) & 0x0F0F0F0F) | (((hb.y >> 4) & 0x03030303) << 4),
                ((a.z >> 4) & 0x0F0F0F0F) | (((hb.z >> 4) & 0x03030303) << 4),
                ((a.w >> 4) & 0x0F0F0F0F) | (((hb.w >> 4) & 0x03030303) << 4)};
        q[3] = {((b.x >> 4) & 0x0F0F0F0F) | (((hb.x >> 6) & 0x03030303) << 4),
                ((b.y >> 4) & 0x0F0F0F0F) | (((hb.y >> 6) & 0x03030303) << 4),
                ((b.z >> 4) & 0x0F0F0F0F) | (((hb.z >> 6) & 0x03030303) << 4),
                ((b.w >> 4) & 0x0F0F0F0F) | (((hb.w >> 6) & 0x03030303) << 4)};
        float s[4];
#pragma unroll
        for (int m = 0; m < 4; ++m) s[m] = d * static_cast<float>(sc[2 * m]);
        const int64_t base = sb * 256 + 128 * nh + 16 * j;
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            if (t < n) {
                const int8_t* xt = xq.q + t * K + base;
                const float* xd = xq.d + t * (K / 32) + base / 32;
                float v = 0;
#pragma unroll
                for (int m = 0; m < 4; ++m) {
                    const int4 xv = *reinterpret_cast<const int4*>(xt + 32 * m);
                    v += s[m] * xd[m] * static_cast<float>(dot16(q[m], xv) - 32 * sum16(xv));
                }
                acc[t] += v;
            }
        }
    }
}

// Float weights against float activations: 8 (16-bit) or 4 (F32) weights per lane-step.
template <typename T>
__device__ __forceinline__ void load_weights8(const T* p, float (&out)[8]);

template <>
__device__ __forceinline__ void load_weights8<__half>(const __half* p, float (&out)[8]) {
    const int4 v = *reinterpret_cast<const int4*>(p);
    const __half2* h = reinterpret_cast<const __half2*>(&v);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float2 f = __half22float2(h[i]);
        out[2 * i] = f.x;
        out[2 * i + 1] = f.y;
    }
}

template <>
__device__ __forceinline__ void load_weights8<__nv_bfloat16>(const __nv_bfloat16* p, float (&out)[8]) {
    const int4 v = *reinterpret_cast<const int4*>(p);
    const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&v);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
        const float2 f = __bfloat1622float2(h[i]);
        out[2 * i] = f.x;
        out[2 * i + 1] = f.y;
    }
}

template <>
__device__ __forceinline__ void load_weights8<float>(const float* p, float (&out)[8]) {
    const float4 a = *reinterpret_cast<const float4*>(p);
    const float4 b = *reinterpret_cast<const float4*>(p + 4);
    out[0] = a.x, out[1] = a.y, out[2] = a.z, out[3] = a.w;
    out[4] = b.x, out[5] = b.y, out[6] = b.z, out[7] = b.w;
}

template <int NT, typename T, int R>
__device__ __forceinline__ void dot_float(const T* const (&wr)[R], int64_t K, const float* xf, int n,
                                          float (&acc)[R][NT]) {
    const int lane = threadIdx.x % kWarpSize;
#pragma unroll 4
    for (int64_t c = lane * 8; c < K; c += 8 * kWarpSize) {
        float wv[R][8];
#pragma unroll
        for (int r = 0; r < R; ++r) load_weights8<T>(wr[r] + c, wv[r]);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            if (t < n) {
                const float4 a = *reinterpret_cast<const float4*>(xf + t * K + c);
                const float4 b = *reinterpret_cast<const float4*>(xf + t * K + c + 4);
#pragma unroll
                for (int r = 0; r < R; ++r) {
                    acc[r][t] += wv[r][0] * a.x + wv[r][1] * a.y + wv[r][2] * a.z + wv[r][3] * a.w +
                                 wv[r][4] * b.x + wv[r][5] * b.y + wv[r][6] * b.z + wv[r][7] * b.w;
                }
            }
        }
    }
}

// Float weights whose rows are not a whole number of 16-byte vectors (e.g. 172 columns): one element per lane-step.
template <int NT, typename T>
__device__ __forceinline__ void dot_float_scalar(const WeightView& w, int64_t row, const QuantizedActivations& xq,
        const float* xf, int n, float (&acc)[NT]) {
    const int lane = threadIdx.x % kWarpSize;
    const int64_t K = w.cols;
    const T* wr = reinterpret_cast<const T*>(w.data) + row * K;
    for (int64_t c = lane; c < K; c += kWarpSize) {
        const float wv = static_cast<float>(wr[c]);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            if (t < n) acc[t] += wv * xf[t * K + c];
        }
    }
}

// Accumulates R rows of one format and width against the tokens' activations into each lane's partial sums: row
// row[r] of ws[r] into acc[r]. Formats with an R-row kernel read the rows together; the others one after the other.
template <int NT, WeightFormat F, int R>
__device__ __forceinline__ void rows_dot(const WeightView (&ws)[R], const int64_t (&row)[R],
                                         const QuantizedActivations& xq, const float* xf, int n, float (&acc)[R][NT]) {
    const int64_t K = ws[0].cols;
    if constexpr (F == WeightFormat::kQ8) {
        const int8_t* wq[R];
        const __half* wd[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            wq[r] = reinterpret_cast<const int8_t*>(ws[r].data) + row[r] * K;
            wd[r] = reinterpret_cast<const __half*>(ws[r].data + ws[r].rows * K) + row[r] * (K / 32);
        }
        dot_q8<NT, R>(wq, wd, K, xq, n, acc);
    } else if constexpr (F == WeightFormat::kQ4K || F == WeightFormat::kQ5K) {
        const uint8_t* wr[R];
#pragma unroll
        for (int r = 0; r < R; ++r) wr[r] = ws[r].data + row[r] * (K / 256) * (F == WeightFormat::kQ4K ? 144 : 176);
        dot_k<NT, F == WeightFormat::kQ5K, R>(wr, K, xq, n, acc);
    } else if constexpr (F == WeightFormat::kQ4_0 || F == WeightFormat::kQ6K) {
#pragma unroll
        for (int r = 0; r < R; ++r) {
            if constexpr (F == WeightFormat::kQ4_0) {
                dot_q4_0<NT>(ws[r], row[r], xq, xf, n, acc[r]);
            } else {
                dot_q6k<NT>(ws[r], row[r], xq, xf, n, acc[r]);
            }
        }
    } else {
        using T = std::conditional_t<F == WeightFormat::kF32, float,
                                     std::conditional_t<F == WeightFormat::kF16, __half, __nv_bfloat16>>;
        if (K % 8 == 0) {
            const T* wr[R];
#pragma unroll
            for (int r = 0; r < R; ++r) wr[r] = reinterpret_cast<const T*>(ws[r].data) + row[r] * K;
            dot_float<NT, T, R>(wr, K, xf, n, acc);
        } else {
#pragma unroll
            for (int r = 0; r < R; ++r) dot_float_scalar<NT, T>(ws[r], row[r], xq, xf, n, acc[r]);
        }
    }
}

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

// kGlu is a template parameter so the stacked products keep the smaller register footprint (higher occupancy) of
// the one-row path; the GLU path reads its two rows together.
template <int NT, WeightFormat F, bool kGlu>
__global__ void __launch_bounds__(kThreads) matvec_kernel(MatvecJob job, QuantizedActivations xq, const float* xf,
                                                          int n) {
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
        rows_dot<NT, F, 2>(ws, rows2, xq, xf, n, gu);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            const float gs = warp_sum(gu[0][t]), us = warp_sum(gu[1][t]);
            if (lane == 0 && t < n) job.y[0][t * rows + row] = glu_activation(job.glu_kind, gs) * us;
        }
    } else if constexpr (kStackedRows<F> == 1) {
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
        rows_dot<NT, F, 1>(ws, rows1, xq, xf, n, acc);
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
        constexpr int R = kStackedRows<F>;
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
        begin_dependent_kernel();
        if (first >= end2) return;
        float acc[R][NT] = {};
        if (same) {
            WeightView ws[R];
#pragma unroll
            for (int i = 0; i < R; ++i) ws[i] = view(m[0]);
            rows_dot<NT, F, R>(ws, r, xq, xf, n, acc);
        } else {
#pragma unroll
            for (int i = 0; i < R; ++i) {
                if (first + i >= end2) break;
                const WeightView ws[1] = {view(m[i])};
                const int64_t one[1] = {r[i]};
                rows_dot<NT, F, 1>(ws, one, xq, xf, n, *reinterpret_cast<float (*)[1][NT]>(&acc[i]));
            }
        }
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

template <int NT, WeightFormat F>
void launch_format(const MatvecJob& job, const QuantizedActivations& xq, const float* xf, int n,
                   cudaStream_t stream) {
    int64_t rows = job.w[0].rows;
    if (!job.glu) {
        for (int i = 1; i < job.count; ++i) rows += job.w[i].rows;
    }
    if (job.glu) {
        const auto blocks = static_cast<unsigned>(ceil_div(rows, kRowsPerBlock));
        launch_kernel(matvec_kernel<NT, F, true>, blocks, kThreads, 0, stream, job, xq, xf, n);
    } else {
        const auto blocks = static_cast<unsigned>(ceil_div(rows, kStackedRows<F> * kRowsPerBlock));
        launch_kernel(matvec_kernel<NT, F, false>, blocks, kThreads, 0, stream, job, xq, xf, n);
    }
}

template <int NT>
void launch_for_tokens(const MatvecJob& job, const QuantizedActivations& xq, const float* xf, int n,
                       cudaStream_t stream) {
    switch (job.w[0].format) {
        case WeightFormat::kQ8:
            return launch_format<NT, WeightFormat::kQ8>(job, xq, xf, n, stream);
        case WeightFormat::kQ4_0:
            return launch_format<NT, WeightFormat::kQ4_0>(job, xq, xf, n, stream);
        case WeightFormat::kQ4K:
            return launch_format<NT, WeightFormat::kQ4K>(job, xq, xf, n, stream);
        case WeightFormat::kQ5K:
            return launch_format<NT, WeightFormat::kQ5K>(job, xq, xf, n, stream);
        case WeightFormat::kQ6K:
            return launch_format<NT, WeightFormat::kQ6K>(job, xq, xf, n, stream);
        case WeightFormat::kF32:
            return launch_format<NT, WeightFormat::kF32>(job, xq, xf, n, stream);
        case WeightFormat::kF16:
            return launch_format<NT, WeightFormat::kF16>(job, xq, xf, n, stream);
        case WeightFormat::kBF16:
            return launch_format<NT, WeightFormat::kBF16>(job, xq, xf, n, stream);
    }
}
}  // namespace

bool matvec_uses_quantized_activations(WeightFormat format) {
    return format != WeightFormat::kF32 && format != WeightFormat::kF16 && format != WeightFormat::kBF16;
}

void launch_matvec(const MatvecJob& job, const float* x, const QuantizedActivations& xq, int64_t n,
                   cudaStream_t stream) {
    CHECK(n >= 1 && n <= kMaxMatvecTokens) << "matvec takes 1.." << kMaxMatvecTokens << " tokens, got " << n;
    CHECK(job.count >= 1 && job.count <= 3 && (!job.glu || job.count == 2));
    for (int i = 1; i < job.count; ++i) {
        CHECK(job.w[i].format == job.w[0].format && job.w[i].cols == job.w[0].cols);
    }
    const int nt = static_cast<int>(n);
    if (nt == 1) {
        launch_for_tokens<1>(job, xq, x, nt, stream);
    } else if (nt == 2) {
        launch_for_tokens<2>(job, xq, x, nt, stream);
    } else if (nt <= 4) {
        launch_for_tokens<4>(job, xq, x, nt, stream);
    } else if (nt <= 8) {
        launch_for_tokens<8>(job, xq, x, nt, stream);
    } else {
        launch_for_tokens<16>(job, xq, x, nt, stream);
    }
}

}  // namespace frugal::cuda
