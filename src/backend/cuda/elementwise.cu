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
    begin_dependent_kernel();
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= n * table.cols) return;
    const int64_t t = i / table.cols, c = i % table.cols;
    out[i] = weight_at(table, ids[t], c);
}

// One block of kNormThreads per row. A decode step normalizes one row, so the row is spread over many threads and
// each thread issues all its loads before the first add (a loop of dependent global loads on one warp would pay
// the memory latency once per element). Each thread sums its squares in float, the block combines the partial
// sums in double: close to the CPU reference's double sum without double-precision work per element.
constexpr int kNormThreads = 1024;
constexpr int kNormCached = 8;  // elements per thread kept in registers (rows up to 8192 wide)

// 1 / rms of a row from each thread's float sum of squares: warps reduce in float, the block in double. Every
// thread of the block must call it (it synchronizes the block).
__device__ float rms_scale(float sum, int64_t d, float eps) {
    __shared__ double partial[kNormThreads / kWarpSize];
    sum = warp_sum(sum);
    if (threadIdx.x % kWarpSize == 0) partial[threadIdx.x / kWarpSize] = sum;
    __syncthreads();
    if (threadIdx.x == 0) {
        double total = 0;
        for (int w = 0; w < static_cast<int>(blockDim.x / kWarpSize); ++w) total += partial[w];
        partial[0] = total;
    }
    __syncthreads();
    return rsqrtf(static_cast<float>(partial[0] / static_cast<double>(d)) + eps);
}

// out_bf16 (optional): the same values rounded to BF16, the operand of the GEMM that reads them next.
__global__ void __launch_bounds__(kNormThreads) rms_norm_kernel(const float* x, const float* weight, float eps,
                                                                int64_t d, float* out, __nv_bfloat16* out_bf16) {
    begin_dependent_kernel();
    const float* xr = x + blockIdx.x * d;
    float* yr = out + blockIdx.x * d;
    float v[kNormCached];
#pragma unroll
    for (int k = 0; k < kNormCached; ++k) {
        const int64_t i = threadIdx.x + static_cast<int64_t>(k) * kNormThreads;
        v[k] = i < d ? xr[i] : 0.0f;
    }
    float sum = 0;
#pragma unroll
    for (int k = 0; k < kNormCached; ++k) sum += v[k] * v[k];
    for (int64_t i = threadIdx.x + static_cast<int64_t>(kNormCached) * kNormThreads; i < d; i += kNormThreads) {
        sum += xr[i] * xr[i];
    }
    const float inv = rms_scale(sum, d, eps);
#pragma unroll
    for (int k = 0; k < kNormCached; ++k) {
        const int64_t i = threadIdx.x + static_cast<int64_t>(k) * kNormThreads;
        if (i < d) {
            const float y = v[k] * inv * weight[i];
            yr[i] = y;
            if (out_bf16 != nullptr) out_bf16[blockIdx.x * d + i] = __float2bfloat16_rn(y);
        }
    }
    for (int64_t i = threadIdx.x + static_cast<int64_t>(kNormCached) * kNormThreads; i < d; i += kNormThreads) {
        const float y = xr[i] * inv * weight[i];
        yr[i] = y;
        if (out_bf16 != nullptr) out_bf16[blockIdx.x * d + i] = __float2bfloat16_rn(y);
    }
}

// RMSNorm of one short row that also writes the int8 copy the matrix-vector kernels read (one pass instead of
// norm + quantize): thread i holds elements [8i, 8i + 8), so four neighbouring lanes hold one 32-block and find
// its amax with two shuffles. d is a multiple of 32 and at most 8 * 1024. kQuantize false: the norm alone, in the
// same form (the weights loaded before the wait).
template <bool kQuantize>
__global__ void __launch_bounds__(kNormThreads) rms_norm_quantize_kernel(const float* x, const float* weight, float eps,
                                                                         int64_t d, float* out, int8_t* q,
                                                                         float* qd, float* qsum) {
    const int64_t base = static_cast<int64_t>(threadIdx.x) * 8;
    const bool active = base < d;
    // The norm's weights are constant, so they are loaded before waiting on the kernel that writes x.
    float w[8] = {};
    if (active) {
#pragma unroll
        for (int k = 0; k < 8; ++k) w[k] = weight[base + k];
    }
    begin_dependent_kernel();
    const float* xr = x + blockIdx.x * d;
    float v[8];
    if (active) {
        const float4 a = *reinterpret_cast<const float4*>(xr + base);
        const float4 b = *reinterpret_cast<const float4*>(xr + base + 4);
        v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w, v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
    } else {
#pragma unroll
        for (int k = 0; k < 8; ++k) v[k] = 0.0f;
    }
    float sum = 0;
#pragma unroll
    for (int k = 0; k < 8; ++k) sum += v[k] * v[k];
    const float inv = rms_scale(sum, d, eps);
    float amax = 0;
    if (active) {
#pragma unroll
        for (int k = 0; k < 8; ++k) {
            v[k] = v[k] * inv * w[k];
            amax = fmaxf(amax, fabsf(v[k]));
        }
        float* yr = out + blockIdx.x * d + base;
        *reinterpret_cast<float4*>(yr) = make_float4(v[0], v[1], v[2], v[3]);
        *reinterpret_cast<float4*>(yr + 4) = make_float4(v[4], v[5], v[6], v[7]);
    }
    if constexpr (!kQuantize) return;
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 1));
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, 2));
    const float scale = amax / 127.0f;
    int qi[8];
    int qs = 0;
#pragma unroll
    for (int k = 0; k < 8; ++k) {
        qi[k] = amax == 0.0f ? 0 : __float2int_rn(v[k] / scale);
        qs += qi[k];
    }
    qs += __shfl_xor_sync(0xffffffffu, qs, 1);
    qs += __shfl_xor_sync(0xffffffffu, qs, 2);
    if (active) {
        const int64_t e = blockIdx.x * d + base;
        int2 packed;
        packed.x = (qi[0] & 0xFF) | ((qi[1] & 0xFF) << 8) | ((qi[2] & 0xFF) << 16) | (qi[3] << 24);
        packed.y = (qi[4] & 0xFF) | ((qi[5] & 0xFF) << 8) | ((qi[6] & 0xFF) << 16) | (qi[7] << 24);
        *reinterpret_cast<int2*>(q + e) = packed;
        if (threadIdx.x % 4 == 0) {
            qd[e / 32] = scale;
            qsum[e / 32] = scale * static_cast<float>(qs);
        }
    }
}

__global__ void add_kernel(const float* a, const float* b, int64_t n, int64_t b_elems, float* out) {
    begin_dependent_kernel();
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i < n) out[i] = a[i] + b[i % b_elems];
}

__global__ void scale_kernel(float* x, int64_t n, float s) {
    begin_dependent_kernel();
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i < n) x[i] *= s;
}

// One thread per rotated pair. The angle is computed in double, as the CPU reference does, so both backends
// rotate by the same float cos/sin.
__global__ void rope_kernel(float* x, int64_t n, int64_t heads, int64_t head_dim, const int32_t* positions,
                            RopeMode mode, int n_rot, float freq_base, float freq_scale, const float* factors) {
    begin_dependent_kernel();
    const int64_t half = n_rot / 2;
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= n * heads * half) return;
    const int64_t p = i % half;
    const int64_t th = i / half;  // token * heads + head
    const int64_t t = th / heads;
    float cs, sn;
    rope_cos_sin(positions[t], p, n_rot, freq_base, freq_scale, factors, &cs, &sn);
    float* xh = x + th * head_dim;
    const int64_t i0 = mode == RopeMode::kNormal ? 2 * p : p;
    const int64_t i1 = mode == RopeMode::kNormal ? 2 * p + 1 : p + half;
    rope_rotate(cs, sn, &xh[i0], &xh[i1]);
}

// rope(q); rope(k); store_kv(k, v) in one launch: one thread per pair of head elements of `group` consecutive heads,
// over the query heads and then the KV heads of every token. Pairs below n_rot / 2 rotate (adjacent elements, or
// i and i + n_rot / 2 for NeoX); the rest pass through. A KV-head pair also goes into the caches (two K and two V
// elements). The angle (double precision, ~200 instructions) depends on the token and the pair only, so a group of
// heads shares it: prefill launches groups of kRopeGroup heads, a decode step one head per thread (more threads, a
// shorter chain). Index math is 32-bit (the launcher checks the range): a 64-bit division is a ~100-instruction
// routine.
__global__ void rope_store_kv_kernel(float* q, float* k, const float* v, int n, int heads, int kv_heads, int head_dim,
                                     int group, const int32_t* positions, RopeMode mode, int n_rot, float freq_base,
                                     float freq_scale, const float* factors, const int32_t* slots, bool cache_f16,
                                     void* k_cache, void* v_cache) {
    const int pairs = head_dim / 2, slots_per_token = heads + kv_heads;
    const int groups = (slots_per_token + group - 1) / group;
    const int i = static_cast<int>(blockIdx.x * blockDim.x + threadIdx.x);
    const bool active = i < n * groups * pairs;
    const int p = i % pairs;
    const int first = (i / pairs) % groups * group;
    const int t = i / pairs / groups;
    const int half = n_rot / 2;
    // The angle depends only on the step's positions (written by the host before the step) and the constant
    // frequency factors, so it is computed before waiting on the kernel that writes q and k.
    float cs = 1.0f, sn = 0.0f;
    if (active && p < half) rope_cos_sin(positions[t], p, n_rot, freq_base, freq_scale, factors, &cs, &sn);
    begin_dependent_kernel();
    if (!active) return;
    const int i0 = p >= half ? n_rot + 2 * (p - half) : mode == RopeMode::kNormal ? 2 * p : p;
    const int i1 = p >= half || mode == RopeMode::kNormal ? i0 + 1 : p + half;
    const int last = min(first + group, slots_per_token);
    const int64_t kv_row = static_cast<int64_t>(kv_heads) * head_dim;
    for (int slot_head = first; slot_head < last; ++slot_head) {
        const bool is_k = slot_head >= heads;
        const int h = is_k ? slot_head - heads : slot_head;
        float* xh = is_k ? k + (static_cast<int64_t>(t) * kv_heads + h) * head_dim
                         : q + (static_cast<int64_t>(t) * heads + h) * head_dim;
        if (p < half) rope_rotate(cs, sn, &xh[i0], &xh[i1]);
        if (!is_k) continue;
        const int64_t src = t * kv_row + h * head_dim;
        const int64_t dst = slots[t] * kv_row + h * head_dim;
        if (cache_f16) {
            static_cast<__half*>(k_cache)[dst + i0] = __float2half_rn(xh[i0]);
            static_cast<__half*>(k_cache)[dst + i1] = __float2half_rn(xh[i1]);
            static_cast<__half*>(v_cache)[dst + i0] = __float2half_rn(v[src + i0]);
            static_cast<__half*>(v_cache)[dst + i1] = __float2half_rn(v[src + i1]);
        } else {
            static_cast<float*>(k_cache)[dst + i0] = xh[i0];
            static_cast<float*>(k_cache)[dst + i1] = xh[i1];
            static_cast<float*>(v_cache)[dst + i0] = v[src + i0];
            static_cast<float*>(v_cache)[dst + i1] = v[src + i1];
        }
    }
}

// out_bf16 (optional): the same values rounded to BF16, the operand of the GEMM that reads them next.
__global__ void glu_kernel(const float* gate, const float* up, int64_t n, GluKind kind, float* out,
                           __nv_bfloat16* out_bf16) {
    begin_dependent_kernel();
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
    const float y = a * up[i];
    out[i] = y;
    if (out_bf16 != nullptr) out_bf16[i] = __float2bfloat16_rn(y);
}

// Thread i: element i % (kw + vw) of token i / (kw + vw)'s k row (the first kw) or v row (the rest); k and v rows
// differ in width in the latent caches of multi-head latent attention.
__global__ void store_kv_kernel(const float* k, const float* v, const int32_t* slots, int64_t n, int64_t kw,
                                int64_t vw, bool cache_f16, void* k_cache, void* v_cache) {
    begin_dependent_kernel();
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= n * (kw + vw)) return;
    const int64_t t = i / (kw + vw), e = i % (kw + vw);
    const bool is_k = e < kw;
    const int64_t width = is_k ? kw : vw;
    const int64_t c = is_k ? e : e - kw;
    const float value = is_k ? k[t * kw + c] : v[t * vw + c];
    const int64_t dst = static_cast<int64_t>(slots[t]) * width + c;
    void* cache = is_k ? k_cache : v_cache;
    if (cache_f16) {
        static_cast<__half*>(cache)[dst] = __float2half_rn(value);
    } else {
        static_cast<float*>(cache)[dst] = value;
    }
}

// One warp per block of 32 activations.
__global__ void quantize_activations_kernel(const float* x, int64_t num_blocks, int8_t* q, float* d, float* sum) {
    begin_dependent_kernel();
    const int64_t b = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / kWarpSize;
    if (b >= num_blocks) return;
    const int lane = threadIdx.x % kWarpSize;
    quantize_block32_warp(x[b * 32 + lane], q + b * 32 + lane, d + b, sum + b);
}

// 32 consecutive elements [32 * chunk, 32 * chunk + 32) of row r, with vector loads of the block they share.
__device__ __forceinline__ void dequantize32(const WeightView& w, int64_t r, int64_t chunk, float (&out)[32]) {
    const int64_t c0 = chunk * 32;
    switch (w.format) {
        case WeightFormat::kQ8: {
            const auto* q = reinterpret_cast<const int4*>(w.data + r * w.cols + c0);
            const float d = __half2float(reinterpret_cast<const __half*>(w.data + w.rows * w.cols)[r * (w.cols / 32) + chunk]);
            const int4 a = q[0], b = q[1];
            const int8_t* qa = reinterpret_cast<const int8_t*>(&a);
            const int8_t* qb = reinterpret_cast<const int8_t*>(&b);
#pragma unroll
            for (int i = 0; i < 16; ++i) {
                out[i] = d * qa[i];
                out[16 + i] = d * qb[i];
            }
            return;
        }
        case WeightFormat::kQ4_0: {
            const int4 a = *reinterpret_cast<const int4*>(w.data + (r * w.cols + c0) / 2);
            const float d = __half2float(reinterpret_cast<const __half*>(w.data + w.rows * w.cols / 2)[r * (w.cols / 32) + chunk]);
            const uint8_t* qa = reinterpret_cast<const uint8_t*>(&a);
#pragma unroll
            for (int i = 0; i < 16; ++i) {
                out[i] = d * ((qa[i] & 0xF) - 8);
                out[16 + i] = d * ((qa[i] >> 4) - 8);
            }
            return;
        }
        case WeightFormat::kQ4K:
        case WeightFormat::kQ5K: {
            const bool q5 = w.format == WeightFormat::kQ5K;
            const int64_t nb = w.cols / 256;
            const uint8_t* blk = w.data + (r * nb + c0 / 256) * (q5 ? 176 : 144);
            const int j = static_cast<int>((c0 % 256) / 32);  // sub-block
            const int c = j / 2, hi = j % 2;
            int sc, m;
            k_scale_min(j, blk + 4, &sc, &m);
            const __half2 dm = *reinterpret_cast<const __half2*>(blk);
            const float d = __low2float(dm) * sc, mn = __high2float(dm) * m;
            const uint8_t* qs = blk + (q5 ? 48 : 16) + 32 * c;
            const int4 a = reinterpret_cast<const int4*>(qs)[0], b = reinterpret_cast<const int4*>(qs)[1];
            const uint8_t* qa = reinterpret_cast<const uint8_t*>(&a);
            const uint8_t* qb = reinterpret_cast<const uint8_t*>(&b);
            int4 ha{}, hb{};
            if (q5) {
                ha = reinterpret_cast<const int4*>(blk + 16)[0];
                hb = reinterpret_cast<const int4*>(blk + 16)[1];
            }
            const uint8_t* qha = reinterpret_cast<const uint8_t*>(&ha);
            const uint8_t* qhb = reinterpret_cast<const uint8_t*>(&hb);
#pragma unroll
            for (int i = 0; i < 16; ++i) {
                int q0 = (qa[i] >> (4 * hi)) & 0xF, q1 = (qb[i] >> (4 * hi)) & 0xF;
                if (q5) {
                    q0 |= ((qha[i] >> j) & 1) << 4;
                    q1 |= ((qhb[i] >> j) & 1) << 4;
                }
                out[i] = d * q0 - mn;
                out[16 + i] = d * q1 - mn;
            }
            return;
        }
        case WeightFormat::kQ6K: {
            const int64_t nb = w.cols / 256;
            const int64_t idx = r * nb + c0 / 256;
            const int64_t planes = w.rows * nb;
            const int e = static_cast<int>(c0 % 256);
            const int half = e / 128, group = (e % 128) / 32;
            const uint8_t* ql = w.data + idx * 128 + 64 * half + (group & 1) * 32;
            const uint8_t* qh = w.data + planes * 128 + idx * 64 + 32 * half;
            const auto* scales = reinterpret_cast<const int8_t*>(w.data + planes * 192 + idx * 16) + 8 * half + 2 * group;
            const float d = __half2float(reinterpret_cast<const __half*>(w.data + planes * 208)[idx]);
            const float d0 = d * scales[0], d1 = d * scales[1];
            const int4 la = reinterpret_cast<const int4*>(ql)[0], lb = reinterpret_cast<const int4*>(ql)[1];
            const int4 ha = reinterpret_cast<const int4*>(qh)[0], hb = reinterpret_cast<const int4*>(qh)[1];
            const uint8_t* l0 = reinterpret_cast<const uint8_t*>(&la);
            const uint8_t* l1 = reinterpret_cast<const uint8_t*>(&lb);
            const uint8_t* h0 = reinterpret_cast<const uint8_t*>(&ha);
            const uint8_t* h1 = reinterpret_cast<const uint8_t*>(&hb);
            const int shift = group < 2 ? 0 : 4;
#pragma unroll
            for (int i = 0; i < 16; ++i) {
                const int q0 = ((l0[i] >> shift) & 0xF) | (((h0[i] >> (2 * group)) & 3) << 4);
                const int q1 = ((l1[i] >> shift) & 0xF) | (((h1[i] >> (2 * group)) & 3) << 4);
                out[i] = d0 * (q0 - 32);
                out[16 + i] = d1 * (q1 - 32);
            }
            return;
        }
        default:
#pragma unroll
            for (int i = 0; i < 32; ++i) out[i] = weight_at(w, r, c0 + i);
            return;
    }
}

// One thread per 32 elements: the block's scales are decoded once, the output is written as 16-byte stores.
__global__ void dequantize_bf16_kernel(WeightView w, int64_t row_begin, int64_t num_chunks, __nv_bfloat16* out) {
    begin_dependent_kernel();
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= num_chunks) return;
    const int64_t chunks_per_row = w.cols / 32;
    const int64_t r = row_begin + i / chunks_per_row, chunk = i % chunks_per_row;
    float v[32];
    dequantize32(w, r, chunk, v);
    __align__(16) __nv_bfloat162 packed[16];
#pragma unroll
    for (int k = 0; k < 16; ++k) packed[k] = __floats2bfloat162_rn(v[2 * k], v[2 * k + 1]);
    int4* dst = reinterpret_cast<int4*>(out + i * 32);
#pragma unroll
    for (int k = 0; k < 4; ++k) dst[k] = reinterpret_cast<const int4*>(packed)[k];
}

// Formats whose rows need not be a multiple of 32 (F32/F16/BF16 weights): one element per thread.
__global__ void dequantize_bf16_scalar_kernel(WeightView w, int64_t row_begin, int64_t count, __nv_bfloat16* out) {
    begin_dependent_kernel();
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= count) return;
    const int64_t r = row_begin + i / w.cols, c = i % w.cols;
    out[i] = __float2bfloat16_rn(weight_at(w, r, c));
}

__global__ void f32_to_bf16_kernel(const float* x, int64_t n, __nv_bfloat16* out) {
    begin_dependent_kernel();
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i < n) out[i] = __float2bfloat16_rn(x[i]);
}

// Four elements per thread (one 16-byte load, one 8-byte store), when n is a multiple of 4 and both ends are aligned.
__global__ void f32_to_bf16_x4_kernel(const float4* x, int64_t n4, uint2* out) {
    begin_dependent_kernel();
    const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
    if (i >= n4) return;
    const float4 v = x[i];
    const __nv_bfloat162 lo = __floats2bfloat162_rn(v.x, v.y), hi = __floats2bfloat162_rn(v.z, v.w);
    out[i] = make_uint2(*reinterpret_cast<const uint32_t*>(&lo), *reinterpret_cast<const uint32_t*>(&hi));
}

}  // namespace

void launch_get_rows(const WeightView& table, const int32_t* ids, int64_t n, float* out, cudaStream_t stream) {
    if (n == 0) return;
    launch_kernel(get_rows_kernel, blocks_for(n * table.cols), kThreads, 0, stream, table, ids, n, out);
}

void launch_rms_norm(const float* x, const float* weight, float eps, int64_t rows, int64_t d, float* out,
                     cudaStream_t stream, __nv_bfloat16* out_bf16) {
    if (rows == 0) return;
    launch_kernel(rms_norm_kernel, static_cast<unsigned>(rows), kNormThreads, 0, stream, x, weight, eps, d, out,
                  out_bf16);
}

bool rms_norm_quantize_supported(int64_t d) { return d % 32 == 0 && d <= 8 * kNormThreads; }

void launch_rms_norm_quantize(const float* x, const float* weight, float eps, int64_t rows, int64_t d, float* out,
                              int8_t* q, float* qd, float* qsum, cudaStream_t stream) {
    if (rows == 0) return;
    CHECK(rms_norm_quantize_supported(d)) << d;
    const auto threads = static_cast<unsigned>(ceil_div(d / 8, kWarpSize) * kWarpSize);
    auto* kernel = q != nullptr ? rms_norm_quantize_kernel<true> : rms_norm_quantize_kernel<false>;
    launch_kernel(kernel, static_cast<unsigned>(rows), threads, 0, stream, x, weight, eps, d, out, q, qd, qsum);
}

void launch_add(const float* a, const float* b, int64_t n, int64_t b_elems, float* out, cudaStream_t stream) {
    if (n == 0) return;
    launch_kernel(add_kernel, blocks_for(n), kThreads, 0, stream, a, b, n, b_elems, out);
}

void launch_scale(float* x, int64_t n, float s, cudaStream_t stream) {
    if (n == 0) return;
    launch_kernel(scale_kernel, blocks_for(n), kThreads, 0, stream, x, n, s);
}

void launch_rope(float* x, int64_t n, int64_t heads, int64_t head_dim, const int32_t* positions, const RopeParams& p,
                 const float* freq_factors, cudaStream_t stream) {
    const int64_t pairs = n * heads * (p.n_rot / 2);
    if (pairs == 0) return;
    launch_kernel(rope_kernel, blocks_for(pairs), kThreads, 0, stream, x, n, heads, head_dim, positions, p.mode, p.n_rot, p.freq_base, p.freq_scale, freq_factors);
}

void launch_rope_store_kv(float* q, float* k, const float* v, int64_t n, int64_t heads, int64_t kv_heads,
                          int64_t head_dim, const int32_t* positions, const RopeParams& p, const float* freq_factors,
                          const int32_t* slots, bool cache_f16, void* k_cache, void* v_cache, cudaStream_t stream) {
    // Heads per thread: a prefill's threads would each redo the same angle for every head; a decode step has too few
    // threads to share it. Grouping starts at kRopeGroupMinTokens tokens (a choice: only 512-token prefill and
    // one-token decode were measured, fcfc7db).
    constexpr int64_t kRopeGroup = 8;
    constexpr int64_t kRopeGroupMinTokens = 16;
    const int64_t group = n >= kRopeGroupMinTokens ? kRopeGroup : 1;
    const int64_t threads = n * ceil_div(heads + kv_heads, group) * (head_dim / 2);
    if (threads == 0) return;
    CHECK(head_dim % 2 == 0 && p.n_rot % 2 == 0 && p.n_rot <= head_dim);
    CHECK(threads + kThreads < (int64_t{1} << 31)) << "rope_store_kv: " << threads << " threads exceed 32-bit indexing";
    launch_kernel(rope_store_kv_kernel, blocks_for(threads), kThreads, 0, stream, q, k, v, static_cast<int>(n),
                  static_cast<int>(heads), static_cast<int>(kv_heads), static_cast<int>(head_dim),
                  static_cast<int>(group), positions, p.mode, p.n_rot, p.freq_base, p.freq_scale, freq_factors, slots,
                  cache_f16, k_cache, v_cache);
}

void launch_glu(const float* gate, const float* up, int64_t n, GluKind kind, float* out, cudaStream_t stream,
                __nv_bfloat16* out_bf16) {
    if (n == 0) return;
    launch_kernel(glu_kernel, blocks_for(n), kThreads, 0, stream, gate, up, n, kind, out, out_bf16);
}

void launch_store_kv(const float* k, const float* v, const int32_t* slots, int64_t n, int64_t k_row_elems,
                     int64_t v_row_elems, bool cache_f16, void* k_cache, void* v_cache, cudaStream_t stream) {
    if (n == 0) return;
    launch_kernel(store_kv_kernel, blocks_for(n * (k_row_elems + v_row_elems)), kThreads, 0, stream, k, v, slots, n,
                  k_row_elems, v_row_elems, cache_f16, k_cache, v_cache);
}

void launch_quantize_activations(const float* x, int64_t n, int64_t cols, int8_t* q, float* d, float* sum,
                                 cudaStream_t stream) {
    const int64_t num_blocks = n * cols / 32;
    if (num_blocks == 0) return;
    launch_kernel(quantize_activations_kernel, blocks_for(num_blocks * kWarpSize), kThreads, 0, stream, x, num_blocks, q, d, sum);
}

void launch_dequantize_bf16(const WeightView& w, int64_t row_begin, int64_t row_end, __nv_bfloat16* out,
                            cudaStream_t stream) {
    const int64_t count = (row_end - row_begin) * w.cols;
    if (count == 0) return;
    const bool quantized = w.format != WeightFormat::kF32 && w.format != WeightFormat::kF16 &&
                           w.format != WeightFormat::kBF16;
    if (quantized) {
        launch_kernel(dequantize_bf16_kernel, blocks_for(count / 32), kThreads, 0, stream, w, row_begin, count / 32, out);
    } else {
        launch_kernel(dequantize_bf16_scalar_kernel, blocks_for(count), kThreads, 0, stream, w, row_begin, count, out);
    }
}

void launch_f32_to_bf16(const float* x, int64_t n, __nv_bfloat16* out, cudaStream_t stream) {
    if (n == 0) return;
    if (n % 4 == 0 && reinterpret_cast<uintptr_t>(x) % 16 == 0 && reinterpret_cast<uintptr_t>(out) % 8 == 0) {
        launch_kernel(f32_to_bf16_x4_kernel, blocks_for(n / 4), kThreads, 0, stream, reinterpret_cast<const float4*>(x),
                      n / 4, reinterpret_cast<uint2*>(out));
        return;
    }
    launch_kernel(f32_to_bf16_kernel, blocks_for(n), kThreads, 0, stream, x, n, out);
}

}  // namespace frugal::cuda
