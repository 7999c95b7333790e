// Elementwise and row-wise kernels: embedding lookup, RMSNorm, residual add, scale, RoPE, GLU, KV-cache writes,
// activation quantization and weight dequantization for the GEMM path.
#include <cmath>

#include "backend/cuda/cuda_kernels.cuh"

namespace frugal::cuda {
namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) { return static_cast<int>(ceil_div(n, kThreads)); }

// One weight element (row r, column c) in any GPU layout. Used where each element is touched once (embedding
// rows, the GEMM path's BF16 tiles); the matrix-vector kernels decode whole vectors instead.
__device__ float weight_at(const WeightView& w, int64_t r, int64_t c) {
    switch (w.format) {
        case WeightFormat::kF32:
            return reinterpret_cast<const float*>(w.data)[r * w.cols + c];
        case WeightFormat::kF16:
            return __half2float(reinterpret_cast<const __half*>(w.data)[r * w.cols + c]);
        case WeightFormat::kBF16:
            return __bfloat162float(reinterpret_cast<const __nv_bfloat16*>(w.data)[r * w.cols + c]);
        case WeightFormat::kQ8: {
            const auto* q = reinterpret_cast<const int8_t*>(w.data);
            const auto* d = reinterpret_cast<const __half*>(w.data + w.rows * w.cols);
            return __half2float(d[(r * w.cols + c) / 32]) * q[r * w.cols + c];
        }
        case WeightFormat::kQ4_0: {
            const int64_t i = r * w.cols + c;
            const uint8_t byte = w.data[(i / 32) * 16 + (i % 16)];
            const int q = (i % 32) < 16 ? (byte & 0xF) : (byte >> 4);
            const auto* d = reinterpret_cast<const __half*>(w.data + w.rows * w.cols / 2);
            return __half2float(d[i / 32]) * (q - 8);
        }
        case WeightFormat::kQ4K:
        case WeightFormat::kQ5K: {
            const bool q5 = w.format == WeightFormat::kQ5K;
            const int64_t nb = w.cols / 256;
            const uint8_t* blk = w.data + (r * nb + c / 256) * (q5 ? 176 : 144);
            const int e = static_cast<int>(c % 256);
            const int chunk = e / 64, within = e % 64, l = within % 32, hi = within / 32;
            int sc, m;
            k_scale_min(2 * chunk + hi, blk + 4, &sc, &m);
            const uint8_t* qs = blk + (q5 ? 48 : 16);
            int q = (qs[32 * chunk + l] >> (4 * hi)) & 0xF;
            if (q5) q |= ((blk[16 + l] >> (2 * chunk + hi)) & 1) << 4;
            const float d = half_bits_to_float(*reinterpret_cast<const uint16_t*>(blk));
            const float dmin = half_bits_to_float(*reinterpret_cast<const uint16_t*>(blk + 2));
            return d * sc * q - dmin * m;
        }
        case WeightFormat::kQ6K: {
            const int64_t nb = w.cols / 256;
            const int64_t idx = r * nb + c / 256;
            const int64_t planes = w.rows * nb;
            const uint8_t* ql = w.data + idx * 128;
            const uint8_t* qh = w.data + planes * 128 + idx * 64;
            const auto* scales = reinterpret_cast<const int8_t*>(w.data + planes * 192 + idx * 16);
            const float d = __half2float(reinterpret_cast<const __half*>(w.data + planes * 208)[idx]);
            const int e = static_cast<int>(c % 256);
            const int half = e / 128, group = (e % 128) / 32, l = e % 32;
            const uint8_t low_byte = ql[64 * half + l + (group & 1) * 32];
            const int low = group < 2 ? (low_byte & 0xF) : (low_byte >> 4);
            const int high = (qh[32 * half + l] >> (2 * group)) & 3;
            return d * scales[8 * half + l / 16 + 2 * group] * ((low | (high << 4)) - 32);
        }
    }
    return 0.0f;
}

__global__ void get_rows_kernel(WeightView table, const int32_t* ids, int64_t n, float* out) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= n * table.cols) return;
    const int64_t t = i / table.cols, c = i % table.cols;
    out[i] = weight_at(table, ids[t], c);
}

// One block per row. Squares are summed in double, as the CPU reference does (Hopper's FP64 rate makes this free
// next to the row's memory traffic), so both backends normalize by the same float factor.
__device__ __forceinline__ double warp_sum_double(double v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__global__ void rms_norm_kernel(const float* x, const float* weight, float eps, int64_t d, float* out) {
    const float* xr = x + blockIdx.x * d;
    float* yr = out + blockIdx.x * d;
    double sum = 0;
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) sum += static_cast<double>(xr[i]) * xr[i];
    __shared__ double partial[kThreads / kWarpSize];
    sum = warp_sum_double(sum);
    if (threadIdx.x % kWarpSize == 0) partial[threadIdx.x / kWarpSize] = sum;
    __syncthreads();
    if (threadIdx.x < kWarpSize) {
        double s = threadIdx.x < blockDim.x / kWarpSize ? partial[threadIdx.x] : 0.0;
        s = warp_sum_double(s);
        if (threadIdx.x == 0) partial[0] = s;
    }
    __syncthreads();
    const float inv = static_cast<float>(1.0 / sqrt(partial[0] / static_cast<double>(d) + eps));
    for (int64_t i = threadIdx.x; i < d; i += blockDim.x) yr[i] = xr[i] * inv * weight[i];
}

__global__ void add_kernel(const float* a, const float* b, int64_t n, int64_t b_elems, float* out) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i < n) out[i] = a[i] + b[i % b_elems];
}

__global__ void scale_kernel(float* x, int64_t n, float s) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i < n) x[i] *= s;
}

// One thread per rotated pair. The angle is computed in double, as the CPU reference does, so both backends
// rotate by the same float cos/sin.
__global__ void rope_kernel(float* x, int64_t n, int64_t heads, int64_t head_dim, const int32_t* positions,
                            RopeMode mode, int n_rot, float freq_base, float freq_scale, const float* factors) {
    const int64_t half = n_rot / 2;
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= n * heads * half) return;
    const int64_t p = i % half;
    const int64_t th = i / half;  // token * heads + head
    const int64_t t = th / heads;
    double theta = static_cast<double>(positions[t]) * freq_scale *
                   pow(static_cast<double>(freq_base), -2.0 * static_cast<double>(p) / n_rot);
    if (factors != nullptr) theta /= factors[p];
    const float cs = static_cast<float>(cos(theta)), sn = static_cast<float>(sin(theta));
    float* xh = x + th * head_dim;
    const int64_t i0 = mode == RopeMode::kNormal ? 2 * p : p;
    const int64_t i1 = mode == RopeMode::kNormal ? 2 * p + 1 : p + half;
    const float x0 = xh[i0], x1 = xh[i1];
    xh[i0] = x0 * cs - x1 * sn;
    xh[i1] = x0 * sn + x1 * cs;
}

__global__ void glu_kernel(const float* gate, const float* up, int64_t n, GluKind kind, float* out) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= n) return;
    const float g = gate[i];
    float a;
    if (kind == GluKind::kSilu) {
        a = g / (1.0f + expf(-g));
    } else {
        constexpr float kSqrt2OverPi = 0.79788456080286535588f;
        a = 0.5f * g * (1.0f + tanhf(kSqrt2OverPi * g * (1.0f + 0.044715f * g * g)));
    }
    out[i] = a * up[i];
}

__global__ void store_kv_kernel(const float* k, const float* v, const int32_t* slots, int64_t n, int64_t row_elems,
                                bool cache_f16, void* k_cache, void* v_cache) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= n * row_elems) return;
    const int64_t t = i / row_elems, e = i % row_elems;
    const int64_t dst = static_cast<int64_t>(slots[t]) * row_elems + e;
    if (cache_f16) {
        static_cast<__half*>(k_cache)[dst] = __float2half_rn(k[i]);
        static_cast<__half*>(v_cache)[dst] = __float2half_rn(v[i]);
    } else {
        static_cast<float*>(k_cache)[dst] = k[i];
        static_cast<float*>(v_cache)[dst] = v[i];
    }
}

// One warp per block of 32 activations.
__global__ void quantize_activations_kernel(const float* x, int64_t num_blocks, int8_t* q, float* d, float* sum) {
    const int64_t b = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / kWarpSize;
    if (b >= num_blocks) return;
    const int lane = threadIdx.x % kWarpSize;
    const float v = x[b * 32 + lane];
    const float amax = warp_max(fabsf(v));
    const float scale = amax / 127.0f;
    const int qi = amax == 0.0f ? 0 : __float2int_rn(v / scale);
    q[b * 32 + lane] = static_cast<int8_t>(qi);
    const float qsum = warp_sum(static_cast<float>(qi));
    if (lane == 0) {
        d[b] = scale;
        sum[b] = scale * qsum;
    }
}

__global__ void dequantize_bf16_kernel(WeightView w, int64_t row_begin, int64_t count, __nv_bfloat16* out) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= count) return;
    const int64_t r = row_begin + i / w.cols, c = i % w.cols;
    out[i] = __float2bfloat16_rn(weight_at(w, r, c));
}

__global__ void f32_to_bf16_kernel(const float* x, int64_t n, __nv_bfloat16* out) {
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i < n) out[i] = __float2bfloat16_rn(x[i]);
}

}  // namespace

void launch_get_rows(const WeightView& table, const int32_t* ids, int64_t n, float* out, cudaStream_t stream) {
    if (n == 0) return;
    get_rows_kernel<<<blocks_for(n * table.cols), kThreads, 0, stream>>>(table, ids, n, out);
    CUDA_CHECK_LAUNCH();
}

void launch_rms_norm(const float* x, const float* weight, float eps, int64_t rows, int64_t d, float* out,
                     cudaStream_t stream) {
    if (rows == 0) return;
    rms_norm_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, weight, eps, d, out);
    CUDA_CHECK_LAUNCH();
}

void launch_add(const float* a, const float* b, int64_t n, int64_t b_elems, float* out, cudaStream_t stream) {
    if (n == 0) return;
    add_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a, b, n, b_elems, out);
    CUDA_CHECK_LAUNCH();
}

void launch_scale(float* x, int64_t n, float s, cudaStream_t stream) {
    if (n == 0) return;
    scale_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, n, s);
    CUDA_CHECK_LAUNCH();
}

void launch_rope(float* x, int64_t n, int64_t heads, int64_t head_dim, const int32_t* positions, const RopeParams& p,
                 const float* freq_factors, cudaStream_t stream) {
    const int64_t pairs = n * heads * (p.n_rot / 2);
    if (pairs == 0) return;
    rope_kernel<<<blocks_for(pairs), kThreads, 0, stream>>>(x, n, heads, head_dim, positions, p.mode, p.n_rot,
                                                            p.freq_base, p.freq_scale, freq_factors);
    CUDA_CHECK_LAUNCH();
}

void launch_glu(const float* gate, const float* up, int64_t n, GluKind kind, float* out, cudaStream_t stream) {
    if (n == 0) return;
    glu_kernel<<<blocks_for(n), kThreads, 0, stream>>>(gate, up, n, kind, out);
    CUDA_CHECK_LAUNCH();
}

void launch_store_kv(const float* k, const float* v, const int32_t* slots, int64_t n, int64_t row_elems,
                     bool cache_f16, void* k_cache, void* v_cache, cudaStream_t stream) {
    if (n == 0) return;
    store_kv_kernel<<<blocks_for(n * row_elems), kThreads, 0, stream>>>(k, v, slots, n, row_elems, cache_f16,
                                                                        k_cache, v_cache);
    CUDA_CHECK_LAUNCH();
}

void launch_quantize_activations(const float* x, int64_t n, int64_t cols, int8_t* q, float* d, float* sum,
                                 cudaStream_t stream) {
    const int64_t num_blocks = n * cols / 32;
    if (num_blocks == 0) return;
    quantize_activations_kernel<<<blocks_for(num_blocks * kWarpSize), kThreads, 0, stream>>>(x, num_blocks, q, d,
                                                                                             sum);
    CUDA_CHECK_LAUNCH();
}

void launch_dequantize_bf16(const WeightView& w, int64_t row_begin, int64_t row_end, __nv_bfloat16* out,
                            cudaStream_t stream) {
    const int64_t count = (row_end - row_begin) * w.cols;
    if (count == 0) return;
    dequantize_bf16_kernel<<<blocks_for(count), kThreads, 0, stream>>>(w, row_begin, count, out);
    CUDA_CHECK_LAUNCH();
}

void launch_f32_to_bf16(const float* x, int64_t n, __nv_bfloat16* out, cudaStream_t stream) {
    if (n == 0) return;
    f32_to_bf16_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, n, out);
    CUDA_CHECK_LAUNCH();
}

}  // namespace frugal::cuda
