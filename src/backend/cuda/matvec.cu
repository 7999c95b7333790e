// Matrix-vector (and matrix-small-batch) products: y[t][o] = sum_i w[o][i] x[t][i] for up to 16 tokens.
//
// Decode reads every weight once per step, so these kernels are built around the weight stream: one warp per
// output row, each lane reading 16 aligned bytes per step (a warp moves 512 contiguous bytes), dequantizing in
// registers. Quantized weights meet int8 activations (quantized per 32 beforehand) in dp4a dot products, four
// multiply-adds per instruction, so the arithmetic stays below the memory time even at 4.5 bits per weight; the
// per-block scales are applied once per 16 or 32 products. Each token's partial sum stays in a register of every
// lane and is reduced across the warp at the end; the weights are read once for all tokens of the batch.
#include "backend/cuda/cuda_kernels.cuh"

namespace frugal::cuda {
namespace {

constexpr int kRowsPerBlock = 4;  // warps per block, one output row each
constexpr int kThreads = kRowsPerBlock * kWarpSize;

template <int NT>
__device__ __forceinline__ void write_rows(float (&acc)[NT], int n, int64_t row, int64_t rows, float* y) {
    const int lane = threadIdx.x % kWarpSize;
#pragma unroll
    for (int t = 0; t < NT; ++t) {
        const float v = warp_sum(acc[t]);
        if (lane == 0 && t < n) y[t * rows + row] = v;
    }
}

// Q8: 16 int8 weights per lane-step, half a 32-block.
template <int NT>
__global__ void __launch_bounds__(kThreads) matvec_q8(WeightView w, QuantizedActivations x, int n, float* y) {
    const int64_t row = blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x / kWarpSize;
    if (row >= w.rows) return;
    const int lane = threadIdx.x % kWarpSize;
    const int64_t K = w.cols;
    const int8_t* wq = reinterpret_cast<const int8_t*>(w.data) + row * K;
    const __half* wd = reinterpret_cast<const __half*>(w.data + w.rows * K) + row * (K / 32);
    float acc[NT] = {};
#pragma unroll 4
    for (int64_t c = lane * 16; c < K; c += 16 * kWarpSize) {
        const int4 wv = *reinterpret_cast<const int4*>(wq + c);
        const float dw = __half2float(wd[c / 32]);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            if (t < n) {
                const int4 xv = *reinterpret_cast<const int4*>(x.q + t * K + c);
                acc[t] += dw * x.d[t * (K / 32) + c / 32] * static_cast<float>(dot16(wv, xv));
            }
        }
    }
    write_rows<NT>(acc, n, row, w.rows, y);
}

// Q4_0: one 32-block per lane-step: 16 bytes of nibbles (low: elements 0..15, high: 16..31).
template <int NT>
__global__ void __launch_bounds__(kThreads) matvec_q4_0(WeightView w, QuantizedActivations x, int n, float* y) {
    const int64_t row = blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x / kWarpSize;
    if (row >= w.rows) return;
    const int lane = threadIdx.x % kWarpSize;
    const int64_t K = w.cols;
    const uint8_t* wq = w.data + row * (K / 2);
    const __half* wd = reinterpret_cast<const __half*>(w.data + w.rows * K / 2) + row * (K / 32);
    float acc[NT] = {};
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
                const int8_t* xt = x.q + t * K + c;
                const int s = dot16(lo, *reinterpret_cast<const int4*>(xt)) +
                              dot16(hi, *reinterpret_cast<const int4*>(xt + 16));
                const int64_t b = t * (K / 32) + c / 32;
                acc[t] += dw * (x.d[b] * static_cast<float>(s) - 8.0f * x.sum[b]);
            }
        }
    }
    write_rows<NT>(acc, n, row, w.rows, y);
}

// Q4_K / Q5_K: 8 lanes per 256-element super-block. Lane g of the 8 reads qs bytes [16g, 16g + 16): chunk
// c = g / 2 holds elements 64c + 16h + (0..15) in its low nibbles (sub-block 2c) and 64c + 32 + 16h + (0..15) in
// its high nibbles (sub-block 2c + 1), h = g % 2. Q5_K's fifth bits for those elements sit in qh bytes
// [16h, 16h + 16), bit 2c and 2c + 1.
template <int NT, bool kQ5>
__global__ void __launch_bounds__(kThreads) matvec_k(WeightView w, QuantizedActivations x, int n, float* y) {
    const int64_t row = blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x / kWarpSize;
    if (row >= w.rows) return;
    constexpr int kBlockBytes = kQ5 ? 176 : 144;
    constexpr int kQsOffset = kQ5 ? 48 : 16;
    const int lane = threadIdx.x % kWarpSize;
    const int g = lane % 8, c = g / 2, h = g % 2;
    const int64_t K = w.cols;
    const int64_t nb = K / 256;
    const uint8_t* wr = w.data + row * nb * kBlockBytes;
    float acc[NT] = {};
#pragma unroll 2
    for (int64_t sb = lane / 8; sb < nb; sb += kWarpSize / 8) {
        const uint8_t* blk = wr + sb * kBlockBytes;
        const int4 qs = *reinterpret_cast<const int4*>(blk + kQsOffset + 16 * g);
        int4 lo = {qs.x & 0x0F0F0F0F, qs.y & 0x0F0F0F0F, qs.z & 0x0F0F0F0F, qs.w & 0x0F0F0F0F};
        int4 hi = {(qs.x >> 4) & 0x0F0F0F0F, (qs.y >> 4) & 0x0F0F0F0F, (qs.z >> 4) & 0x0F0F0F0F,
                   (qs.w >> 4) & 0x0F0F0F0F};
        if constexpr (kQ5) {
            const int4 qh = *reinterpret_cast<const int4*>(blk + 16 + 16 * h);
            const int sl = 2 * c, sh = 2 * c + 1;
            lo.x |= ((qh.x >> sl) & 0x01010101) << 4;
            lo.y |= ((qh.y >> sl) & 0x01010101) << 4;
            lo.z |= ((qh.z >> sl) & 0x01010101) << 4;
            lo.w |= ((qh.w >> sl) & 0x01010101) << 4;
            hi.x |= ((qh.x >> sh) & 0x01010101) << 4;
            hi.y |= ((qh.y >> sh) & 0x01010101) << 4;
            hi.z |= ((qh.z >> sh) & 0x01010101) << 4;
            hi.w |= ((qh.w >> sh) & 0x01010101) << 4;
        }
        const __half2 dm = *reinterpret_cast<const __half2*>(blk);
        const float d = __low2float(dm), dmin = __high2float(dm);
        int sc_lo, m_lo, sc_hi, m_hi;
        k_scale_min(2 * c, blk + 4, &sc_lo, &m_lo);
        k_scale_min(2 * c + 1, blk + 4, &sc_hi, &m_hi);
        const float dl = d * static_cast<float>(sc_lo), ml = dmin * static_cast<float>(m_lo);
        const float dh = d * static_cast<float>(sc_hi), mh = dmin * static_cast<float>(m_hi);
        const int64_t col_lo = sb * 256 + 64 * c + 16 * h;
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            if (t < n) {
                const int8_t* xt = x.q + t * K;
                const int4 xl = *reinterpret_cast<const int4*>(xt + col_lo);
                const int4 xh = *reinterpret_cast<const int4*>(xt + col_lo + 32);
                const float xdl = x.d[t * (K / 32) + col_lo / 32];
                const float xdh = x.d[t * (K / 32) + col_lo / 32 + 1];
                acc[t] += xdl * (dl * static_cast<float>(dot16(lo, xl)) - ml * static_cast<float>(sum16(xl))) +
                          xdh * (dh * static_cast<float>(dot16(hi, xh)) - mh * static_cast<float>(sum16(xh)));
            }
        }
    }
    write_rows<NT>(acc, n, row, w.rows, y);
}

// Q6_K planes: 4 lanes per super-block. Lane k of the 4 takes half n = k / 2 and l in [16j, 16j + 16), j = k % 2:
// ql bytes l and l + 32 of the half and qh byte l give elements 128n + 32m + l for m = 0..3, all with scale
// index 8n + j + 2m.
template <int NT>
__global__ void __launch_bounds__(kThreads) matvec_q6k(WeightView w, QuantizedActivations x, int n, float* y) {
    const int64_t row = blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x / kWarpSize;
    if (row >= w.rows) return;
    const int lane = threadIdx.x % kWarpSize;
    const int k = lane % 4, nh = k / 2, j = k % 2;
    const int64_t K = w.cols;
    const int64_t nb = K / 256;
    const int64_t planes = w.rows * nb;
    const uint8_t* ql_plane = w.data;
    const uint8_t* qh_plane = w.data + planes * 128;
    const auto* sc_plane = reinterpret_cast<const int8_t*>(w.data + planes * 192);
    const auto* d_plane = reinterpret_cast<const __half*>(w.data + planes * 208);
    float acc[NT] = {};
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
                const int8_t* xt = x.q + t * K + base;
                const float* xd = x.d + t * (K / 32) + base / 32;
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
    write_rows<NT>(acc, n, row, w.rows, y);
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

template <int NT, typename T>
__global__ void __launch_bounds__(kThreads) matvec_float(WeightView w, const float* x, int n, float* y) {
    const int64_t row = blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x / kWarpSize;
    if (row >= w.rows) return;
    const int lane = threadIdx.x % kWarpSize;
    const int64_t K = w.cols;
    const T* wr = reinterpret_cast<const T*>(w.data) + row * K;
    float acc[NT] = {};
#pragma unroll 4
    for (int64_t c = lane * 8; c < K; c += 8 * kWarpSize) {
        float wv[8];
        load_weights8<T>(wr + c, wv);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            if (t < n) {
                const float4 a = *reinterpret_cast<const float4*>(x + t * K + c);
                const float4 b = *reinterpret_cast<const float4*>(x + t * K + c + 4);
                acc[t] += wv[0] * a.x + wv[1] * a.y + wv[2] * a.z + wv[3] * a.w + wv[4] * b.x + wv[5] * b.y +
                          wv[6] * b.z + wv[7] * b.w;
            }
        }
    }
    write_rows<NT>(acc, n, row, w.rows, y);
}

// Float weights whose rows are not a whole number of 16-byte vectors (e.g. 172 columns): one element per lane-step.
template <int NT, typename T>
__global__ void __launch_bounds__(kThreads) matvec_float_scalar(WeightView w, const float* x, int n, float* y) {
    const int64_t row = blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x / kWarpSize;
    if (row >= w.rows) return;
    const int lane = threadIdx.x % kWarpSize;
    const int64_t K = w.cols;
    const T* wr = reinterpret_cast<const T*>(w.data) + row * K;
    float acc[NT] = {};
    for (int64_t c = lane; c < K; c += kWarpSize) {
        const float wv = static_cast<float>(wr[c]);
#pragma unroll
        for (int t = 0; t < NT; ++t) {
            if (t < n) acc[t] += wv * x[t * K + c];
        }
    }
    write_rows<NT>(acc, n, row, w.rows, y);
}

template <int NT, typename T>
void launch_float(const WeightView& w, const float* x, int n, float* y, cudaStream_t stream) {
    const auto grid = static_cast<unsigned>(ceil_div(w.rows, kRowsPerBlock));
    if (w.cols % 8 == 0) {
        matvec_float<NT, T><<<grid, kThreads, 0, stream>>>(w, x, n, y);
    } else {
        matvec_float_scalar<NT, T><<<grid, kThreads, 0, stream>>>(w, x, n, y);
    }
}

template <int NT>
void launch_for_tokens(const WeightView& w, const float* x, const QuantizedActivations& xq, int n, float* y,
                       cudaStream_t stream) {
    const auto grid = static_cast<unsigned>(ceil_div(w.rows, kRowsPerBlock));
    switch (w.format) {
        case WeightFormat::kQ8:
            matvec_q8<NT><<<grid, kThreads, 0, stream>>>(w, xq, n, y);
            break;
        case WeightFormat::kQ4_0:
            matvec_q4_0<NT><<<grid, kThreads, 0, stream>>>(w, xq, n, y);
            break;
        case WeightFormat::kQ4K:
            matvec_k<NT, false><<<grid, kThreads, 0, stream>>>(w, xq, n, y);
            break;
        case WeightFormat::kQ5K:
            matvec_k<NT, true><<<grid, kThreads, 0, stream>>>(w, xq, n, y);
            break;
        case WeightFormat::kQ6K:
            matvec_q6k<NT><<<grid, kThreads, 0, stream>>>(w, xq, n, y);
            break;
        case WeightFormat::kF32:
            launch_float<NT, float>(w, x, n, y, stream);
            break;
        case WeightFormat::kF16:
            launch_float<NT, __half>(w, x, n, y, stream);
            break;
        case WeightFormat::kBF16:
            launch_float<NT, __nv_bfloat16>(w, x, n, y, stream);
            break;
    }
    CUDA_CHECK_LAUNCH();
}

}  // namespace

bool matvec_uses_quantized_activations(WeightFormat format) {
    return format != WeightFormat::kF32 && format != WeightFormat::kF16 && format != WeightFormat::kBF16;
}

void launch_matvec(const WeightView& w, const float* x, const QuantizedActivations& xq, int64_t n, float* y,
                   cudaStream_t stream) {
    CHECK(n >= 1 && n <= kMaxMatvecTokens) << "matvec takes 1.." << kMaxMatvecTokens << " tokens, got " << n;
    const int nt = static_cast<int>(n);
    if (nt == 1) {
        launch_for_tokens<1>(w, x, xq, nt, y, stream);
    } else if (nt == 2) {
        launch_for_tokens<2>(w, x, xq, nt, y, stream);
    } else if (nt <= 4) {
        launch_for_tokens<4>(w, x, xq, nt, y, stream);
    } else if (nt <= 8) {
        launch_for_tokens<8>(w, x, xq, nt, y, stream);
    } else {
        launch_for_tokens<16>(w, x, xq, nt, y, stream);
    }
}

}  // namespace frugal::cuda
