// Matrix-vector (and matrix-small-batch) products: y[t][o] = sum_i w[o][i] x[t][i] for up to 16 tokens.
//
// Decode reads every weight once per step, so these kernels are built around the weight stream: one warp per
// output row, each lane reading 16 aligned bytes per step (a warp moves 512 contiguous bytes), dequantizing in
// registers. Quantized weights meet int8 activations (quantized per 32 beforehand) in dp4a dot products, four
// multiply-adds per instruction, so the arithmetic stays below the memory time even at 4.5 bits per weight; the
// per-block scales are applied once per 16 or 32 products. Each token's partial sum stays in a register of every
// lane and is reduced across the warp at the end; the weights are read once for all tokens of the batch.
#include <algorithm>
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

// Q4_K / Q5_K: 4 lanes per 256-element super-block. Lane k of the 4 (h = k % 2, c = k / 2) reads qs bytes
// [16k, 16k + 16) and [64 + 16k, 64 + 16k + 16), so each of the two loads of a warp covers whole 64-byte spans.
// Byte range A is half h of chunk c: its low nibbles are elements 64c + 16h + (0..15) (sub-block 2c), its high
// nibbles 64c + 32 + 16h + (0..15) (sub-block 2c + 1); range B is the same half of chunk c + 2 (sub-blocks
// 2c + 4 and 2c + 5). With c < 2 the four 6-bit scales and mins come from bytes 2c and 2c + 1 of each packed
// word, without the per-index selects a general sub-block would need. Q5_K's fifth bits for both ranges sit in
// the same qh bytes [16h, 16h + 16): bits 2c, 2c + 1, 2c + 4 and 2c + 5. Against 8 lanes per super-block (16
// bytes each, two scales decoded per 16 bytes with selects on the sub-block index) this is about a quarter fewer
// instructions per weight byte, and the Q4_K kernels are bound by instruction issue: on the H200, Llama-3-8B Q4_K
// decode at depth 512 went from 363 to 410 tok/s.
template <int NT, bool kQ5, int R>
__device__ __forceinline__ void dot_k(const uint8_t* const (&wr)[R], int64_t K, const QuantizedActivations& xq, int n,
                                      float (&acc)[R][NT]) {
    constexpr int kBlockBytes = kQ5 ? 176 : 144;
    constexpr int kQsOffset = kQ5 ? 48 : 16;
    const int lane = threadIdx.x % kWarpSize;
    const int k = lane % 4, c = k / 2, h = k % 2;
    const int64_t nb = K / 256;
    // Two 16-byte loads per lane and row already: one step at a time keeps the registers (and occupancy) of the
    // former 8-lane layout at two steps (two steps at a time: 62 -> 88 registers for the GLU, 406 vs 409 tok/s).
#pragma unroll 1
    for (int64_t sb = lane / 4; sb < nb; sb += kWarpSize / 4) {
        // The 16-byte header (fp16 d, fp16 dmin, 12 bytes of 6-bit scales and mins) in one load; the 4 lanes of
        // a super-block read the same address, which the memory system serves once.
        int4 head[R], qa[R], qb[R], qh[R];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = wr[r] + sb * kBlockBytes;
            head[r] = *reinterpret_cast<const int4*>(blk);
            qa[r] = *reinterpret_cast<const int4*>(blk + kQsOffset + 16 * k);
            qb[r] = *reinterpret_cast<const int4*>(blk + kQsOffset + 64 + 16 * k);
            if constexpr (kQ5) qh[r] = *reinterpret_cast<const int4*>(blk + 16 + 16 * h);
        }
        int4 q[R][4];  // A low, A high, B low, B high
        float sd[R][4], sm[R][4];
#pragma unroll
        for (int r = 0; r < R; ++r) {
            q[r][0] = {qa[r].x & 0x0F0F0F0F, qa[r].y & 0x0F0F0F0F, qa[r].z & 0x0F0F0F0F, qa[r].w & 0x0F0F0F0F};
            q[r][1] = {(qa[r].x >> 4) & 0x0F0F0F0F, (qa[r].y >> 4) & 0x0F0F0F0F, (qa[r].z >> 4) & 0x0F0F0F0F,
                       (qa[r].w >> 4) & 0x0F0F0F0F};
            q[r][2] = {qb[r].x & 0x0F0F0F0F, qb[r].y & 0x0F0F0F0F, qb[r].z & 0x0F0F0F0F, qb[r].w & 0x0F0F0F0F};
            q[r][3] = {(qb[r].x >> 4) & 0x0F0F0F0F, (qb[r].y >> 4) & 0x0F0F0F0F, (qb[r].z >> 4) & 0x0F0F0F0F,
                       (qb[r].w >> 4) & 0x0F0F0F0F};
            if constexpr (kQ5) {
                const int bit[4] = {2 * c, 2 * c + 1, 2 * c + 4, 2 * c + 5};
#pragma unroll
                for (int i = 0; i < 4; ++i) {
                    q[r][i].x |= ((qh[r].x >> bit[i]) & 0x01010101) << 4;
                    q[r][i].y |= ((qh[r].y >> bit[i]) & 0x01010101) << 4;
                    q[r][i].z |= ((qh[r].z >> bit[i]) & 0x01010101) << 4;
                    q[r][i].w |= ((qh[r].w >> bit[i]) & 0x01010101) << 4;
                }
            }
            const __half2 dm = *reinterpret_cast<const __half2*>(&head[r].x);
            const float d = __low2float(dm), dmin = __high2float(dm);
            // Bytes 2c + t of the three packed words: scale bytes j, j + 4 and j + 8 for sub-block j = 2c + t.
            const uint32_t a0 = static_cast<uint32_t>(head[r].y) >> (16 * c);
            const uint32_t a1 = static_cast<uint32_t>(head[r].z) >> (16 * c);
            const uint32_t a2 = static_cast<uint32_t>(head[r].w) >> (16 * c);
#pragma unroll
            for (int t = 0; t < 2; ++t) {
                const uint32_t bj = (a0 >> (8 * t)) & 0xFF, bj4 = (a1 >> (8 * t)) & 0xFF, bj8 = (a2 >> (8 * t)) & 0xFF;
                sd[r][t] = d * static_cast<float>(bj & 63);
                sm[r][t] = dmin * static_cast<float>(bj4 & 63);
                sd[r][2 + t] = d * static_cast<float>((bj8 & 0xF) | ((bj >> 6) << 4));
                sm[r][2 + t] = dmin * static_cast<float>((bj8 >> 4) | ((bj4 >> 6) << 4));
            }
        }
        const int64_t col = sb * 256 + 64 * c + 16 * h;
        const int64_t blk = (sb * 256 + 64 * c) / 32;  // activation blocks blk, blk + 1, blk + 4, blk + 5
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            if (t < n) {
                const int8_t* xt = xq.q + t * K + col;
                const int4 x[4] = {*reinterpret_cast<const int4*>(xt), *reinterpret_cast<const int4*>(xt + 32),
                                   *reinterpret_cast<const int4*>(xt + 128), *reinterpret_cast<const int4*>(xt + 160)};
                const float* xd = xq.d + t * (K / 32) + blk;
                const float* xs = xq.sum + t * (K / 32) + blk;
                const float xdv[4] = {xd[0], xd[1], xd[4], xd[5]};
#pragma unroll
                for (int r = 0; r < R; ++r) {
                    float v = 0;
#pragma unroll
                    for (int i = 0; i < 4; ++i) v += xdv[i] * sd[r][i] * static_cast<float>(dot16(q[r][i], x[i]));
                    // The mins multiply whole 32-blocks of activations: the h = 0 lane of each pair subtracts
                    // them once, from the blocks' precomputed sums.
                    if (h == 0) v -= sm[r][0] * xs[0] + sm[r][1] * xs[1] + sm[r][2] * xs[4] + sm[r][3] * xs[5];
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

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
    return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

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

template <WeightFormat F, bool kGlu>
__global__ void __launch_bounds__(kBulkThreads) matvec_bulk_kernel(MatvecJob job, QuantizedActivations xq,
                                                                   const float* xf, BulkPlan plan) {
    extern __shared__ __align__(128) uint8_t tile[];
    __shared__ uint64_t bar;
    __shared__ float partial[2][kBulkWarps];
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
        if constexpr (kGlu) {
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

// Launches the bulk-copy kernel when the job suits it (one token, sm_90, a layout it reads, a tile that fits).
template <WeightFormat F>
bool launch_bulk(const MatvecJob& job, const QuantizedActivations& xq, const float* xf, cudaStream_t stream) {
    constexpr bool kSupported = F == WeightFormat::kQ8 || F == WeightFormat::kQ4K || F == WeightFormat::kQ5K ||
                                F == WeightFormat::kF32 || F == WeightFormat::kF16 || F == WeightFormat::kBF16;
    if constexpr (!kSupported) {
        return false;
    } else {
        const int64_t target = bulk_tile_bytes<F>(job.glu);
        if (target <= 0 || !programmatic_launch_available()) return false;
        const int64_t K = job.w[0].cols;
        const bool is_float = F == WeightFormat::kF32 || F == WeightFormat::kF16 || F == WeightFormat::kBF16;
        // Row starts of both planes must be 16-byte aligned: whole 16-byte vectors per row, and for the Q8 scale
        // plane (K / 16 bytes per row) K a multiple of 256.
        if (is_float ? K % 8 != 0 : K % 256 != 0) return false;
        const int mats = job.glu ? 2 : 1;
        BulkPlan plan{};
        plan.row_bytes = static_cast<uint32_t>(bulk_row_bytes<F>(K));
        plan.aux_row_bytes = F == WeightFormat::kQ8 ? static_cast<uint32_t>(K / 16) : 0;
        const int64_t row_total = mats * static_cast<int64_t>(plan.row_bytes + plan.aux_row_bytes);
        if (row_total > kBulkMaxTileBytes) return false;
        int64_t rb = std::max<int64_t>(1, std::min(target, kBulkMaxTileBytes) / row_total);
        // A power of two up to 32 rows.
        rb = std::min<int64_t>(int64_t{1} << (63 - __builtin_clzll(static_cast<uint64_t>(rb))), 32);
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
        if (job.glu) {
            launch_kernel(matvec_bulk_kernel<F, true>, static_cast<unsigned>(blocks), kBulkThreads, smem, stream, job,
                          xq, xf, plan);
        } else {
            launch_kernel(matvec_bulk_kernel<F, false>, static_cast<unsigned>(blocks), kBulkThreads, smem, stream,
                          job, xq, xf, plan);
        }
        return true;
    }
}

template <int NT, WeightFormat F>
void launch_format(const MatvecJob& job, const QuantizedActivations& xq, const float* xf, int n,
                   cudaStream_t stream) {
    if (NT == 1 && launch_bulk<F>(job, xq, xf, stream)) return;
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
