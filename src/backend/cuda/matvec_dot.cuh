// The warp-level dot products of the matrix-vector kernels, shared by matvec.cu and the kernels that pick their
// weight rows per item from device memory (moe.cu: the experts the router chose, the heads of matmul_heads). Each
// function accumulates one warp's lane-partial sums of weight rows against up to NT tokens' activations; the
// caller reduces across the warp. Included only by .cu files.
#pragma once

#include <type_traits>

#include "backend/cuda/cuda_kernels.cuh"

namespace frugal::cuda {

// The R-row kernels below (Q8, Q4_K/Q5_K, float) take R rows of one width at once, with R = 2 for gate and up:
// both rows' loads of a step are issued together (twice the bytes in flight per warp) and each activation load
// serves both rows. They take each row's start (and, for the Q8 planes, its scales' start).

// dp4a of four unsigned weight bytes against four signed activation bytes.
__device__ __forceinline__ int dot4_us(uint32_t a, int b, int c) {
    int d;
    asm("dp4a.u32.s32 %0, %1, %2, %3;" : "=r"(d) : "r"(a), "r"(b), "r"(c));
    return d;
}

// The float of an int with |x| < 2^22, exactly, through a full-rate integer add and float add: the integer-to-float
// conversion instruction issues to a narrower pipe than FP32 arithmetic, and dot_q4k_lean converts every sub-block's
// integer sum, scale and min. (The same in dot_k, dot_q8, dot_q4_0 and dot_q6k measured neutral to slightly slower.)
__device__ __forceinline__ float small_int_to_float(int x) { return __int_as_float(x + 0x4B400000) - 12582912.0f; }

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
                const int s =
                    dot16(lo, *reinterpret_cast<const int4*>(xt)) + dot16(hi, *reinterpret_cast<const int4*>(xt + 16));
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

// dot_q4k_lean's per-lane constants: get_scale_min_k4 for sub-blocks 2c and 2c + 1 at once, as two bytes of one
// word (c = lane % 4, the lane's quarter of a super-block).
struct Q4kLeanLane {
    bool lo;
    int s16;
    uint32_t mask_a, mask_b;
    int shift_m;
    __device__ __forceinline__ explicit Q4kLeanLane(int c)
        : lo(c < 2),
          s16(16 * (c & 1)),
          mask_a(c < 2 ? 0x3F3Fu : 0x0F0Fu),
          mask_b(c < 2 ? 0u : 0x3030u),
          shift_m(c < 2 ? 16 * (c & 1) : 16 * (c & 1) + 4) {}
};

// One lane's share of one Q4_K super-block row in dot_q4k_lean: head is the block's 16-byte header, qa and qb its
// quant bytes [32c, 32c + 16) and [32c + 16, 32c + 32); x0..x3 the activations of elements 64c + (0..63), xd and xs
// the scales and sums of activation blocks 2c and 2c + 1. (Also the arithmetic of bench/q4k_layout_bench.cu, which
// loads the same values from other layouts.)
__device__ __forceinline__ float q4k_lean_block(const Q4kLeanLane& ln, const int4& head, const int4& qa, const int4& qb,
                                                const int4& x0, const int4& x1, const int4& x2, const int4& x3,
                                                const float2& xd, const float2& xs) {
    const uint32_t w0 = head.y, w1 = head.z, w2 = head.w;
    const uint32_t sc = (((ln.lo ? w0 : w2) >> ln.s16) & ln.mask_a) | ((w0 >> (ln.s16 + 2)) & ln.mask_b);
    const uint32_t mn = (((ln.lo ? w1 : w2) >> ln.shift_m) & ln.mask_a) | ((w1 >> (ln.s16 + 2)) & ln.mask_b);
    int dl = 0, dh = 0;
    dl = dot4(qa.x & 0x0F0F0F0F, x0.x, dl);
    dl = dot4(qa.y & 0x0F0F0F0F, x0.y, dl);
    dl = dot4(qa.z & 0x0F0F0F0F, x0.z, dl);
    dl = dot4(qa.w & 0x0F0F0F0F, x0.w, dl);
    dl = dot4(qb.x & 0x0F0F0F0F, x1.x, dl);
    dl = dot4(qb.y & 0x0F0F0F0F, x1.y, dl);
    dl = dot4(qb.z & 0x0F0F0F0F, x1.z, dl);
    dl = dot4(qb.w & 0x0F0F0F0F, x1.w, dl);
    dh = dot4_us(qa.x & 0xF0F0F0F0, x2.x, dh);
    dh = dot4_us(qa.y & 0xF0F0F0F0, x2.y, dh);
    dh = dot4_us(qa.z & 0xF0F0F0F0, x2.z, dh);
    dh = dot4_us(qa.w & 0xF0F0F0F0, x2.w, dh);
    dh = dot4_us(qb.x & 0xF0F0F0F0, x3.x, dh);
    dh = dot4_us(qb.y & 0xF0F0F0F0, x3.y, dh);
    dh = dot4_us(qb.z & 0xF0F0F0F0, x3.z, dh);
    dh = dot4_us(qb.w & 0xF0F0F0F0, x3.w, dh);
    const float2 dm = __half22float2(*reinterpret_cast<const __half2*>(&head.x));
    const float s0 = dm.x * xd.x * small_int_to_float(static_cast<int>(sc & 0xFF));
    const float s1 = dm.x * (1.0f / 16.0f) * xd.y * small_int_to_float(static_cast<int>(sc >> 8));
    const float m = dm.y * (small_int_to_float(static_cast<int>(mn & 0xFF)) * xs.x +
                            small_int_to_float(static_cast<int>(mn >> 8)) * xs.y);
    return s0 * small_int_to_float(dl) + s1 * small_int_to_float(dh) - m;
}

// Q4_K, one token, with fewer instructions than dot_k: 4 lanes per super-block, lane c of the 4 taking the 32 quant
// bytes [32c, 32c + 32), i.e. sub-block 2c (low nibbles) and 2c + 1 (high nibbles, left in place: the unsigned dp4a
// sees 16x the nibble, folded into the scale). Each lane decodes two scales and two mins per super-block and row
// (dot_k decodes four for the same 64 weights), both at once as two bytes of a word with per-lane masks, and no
// value goes through the conversion pipe. Per GLU step (gate and up rows): 173 instructions against dot_k's 251, of
// which 24 conversions. Measured on the H200 (Llama-3-8B shapes, frugal_cuda_matvec_bench's steady state): gate+up
// 21.6 -> 20.2 us, while the stacked products, which run ~16 warps per SM, lost a little (down 14.9 -> 16.0 us);
// in the decode step, all Q4_K products on it: tg128 @ d512 494.5 -> 506 tok/s (two runs each). The dp4a chains
// split in four (shorter dependent latency) measured slower: gate+up 21.9 us.
//
// kPrefetchNext: each step first asks L2 for the rows' super-blocks of the next step (the 4 lanes' offsets 0, 48, 96
// and 143 touch every 128-byte line of the 144 bytes), so that step's loads wait on L2 rather than DRAM. At the SM's
// real clock these kernels are bound by load latency, not issue (ncu at 1.96 GHz on the H200: 23-39% issue, most
// stalls on the long scoreboard). Measured on an H100 (tg128 @ d512, three A/B calls, two runs each): the stacked
// products with it, 443-447 -> 449-457 tok/s (d4096 399.9 -> 406.2); two steps ahead was neutral. The GLU product
// lost with it (443 -> 428; it already runs at 87% of the H100's copy bandwidth), so it stays off there.
template <int R, bool kPrefetchNext = false>
__device__ __forceinline__ void dot_q4k_lean(const uint8_t* const (&wr)[R], int64_t K, const QuantizedActivations& xq,
                                             float (&acc)[R][1]) {
    const int lane = threadIdx.x % kWarpSize;
    const int c = lane % 4;
    const int nb = static_cast<int>(K / 256);
    const Q4kLeanLane ln(c);
#pragma unroll 1
    for (int sb = lane / 4; sb < nb; sb += kWarpSize / 4) {
        if constexpr (kPrefetchNext) {
            if (sb + kWarpSize / 4 < nb) {
#pragma unroll
                for (int r = 0; r < R; ++r) {
                    prefetch_line_l2(wr[r] + (sb + kWarpSize / 4) * 144 + (c == 3 ? 143 : 48 * c));
                }
            }
        }
        const int8_t* xt = xq.q + sb * 256 + 64 * c;
        const int4 x0 = *reinterpret_cast<const int4*>(xt), x1 = *reinterpret_cast<const int4*>(xt + 16);
        const int4 x2 = *reinterpret_cast<const int4*>(xt + 32), x3 = *reinterpret_cast<const int4*>(xt + 48);
        const float2 xd = *reinterpret_cast<const float2*>(xq.d + sb * 8 + 2 * c);
        const float2 xs = *reinterpret_cast<const float2*>(xq.sum + sb * 8 + 2 * c);
#pragma unroll
        for (int r = 0; r < R; ++r) {
            const uint8_t* blk = wr[r] + sb * 144;
            const int4 head = *reinterpret_cast<const int4*>(blk);
            const int4 qa = *reinterpret_cast<const int4*>(blk + 16 + 32 * c);
            const int4 qb = *reinterpret_cast<const int4*>(blk + 32 + 32 * c);
            acc[r][0] += q4k_lean_block(ln, head, qa, qb, x0, x1, x2, x3, xd, xs);
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
                    acc[r][t] += wv[r][0] * a.x + wv[r][1] * a.y + wv[r][2] * a.z + wv[r][3] * a.w + wv[r][4] * b.x +
                                 wv[r][5] * b.y + wv[r][6] * b.z + wv[r][7] * b.w;
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
// kLean: Q4_K with one token takes dot_q4k_lean (the dense matrix-vector kernels, where it was measured), with
// kPrefetchNext passed on.
template <int NT, WeightFormat F, int R, bool kLean = false, bool kPrefetchNext = false>
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
        if constexpr (kLean && NT == 1 && F == WeightFormat::kQ4K) {
            dot_q4k_lean<R, kPrefetchNext>(wr, K, xq, acc);
        } else {
            dot_k<NT, F == WeightFormat::kQ5K, R>(wr, K, xq, n, acc);
        }
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

}  // namespace frugal::cuda
