// Helpers shared by the CUDA kernels: error checks, the GPU weight layouts, activation quantization blocks and
// warp reductions. Included only by .cu files.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <utility>

#include "backend/backend.h"
#include "core/check.h"

#define CUDA_CHECK(expr)                                                                                  \
    do {                                                                                                  \
        const cudaError_t cuda_check_err_ = (expr);                                                       \
        CHECK(cuda_check_err_ == cudaSuccess) << #expr << ": " << cudaGetErrorString(cuda_check_err_); \
    } while (0)

// Checks the launch that was just issued (bad configuration shows here; faults show at the next sync).
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())

namespace frugal::cuda {

constexpr int kWarpSize = 32;

// ---- programmatic dependent launch (Hopper) ----
// A decode step is hundreds of short kernels; with ordinary stream order each starts only after the previous one
// has drained, and the GPU idles for the launch in between. launch_kernel() lets a kernel start while the one
// before it in the stream finishes (on sm_90 and later; elsewhere it is an ordinary launch). The contract for
// every kernel launched so: call begin_dependent_kernel() before touching any memory an earlier kernel writes or
// reads, which is everything but the weights. It waits until the earlier kernels have completed with their writes
// visible, then lets the next kernel launch in turn. Before it a kernel may only read weights (the matrix-vector
// kernels start streaming theirs into L2 there, so HBM stays busy across kernel boundaries).
__device__ __forceinline__ void begin_dependent_kernel() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;\n" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// cos and sin of rotary pair p's angle at position pos. The angle is computed in double, as the CPU reference does,
// so every kernel that rotates (rope, rope + KV write, the q/k/v products' epilogue) uses the same float cos/sin.
__device__ __forceinline__ void rope_cos_sin(int32_t pos, int64_t p, int n_rot, float freq_base, float freq_scale,
                                             const float* factors, float* cs, float* sn) {
    double theta = static_cast<double>(pos) * freq_scale *
                   exp2(-2.0 * static_cast<double>(p) / n_rot * log2(static_cast<double>(freq_base)));
    if (factors != nullptr) theta /= factors[p];
    constexpr double kTwoPi = 6.283185307179586476925;
    const double reduced = theta - kTwoPi * rint(theta / kTwoPi);
    sincosf(static_cast<float>(reduced), sn, cs);
}

// Rotates the pair (x0, x1) in place by the angle of (cs, sn). Spelled with explicit roundings so that every kernel
// that rotates gets the same bits, whatever contractions the compiler would choose in each.
__device__ __forceinline__ void rope_rotate(float cs, float sn, float* x0, float* x1) {
    const float a = *x0, b = *x1;
    *x0 = __fmaf_rn(a, cs, -__fmul_rn(b, sn));
    *x1 = __fmaf_rn(a, sn, __fmul_rn(b, cs));
}

// Asks L2 to fetch [p, p + bytes) (p and bytes multiples of 16) ahead of the loads that will read it (sm_90+).
__device__ __forceinline__ void prefetch_l2(const void* p, uint32_t bytes) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;\n" ::"l"(p), "r"(bytes) : "memory");
#endif
}

// Asks L2 to fetch the 128-byte line holding p (any alignment), ahead of the loads that will read it.
__device__ __forceinline__ void prefetch_line_l2(const void* p) {
#if defined(__CUDA_ARCH__)
    asm volatile("prefetch.global.L2 [%0];\n" ::"l"(p));
#endif
}

inline bool programmatic_launch_available() {
    static const bool available = [] {
        int device = 0, major = 0;
        return cudaGetDevice(&device) == cudaSuccess &&
               cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device) == cudaSuccess && major >= 9;
    }();
    return available;
}

template <typename... Params, typename... Args>
void launch_kernel(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem_bytes, cudaStream_t stream,
                   Args&&... args) {
    cudaLaunchConfig_t config = {};
    config.gridDim = grid;
    config.blockDim = block;
    config.dynamicSmemBytes = smem_bytes;
    config.stream = stream;
    cudaLaunchAttribute attribute[1] = {};
    if (programmatic_launch_available()) {
        attribute[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
        attribute[0].val.programmaticStreamSerializationAllowed = 1;
        config.attrs = attribute;
        config.numAttrs = 1;
    }
    CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, std::forward<Args>(args)...));
}

// How a weight tensor sits in device memory. Every layout keeps the file's bits (no requantization) and the
// file's byte count, rearranged so that a warp reads it with aligned 16-byte loads:
//  kQ8    Q8_0 (and Q5_0, widened losslessly to 8 bits): int8 quants [rows][cols], then fp16 scales [rows][cols/32]
//         (GGUF's 34-byte blocks are not 16-byte aligned).
//  kQ4_0  Q4_0: nibbles [rows][cols/2] in GGML's in-block order, then fp16 scales [rows][cols/32].
//  kQ4K   Q4_K as in the file: 144-byte super-blocks are already 16-byte aligned.
//  kQ5K   Q5_K as in the file (176-byte super-blocks).
//  kQ6K   Q6_K split into planes: ql [rows][nb][128], qh [rows][nb][64], int8 scales [rows][nb][16],
//         fp16 d [rows][nb] (the file's 210-byte blocks are not aligned).
//  kF32 / kF16 / kBF16  plain row-major.
enum class WeightFormat : int { kF32, kF16, kBF16, kQ8, kQ4_0, kQ4K, kQ5K, kQ6K };

struct WeightView {
    WeightFormat format;
    const uint8_t* data;
    int64_t rows;
    int64_t cols;
};

// Activations quantized for the integer (dp4a) matrix-vector kernels: per 32 consecutive values of a row, int8
// q = round(x / d) with d = amax / 127; sum = d * sum(q) serves formats with an offset (Q4_0's -8, K-quant mins).
struct QuantizedActivations {
    const int8_t* q;    // [n][cols]
    const float* d;     // [n][cols / 32]
    const float* sum;   // [n][cols / 32]
    int64_t cols;
};

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

// One warp quantizes one block of 32 activations, a value per lane, into QuantizedActivations' layout: each lane
// writes its int8 at *q, lane 0 the block's scale at *d and d * sum(q) at *sum.
__device__ __forceinline__ void quantize_block32_warp(float v, int8_t* q, float* d, float* sum) {
    const float amax = warp_max(fabsf(v));
    const float scale = amax / 127.0f;
    const int qi = amax == 0.0f ? 0 : __float2int_rn(v / scale);
    *q = static_cast<int8_t>(qi);
    const float qsum = warp_sum(static_cast<float>(qi));
    if (threadIdx.x % kWarpSize == 0) {
        *d = scale;
        *sum = scale * qsum;
    }
}

__device__ __forceinline__ int dot4(int a, int b, int c) { return __dp4a(a, b, c); }

// Sum of 16 int8 products of two 16-byte vectors.
__device__ __forceinline__ int dot16(const int4& a, const int4& b) {
    return dot4(a.w, b.w, dot4(a.z, b.z, dot4(a.y, b.y, dot4(a.x, b.x, 0))));
}

__device__ __forceinline__ int sum16(const int4& a) {
    constexpr int kOnes = 0x01010101;
    return dot4(a.w, kOnes, dot4(a.z, kOnes, dot4(a.y, kOnes, dot4(a.x, kOnes, 0))));
}

__device__ __forceinline__ float half_bits_to_float(uint16_t bits) {
    return __half2float(__ushort_as_half(bits));
}

// Q4_K / Q5_K 6-bit sub-block scale and min j (0..7) from the 12 packed bytes (GGML's get_scale_min_k4).
__device__ __forceinline__ void k_scale_min(int j, const uint8_t* q, int* sc, int* m) {
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// The gate activation of a gated linear unit (the CPU reference's silu and tanh-approximated gelu).
__device__ __forceinline__ float glu_activation(GluKind kind, float g) {
    if (kind == GluKind::kSilu) return g / (1.0f + expf(-g));
    constexpr float kSqrt2OverPi = 0.79788456080286535588f;
    return 0.5f * g * (1.0f + tanhf(kSqrt2OverPi * g * (1.0f + 0.044715f * g * g)));
}

__host__ __device__ inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Whether p may be read with 16-byte vector loads.
__host__ __device__ inline bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

}  // namespace frugal::cuda
