// Experiment: does a plane layout of Q4_K make the one-token products faster? Each Q4_K super-block is 144 bytes
// (16-byte header, 128 bytes of nibbles), so a warp's 16-byte loads of dot_q4k_lean fall in 32-byte sectors of
// which they use half: a row step requests 72 sectors (8 headers, then 32 half-used sectors twice) for 1,152 bytes.
// In the plane layout the nibbles of a row are contiguous (128 bytes a super-block, reordered so that lane c's two
// loads are bytes 16c and 64 + 16c) and the headers sit in their own plane (16 bytes a super-block): 36 sectors,
// every one used whole. Same arithmetic, so the outputs must be equal bit for bit.
//
// Shapes of Llama-3-8B, one token: gate+up as the GLU kernel (a warp per row pair), down, q/k/v and the output
// projection as the stacked kernel (a warp per two rows, the next step asked into L2). Each product runs over
// enough copies of its matrices that L2 cannot serve repeats, in a CUDA graph. Prints µs per product and GB/s.
// Build: nvcc -O3 -std=c++20 -arch=sm_90 -Isrc bench/q4k_layout_bench.cu -o q4k_layout_bench
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <type_traits>
#include <vector>

#include "backend/cuda/matvec_dot.cuh"

using namespace frugal::cuda;

#define CUDA_OK(x)                                                                                  \
    do {                                                                                            \
        cudaError_t e_ = (x);                                                                       \
        if (e_ != cudaSuccess) {                                                                    \
            std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
            std::exit(1);                                                                           \
        }                                                                                           \
    } while (0)

namespace {

// A matrix in layout kPlanes (0 blocks, 1 planes, 2 groups, 3 lane groups; see upload): q = its bytes, or for the
// planes its nibble plane (rows x nb x 128) with h its header plane (rows x nb x 16).
struct Mat {
    const uint8_t* q;
    const uint8_t* h;
    int rows;
    int K;
};

// Row r of w: its nibbles' (or blocks') start and its headers' start.
template <int kPlanes>
__device__ __forceinline__ void row_ptrs(const Mat& w, int r, const uint8_t*& q, const uint8_t*& h) {
    const int64_t nb = w.K / 256;
    q = w.q + r * nb * (kPlanes == 1 ? 128 : 144);
    h = kPlanes == 1 ? w.h + r * nb * 16 : nullptr;
}

// dot_q4k_lean of matvec_dot.cuh (its q4k_lean_block), with the addresses of each layout.
template <int kPlanes, int R, bool kPrefetchNext>
__device__ __forceinline__ void dot_lean(const uint8_t* const (&qr)[R], const uint8_t* const (&hr)[R], int K,
                                         const int8_t* xq, const float* xdp, const float* xsp, float (&acc)[R]) {
    const int lane = threadIdx.x % kWarpSize;
    const int c = lane % 4;
    const int nb = K / 256;
    const Q4kLeanLane ln(c);
#pragma unroll 1
    for (int sb = lane / 4; sb < nb; sb += kWarpSize / 4) {
        if constexpr (kPrefetchNext) {
            if (sb + kWarpSize / 4 < nb) {
                const int nx = sb + kWarpSize / 4;
#pragma unroll
                for (int r = 0; r < R; ++r) {
                    if constexpr (kPlanes >= 2) {
                        if (lane < 9) prefetch_line_l2(qr[r] + (nx / 8) * 1152 + 128 * lane);
                    } else if constexpr (kPlanes == 1) {
                        if (c == 0) prefetch_line_l2(qr[r] + nx * 128);
                        if (c == 1) prefetch_line_l2(hr[r] + nx * 16);
                    } else {
                        prefetch_line_l2(qr[r] + nx * 144 + (c == 3 ? 143 : 48 * c));
                    }
                }
            }
        }
        const int8_t* xt = xq + sb * 256 + 64 * c;
        const int4 x0 = *reinterpret_cast<const int4*>(xt), x1 = *reinterpret_cast<const int4*>(xt + 16);
        const int4 x2 = *reinterpret_cast<const int4*>(xt + 32), x3 = *reinterpret_cast<const int4*>(xt + 48);
        const float2 xd = *reinterpret_cast<const float2*>(xdp + sb * 8 + 2 * c);
        const float2 xs = *reinterpret_cast<const float2*>(xsp + sb * 8 + 2 * c);
#pragma unroll
        for (int r = 0; r < R; ++r) {
            int4 head, qa, qb;
            if constexpr (kPlanes == 3) {
                const uint8_t* grp = qr[r] + (sb / 8) * 1152;
                head = *reinterpret_cast<const int4*>(grp + 16 * (sb % 8));
                qa = *reinterpret_cast<const int4*>(grp + 128 + 16 * lane);
                qb = *reinterpret_cast<const int4*>(grp + 640 + 16 * lane);
            } else if constexpr (kPlanes == 2) {
                const uint8_t* grp = qr[r] + (sb / 8) * 1152;
                head = *reinterpret_cast<const int4*>(grp + 16 * (sb % 8));
                qa = *reinterpret_cast<const int4*>(grp + 128 + 128 * (sb % 8) + 16 * c);
                qb = *reinterpret_cast<const int4*>(grp + 128 + 128 * (sb % 8) + 64 + 16 * c);
            } else if constexpr (kPlanes == 1) {
                head = *reinterpret_cast<const int4*>(hr[r] + sb * 16);
                qa = *reinterpret_cast<const int4*>(qr[r] + sb * 128 + 16 * c);
                qb = *reinterpret_cast<const int4*>(qr[r] + sb * 128 + 64 + 16 * c);
            } else {
                const uint8_t* blk = qr[r] + sb * 144;
                head = *reinterpret_cast<const int4*>(blk);
                qa = *reinterpret_cast<const int4*>(blk + 16 + 32 * c);
                qb = *reinterpret_cast<const int4*>(blk + 32 + 32 * c);
            }
            acc[r] += q4k_lean_block(ln, head, qa, qb, x0, x1, x2, x3, xd, xs);
        }
    }
}

// The engine's 1 KB of each row asked into L2 before the products start; in the plane layout 896 bytes of nibbles
// and the 128 bytes of the first step's headers.
template <int kPlanes>
__device__ __forceinline__ void first_kb(const uint8_t* q0, const uint8_t* h0, const uint8_t* q1, const uint8_t* h1) {
    if constexpr (kPlanes == 1) {
        prefetch_l2(q0, 896);
        prefetch_l2(h0, 128);
        prefetch_l2(q1, 896);
        prefetch_l2(h1, 128);
    } else {
        prefetch_l2(q0, 1024);
        prefetch_l2(q1, 1024);
    }
}

__device__ __forceinline__ float silu(float g) { return g / (1.0f + __expf(-g)); }

// The engine's GLU form: a warp per row, gate and up read together (R = 2 over two matrices), 1 KB of each row asked
// into L2 first.
template <int kPlanes, int kMinBlocks>
__global__ void __launch_bounds__(128, kMinBlocks)
    glu_kernel(Mat gate, Mat up, const int8_t* xq, const float* xd, const float* xs, float* y) {
    const int row = blockIdx.x * 4 + threadIdx.x / kWarpSize;
    if (row >= gate.rows) return;
    const uint8_t *q0, *h0, *q1, *h1;
    row_ptrs<kPlanes>(gate, row, q0, h0);
    row_ptrs<kPlanes>(up, row, q1, h1);
    if (threadIdx.x % kWarpSize == 0) first_kb<kPlanes>(q0, h0, q1, h1);
    const uint8_t* const qr[2] = {q0, q1};
    const uint8_t* const hr[2] = {h0, h1};
    float acc[2] = {};
    dot_lean<kPlanes, 2, false>(qr, hr, gate.K, xq, xd, xs, acc);
    const float g = warp_sum(acc[0]), u = warp_sum(acc[1]);
    if (threadIdx.x % kWarpSize == 0) y[row] = silu(g) * u;
}

// The engine's stacked form: a warp per two rows, the next step asked into L2.
template <int kPlanes>
__global__ void __launch_bounds__(128)
    stacked_kernel(Mat w, const int8_t* xq, const float* xd, const float* xs, float* y) {
    const int first = 2 * (blockIdx.x * 4 + threadIdx.x / kWarpSize);
    if (first >= w.rows) return;
    const uint8_t *q0, *h0, *q1, *h1;
    row_ptrs<kPlanes>(w, first, q0, h0);
    row_ptrs<kPlanes>(w, first + 1, q1, h1);
    if (threadIdx.x % kWarpSize == 0) first_kb<kPlanes>(q0, h0, q1, h1);
    const uint8_t* const qr[2] = {q0, q1};
    const uint8_t* const hr[2] = {h0, h1};
    float acc[2] = {};
    dot_lean<kPlanes, 2, true>(qr, hr, w.K, xq, xd, xs, acc);
    const float a = warp_sum(acc[0]), b = warp_sum(acc[1]);
    if (threadIdx.x % kWarpSize == 0) {
        y[first] = a;
        y[first + 1] = b;
    }
}

// The stacked form with one row per warp (block layout): twice the warps of stacked_kernel for the same rows.
__global__ void __launch_bounds__(128)
    stacked1_kernel(Mat w, const int8_t* xq, const float* xd, const float* xs, float* y) {
    const int row = blockIdx.x * 4 + threadIdx.x / kWarpSize;
    if (row >= w.rows) return;
    const uint8_t *q0, *h0;
    row_ptrs<0>(w, row, q0, h0);
    if (threadIdx.x % kWarpSize == 0) prefetch_l2(q0, 1024);
    const uint8_t* const qr[1] = {q0};
    const uint8_t* const hr[1] = {h0};
    float acc[1] = {};
    dot_lean<0, 1, true>(qr, hr, w.K, xq, xd, xs, acc);
    const float a = warp_sum(acc[0]);
    if (threadIdx.x % kWarpSize == 0) y[row] = a;
}

// Random Q4_K blocks with finite fp16 d and dmin.
std::vector<uint8_t> random_q4k(int rows, int K, std::mt19937& rng) {
    const int64_t nb = static_cast<int64_t>(rows) * (K / 256);
    std::vector<uint8_t> v(nb * 144);
    std::uniform_int_distribution<int> byte(0, 255);
    std::uniform_real_distribution<float> scale(0.001f, 0.02f);
    for (int64_t b = 0; b < nb; ++b) {
        uint8_t* blk = v.data() + b * 144;
        const __half d = __float2half(scale(rng)), dmin = __float2half(scale(rng));
        std::memcpy(blk, &d, 2);
        std::memcpy(blk + 2, &dmin, 2);
        for (int i = 4; i < 144; ++i) blk[i] = static_cast<uint8_t>(byte(rng));
    }
    return v;
}

// The 16-byte pieces of every block moved to new places: piece p of block b (p = 0: the header; p = 1 + 2c + h: quant
// bytes [32c + 16h, 32c + 16h + 16), lane c's load h) goes to where(b, c, h), with c = -1 for the header.
template <typename Where>
std::vector<uint8_t> repack(const std::vector<uint8_t>& blocks, Where where) {
    std::vector<uint8_t> out(blocks.size());
    for (size_t b = 0; b < blocks.size() / 144; ++b) {
        const uint8_t* src = blocks.data() + b * 144;
        std::memcpy(out.data() + where(b, -1, 0), src, 16);
        for (int c = 0; c < 4; ++c) {
            for (int h = 0; h < 2; ++h) std::memcpy(out.data() + where(b, c, h), src + 16 + 32 * c + 16 * h, 16);
        }
    }
    return out;
}

struct Copies {
    std::vector<Mat> orig, planes, groups, lanes;
};

// `copies` device copies of a rows x K matrix in the four layouts:
// - planes: the nibbles of every super-block contiguous (lane c's loads at 16c and 64 + 16c), then all headers;
// - groups: per 8 super-blocks, their 8 headers (128 bytes), then their 8 nibble blocks ordered as in the planes (a
//   warp step reads one aligned 1,152-byte span; rows of a multiple of 2,048 weights);
// - lane groups: as groups, but each of a warp's two nibble loads one aligned 512-byte span (lane 4j + c's loads of
//   super-block j at 128 + 16 (4j + c) and 640 + 16 (4j + c)).
Copies upload(int rows, int K, int copies, std::mt19937& rng) {
    const std::vector<uint8_t> blocks = random_q4k(rows, K, rng);
    const size_t nb = blocks.size() / 144;
    const std::vector<uint8_t> planes =
        repack(blocks, [&](size_t b, int c, int h) { return c < 0 ? nb * 128 + 16 * b : 128 * b + 64 * h + 16 * c; });
    const std::vector<uint8_t> groups = repack(blocks, [](size_t b, int c, int h) {
        const size_t grp = b / 8 * 1152, j = b % 8;
        return c < 0 ? grp + 16 * j : grp + 128 + 128 * j + 64 * h + 16 * c;
    });
    const std::vector<uint8_t> lanes = repack(blocks, [](size_t b, int c, int h) {
        const size_t grp = b / 8 * 1152, j = b % 8;
        return c < 0 ? grp + 16 * j : grp + 128 + 512 * h + 16 * (4 * j + c);
    });
    auto to_device = [](const std::vector<uint8_t>& v) {
        uint8_t* p;
        CUDA_OK(cudaMalloc(&p, v.size()));
        CUDA_OK(cudaMemcpy(p, v.data(), v.size(), cudaMemcpyHostToDevice));
        return p;
    };
    Copies out;
    for (int i = 0; i < copies; ++i) {
        out.orig.push_back({to_device(blocks), nullptr, rows, K});
        const uint8_t* p = to_device(planes);
        out.planes.push_back({p, p + nb * 128, rows, K});
        out.groups.push_back({to_device(groups), nullptr, rows, K});
        out.lanes.push_back({to_device(lanes), nullptr, rows, K});
    }
    return out;
}

struct Act {
    int8_t* q;
    float* d;
    float* s;
};

Act random_act(int K, std::mt19937& rng) {
    std::vector<int8_t> q(K);
    std::vector<float> d(K / 32), s(K / 32);
    std::uniform_int_distribution<int> v(-127, 127);
    for (auto& x : q) x = static_cast<int8_t>(v(rng));
    for (int b = 0; b < K / 32; ++b) {
        d[b] = 0.01f + 0.001f * (b % 7);
        int sum = 0;
        for (int i = 0; i < 32; ++i) sum += q[b * 32 + i];
        s[b] = d[b] * static_cast<float>(sum);
    }
    Act a;
    CUDA_OK(cudaMalloc(&a.q, K));
    CUDA_OK(cudaMalloc(&a.d, d.size() * 4));
    CUDA_OK(cudaMalloc(&a.s, s.size() * 4));
    CUDA_OK(cudaMemcpy(a.q, q.data(), K, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(a.d, d.data(), d.size() * 4, cudaMemcpyHostToDevice));
    CUDA_OK(cudaMemcpy(a.s, s.data(), s.size() * 4, cudaMemcpyHostToDevice));
    return a;
}

// Median over `reps` replays of a graph of `iters` launches (launch(i) launches the product on copy i % copies), in
// µs per launch.
template <typename F>
float time_graph(F launch, int iters, int reps, cudaStream_t st) {
    cudaGraph_t g;
    cudaGraphExec_t ge;
    CUDA_OK(cudaStreamBeginCapture(st, cudaStreamCaptureModeGlobal));
    for (int i = 0; i < iters; ++i) launch(i, st);
    CUDA_OK(cudaStreamEndCapture(st, &g));
    CUDA_OK(cudaGraphInstantiate(&ge, g, 0));
    CUDA_OK(cudaGraphLaunch(ge, st));
    CUDA_OK(cudaStreamSynchronize(st));
    cudaEvent_t a, b;
    CUDA_OK(cudaEventCreate(&a));
    CUDA_OK(cudaEventCreate(&b));
    std::vector<float> t;
    for (int r = 0; r < reps; ++r) {
        CUDA_OK(cudaEventRecord(a, st));
        CUDA_OK(cudaGraphLaunch(ge, st));
        CUDA_OK(cudaEventRecord(b, st));
        CUDA_OK(cudaEventSynchronize(b));
        float ms;
        CUDA_OK(cudaEventElapsedTime(&ms, a, b));
        t.push_back(ms * 1000.0f / iters);
    }
    std::sort(t.begin(), t.end());
    CUDA_OK(cudaGraphExecDestroy(ge));
    CUDA_OK(cudaGraphDestroy(g));
    return t[t.size() / 2];
}

}  // namespace

int main() {
    cudaDeviceProp prop;
    CUDA_OK(cudaGetDeviceProperties(&prop, 0));
    std::printf("device: %s\n", prop.name);
    std::mt19937 rng(42);
    cudaStream_t st;
    CUDA_OK(cudaStreamCreate(&st));
    constexpr int kLayouts = 4;
    constexpr int64_t kMaxRows = 14336;
    float* y;
    CUDA_OK(cudaMalloc(&y, kLayouts * kMaxRows * 4));
    constexpr int kIters = 400, kReps = 9;
    bool all_equal = true;
    std::printf(
        "| product | blocks us | planes us | groups us | lane groups us | blocks GB/s | planes / blocks | "
        "groups / blocks | lane groups / blocks | equal |\n");
    std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n");
    // t[i]: µs of layout i, whose last output is y + kMaxRows i (every copy holds the same matrix).
    auto report = [&](const char* name, int rows, double bytes, const float(&t)[kLayouts]) {
        std::vector<float> h(kLayouts * kMaxRows);
        CUDA_OK(cudaMemcpy(h.data(), y, h.size() * 4, cudaMemcpyDeviceToHost));
        bool eq = true;
        for (int i = 1; i < kLayouts; ++i) eq = eq && std::memcmp(h.data(), h.data() + i * kMaxRows, rows * 4) == 0;
        all_equal = all_equal && eq;
        std::printf("| %s | %.2f | %.2f | %.2f | %.2f | %.0f | %.3f | %.3f | %.3f | %s |\n", name, t[0], t[1], t[2],
                    t[3], bytes / t[0] / 1e3, t[0] / t[1], t[0] / t[2], t[0] / t[3], eq ? "yes" : "NO");
    };
    auto pick = [](const Copies& c, int layout, int i) -> const Mat& {
        const std::vector<Mat>& v = layout == 0 ? c.orig : layout == 1 ? c.planes : layout == 2 ? c.groups : c.lanes;
        return v[i % v.size()];
    };
    // Runs f(layout constant) for the four layouts.
    auto each_layout = [](auto f) {
        f(std::integral_constant<int, 0>{});
        f(std::integral_constant<int, 1>{});
        f(std::integral_constant<int, 2>{});
        f(std::integral_constant<int, 3>{});
    };
    {
        // The GLU at 8 blocks an SM (64 registers, the engine's) and at 9 (56): uncapped, the plane form takes 68
        // registers and 7 blocks, which would measure occupancy rather than layout.
        const int rows = 14336, K = 4096, copies = 4;
        Act x = random_act(K, rng);
        Copies g = upload(rows, K, copies, rng), u = upload(rows, K, copies, rng);
        const dim3 grid(rows / 4);
        auto glu = [&](auto blocks, const char* name) {
            constexpr int kB = decltype(blocks)::value;
            float t[kLayouts];
            each_layout([&](auto layout) {
                constexpr int kL = decltype(layout)::value;
                t[kL] = time_graph(
                    [&](int i, cudaStream_t s) {
                        glu_kernel<kL, kB>
                            <<<grid, 128, 0, s>>>(pick(g, kL, i), pick(u, kL, i), x.q, x.d, x.s, y + kL * kMaxRows);
                    },
                    kIters, kReps, st);
            });
            report(name, rows, 2.0 * rows * K / 256 * 144, t);
        };
        glu(std::integral_constant<int, 8>{}, "gate+up (GLU) 2 x 14336 x 4096, 8 blocks/SM");
        glu(std::integral_constant<int, 9>{}, "gate+up (GLU) 2 x 14336 x 4096, 9 blocks/SM");
    }
    struct Shape {
        const char* name;
        int rows, K, copies;
    };
    for (const Shape& sh : {Shape{"q/k/v 6144 x 4096", 6144, 4096, 16}, Shape{"output 4096 x 4096", 4096, 4096, 24},
                            Shape{"down 4096 x 14336", 4096, 14336, 8}}) {
        Act x = random_act(sh.K, rng);
        Copies m = upload(sh.rows, sh.K, sh.copies, rng);
        const dim3 grid(sh.rows / 8);
        float t[kLayouts];
        each_layout([&](auto layout) {
            constexpr int kL = decltype(layout)::value;
            t[kL] = time_graph(
                [&](int i, cudaStream_t s) {
                    stacked_kernel<kL><<<grid, 128, 0, s>>>(pick(m, kL, i), x.q, x.d, x.s, y + kL * kMaxRows);
                },
                kIters, kReps, st);
        });
        report(sh.name, sh.rows, static_cast<double>(sh.rows) * sh.K / 256 * 144, t);
    }
    // How much of a launch is fixed cost (ramp-up, tail, launch) rather than bytes: the same products over taller
    // matrices, block layout. A line through (rows, µs) gives the µs per 1,000 rows and the intercept.
    std::printf("\n| product (blocks layout) | rows | us | GB/s |\n|---|---:|---:|---:|\n");
    {
        const int K = 4096;
        Act x = random_act(K, rng);
        for (int rows : {14336, 28672, 57344}) {
            const int copies = std::max(2, 4 * 14336 / rows);
            Copies g = upload(rows, K, copies, rng), u = upload(rows, K, copies, rng);
            float* yy;
            CUDA_OK(cudaMalloc(&yy, rows * 4));
            const float t = time_graph(
                [&](int i, cudaStream_t s) {
                    glu_kernel<0, 8><<<rows / 4, 128, 0, s>>>(pick(g, 0, i), pick(u, 0, i), x.q, x.d, x.s, yy);
                },
                kIters / 2, kReps, st);
            std::printf("| gate+up (GLU) x 4096 | %d | %.2f | %.0f |\n", rows, t, 2.0 * rows * K / 256 * 144 / t / 1e3);
            CUDA_OK(cudaFree(yy));
            for (Mat& m : g.orig) CUDA_OK(cudaFree(const_cast<uint8_t*>(m.q)));
            for (Mat& m : u.orig) CUDA_OK(cudaFree(const_cast<uint8_t*>(m.q)));
        }
        for (int rows : {6144, 12288, 24576, 49152}) {
            const int copies = std::max(2, 16 * 6144 / rows);
            Copies m = upload(rows, K, copies, rng);
            float* yy;
            CUDA_OK(cudaMalloc(&yy, rows * 4));
            const float t = time_graph(
                [&](int i, cudaStream_t s) {
                    stacked_kernel<0><<<rows / 8, 128, 0, s>>>(pick(m, 0, i), x.q, x.d, x.s, yy);
                },
                kIters / 2, kReps, st);
            std::printf("| stacked x 4096 | %d | %.2f | %.0f |\n", rows, t, 1.0 * rows * K / 256 * 144 / t / 1e3);
            CUDA_OK(cudaFree(yy));
            for (Mat& mm : m.orig) CUDA_OK(cudaFree(const_cast<uint8_t*>(mm.q)));
        }
    }
    // One row per warp against the engine's two, for the stacked products (block layout); outputs compared too.
    std::printf(
        "\n| stacked product (blocks layout) | 2 rows a warp us | 1 row a warp us | 2 rows / 1 row | equal |\n"
        "|---|---:|---:|---:|---|\n");
    for (const Shape& sh : {Shape{"q/k/v 6144 x 4096", 6144, 4096, 16}, Shape{"output 4096 x 4096", 4096, 4096, 24},
                            Shape{"down 4096 x 14336", 4096, 14336, 8}}) {
        Act x = random_act(sh.K, rng);
        Copies m = upload(sh.rows, sh.K, sh.copies, rng);
        const float t2 = time_graph(
            [&](int i, cudaStream_t s) {
                stacked_kernel<0><<<sh.rows / 8, 128, 0, s>>>(pick(m, 0, i), x.q, x.d, x.s, y);
            },
            kIters, kReps, st);
        const float t1 = time_graph(
            [&](int i, cudaStream_t s) {
                stacked1_kernel<<<sh.rows / 4, 128, 0, s>>>(pick(m, 0, i), x.q, x.d, x.s, y + kMaxRows);
            },
            kIters, kReps, st);
        std::vector<float> h(2 * kMaxRows);
        CUDA_OK(cudaMemcpy(h.data(), y, h.size() * 4, cudaMemcpyDeviceToHost));
        const bool eq = std::memcmp(h.data(), h.data() + kMaxRows, sh.rows * 4) == 0;
        all_equal = all_equal && eq;
        std::printf("| %s | %.2f | %.2f | %.3f | %s |\n", sh.name, t2, t1, t2 / t1, eq ? "yes" : "NO");
    }
    // The device's copy bandwidth (bytes read + written), for scale.
    {
        const size_t bytes = size_t{1} << 31;
        void *a, *b;
        CUDA_OK(cudaMalloc(&a, bytes));
        CUDA_OK(cudaMalloc(&b, bytes));
        const float us = time_graph(
            [&](int, cudaStream_t s) { CUDA_OK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s)); }, 5, 5, st);
        std::printf("device copy: %.0f GB/s (read + write)\n", 2.0 * bytes / us / 1e3);
    }
    std::printf("outputs equal: %s\n", all_equal ? "yes" : "NO");
    return all_equal ? 0 : 1;
}
