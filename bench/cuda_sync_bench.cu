// What one dependency between two stages of a decode step costs on this GPU, measured three ways. A stage here has
// the shape of every boundary in a decode step: each block reads the whole vector that every block of the previous
// stage wrote (4096 values, as a product reads the norm's output), reduces it, and writes its own slice of the next
// vector. Optionally each stage also streams its share of a weight matrix (--weight-mb per stage, in distinct
// copies that L2 cannot hold), read after the dependency as a product reads its weights, with or without asking L2
// for the block's share before the dependency (as the engine's products do before griddepcontrol.wait). The ways:
//   kernels:      one kernel per stage, in stream order, recorded in a CUDA graph;
//   kernels+PDL:  the same with programmatic dependent launch (the engine's launch_kernel and
//                 begin_dependent_kernel), so a kernel is resident while the one before it drains;
//   persistent:   one cooperative kernel (one block per SM, then four) that runs every stage, the stages separated by
//                 a grid barrier (a release-add on a counter in global memory, then polling it with acquire loads),
//                 with and without a __threadfence on either side.
// The question it answers: whether a persistent decode kernel (docs/perf/h200.md, eighteenth session) pays less per
// stage than the kernel boundaries it would replace, and whether it keeps the weight stream closer to the copy
// bandwidth. The values are integers with wrap-around, so every variant must give the CPU's bits; a broken barrier
// shows as a mismatch, which fails the run. One more row runs the persistent kernel with no barrier at all: the
// stages' own time, a floor for the others (its result is undefined and not checked). Prints a markdown table.
// Usage: frugal_cuda_sync_bench [--stages 256] [--replays 20] [--n 4096] [--weight-mb 16]
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "backend/cuda/cuda_common.cuh"

namespace frugal::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kL2CopiesBytes = int64_t{128} << 20;  // the weight copies together: well beyond a 50 MB L2

// What a stage reads besides the previous stage's vector: copy p % copies of the weights (words4 16-byte words
// each; none when words4 is 0), and whether a block asks L2 for its share before the dependency.
struct Weights {
    const uint4* data = nullptr;
    int64_t words4 = 0;
    int copies = 1;
    bool prefetch = false;
};

// Word k of weight copy `copy`, and (copy 0) value k of the first stage's input; the same bits on both sides.
__host__ __device__ __forceinline__ uint32_t word_of(int64_t k, int copy) {
    return static_cast<uint32_t>(k) * 2654435761u ^ static_cast<uint32_t>(copy);
}

__global__ void fill_weights(uint32_t* w, int64_t words_per_copy, int copies) {
    const int64_t total = words_per_copy * copies;
    for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
         i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
        w[i] = word_of(i % words_per_copy, static_cast<int>(i / words_per_copy));
    }
}

// The block's sum (with wrap-around) of every thread's s, returned to every thread.
__device__ uint32_t block_reduce(uint32_t s) {
    __shared__ uint32_t partial[kThreads / kWarpSize];
    __shared__ uint32_t total;
    for (int o = kWarpSize / 2; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (threadIdx.x % kWarpSize == 0) partial[threadIdx.x / kWarpSize] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        uint32_t t = 0;
        for (int w = 0; w < kThreads / kWarpSize; ++w) t += partial[w];
        total = t;
    }
    __syncthreads();
    const uint32_t result = total;
    __syncthreads();  // total and partial are reused by the next call
    return result;
}

// Block `block`'s share of a weight copy of `words4` 16-byte words: [first, end).
__device__ __forceinline__ void weight_share(int64_t words4, int block, int blocks, int64_t* first, int64_t* end) {
    const int64_t per = (words4 + blocks - 1) / blocks;
    *first = min(words4, block * per);
    *end = min(words4, (block + 1) * per);
}

__device__ __forceinline__ void prefetch_share(const Weights& w, int stage, int block, int blocks) {
    if (w.words4 == 0 || !w.prefetch || threadIdx.x != 0) return;
    int64_t first = 0, end = 0;
    weight_share(w.words4, block, blocks, &first, &end);
    const uint4* copy = w.data + static_cast<int64_t>(stage % w.copies) * w.words4;
    constexpr int64_t kChunk = 4096;  // 16-byte words per request: 64 KB
    for (int64_t i = first; i < end; i += kChunk) {
        prefetch_l2(copy + i, static_cast<uint32_t>(min(kChunk, end - i) * 16));
    }
}

// One stage for block `block` of `blocks`: out[i] = sum(in) * 31 + i + (the block's weight share's sum) over the
// block's slice of [0, n). The loads of `in` bypass L1 (ld.cg): in the persistent kernel the other blocks wrote it
// during this launch, and L1 is not coherent across SMs.
__device__ void stage(const uint32_t* in, uint32_t* out, int n, const Weights& w, int p, int block, int blocks) {
    uint32_t s = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += __ldcg(in + i);
    if (w.words4 > 0) {
        int64_t first = 0, end = 0;
        weight_share(w.words4, block, blocks, &first, &end);
        const uint4* copy = w.data + static_cast<int64_t>(p % w.copies) * w.words4;
        uint32_t ws = 0;
#pragma unroll 4
        for (int64_t i = first + threadIdx.x; i < end; i += blockDim.x) {
            const uint4 v = __ldcs(copy + i);
            ws += v.x + v.y + v.z + v.w;
        }
        s += ws * 0x10001u;  // mixed in so the compiler keeps every load; undone on the host
    }
    const uint32_t total = block_reduce(s);
    const int per = (n + blocks - 1) / blocks;
    const int end = min(n, (block + 1) * per);
    for (int i = block * per + static_cast<int>(threadIdx.x); i < end; i += blockDim.x) {
        out[i] = total * 31u + static_cast<uint32_t>(i);
    }
}

__global__ void __launch_bounds__(kThreads) stage_kernel(const uint32_t* in, uint32_t* out, int n, Weights w, int p) {
    prefetch_share(w, p, static_cast<int>(blockIdx.x), static_cast<int>(gridDim.x));
    begin_dependent_kernel();  // without the launch attribute there is nothing to wait for: a no-op
    stage(in, out, n, w, p, static_cast<int>(blockIdx.x), static_cast<int>(gridDim.x));
}

// Every block arrives once per stage; the barrier of stage p is passed once the counter reaches (p + 1) * blocks.
// kFenced adds a __threadfence on each side of the release-add and the acquire polling, as grid barriers written
// for older GPUs do; without it, the barrier is cooperative_groups' own on sm_70 and later (the release orders the
// block's writes, which __syncthreads made visible to thread 0, and the acquire orders what the block reads next).
template <bool kFenced>
__device__ void grid_barrier(unsigned* counter, unsigned target) {
    __syncthreads();
    if (threadIdx.x == 0) {
        if (kFenced) __threadfence();
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 700
        asm volatile("red.release.gpu.global.add.u32 [%0], 1;\n" ::"l"(counter) : "memory");
        unsigned seen = 0;
        do {
            asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(seen) : "l"(counter) : "memory");
        } while (seen < target);
#endif
        if (kFenced) __threadfence();
    }
    __syncthreads();
}

// kBarrier: 0 none (the stages' work alone, a floor; the result is then undefined), 1 the barrier, 2 the fenced one.
template <int kBarrier>
__global__ void __launch_bounds__(kThreads) persistent_kernel(uint32_t* a, uint32_t* b, int n, int stages, Weights w,
                                                              unsigned* counter) {
    const int block = static_cast<int>(blockIdx.x), blocks = static_cast<int>(gridDim.x);
    prefetch_share(w, 0, block, blocks);
    for (int p = 0; p < stages; ++p) {
        const uint32_t* in = p % 2 == 0 ? a : b;
        uint32_t* out = p % 2 == 0 ? b : a;
        stage(in, out, n, w, p, block, blocks);
        if (p + 1 < stages) prefetch_share(w, p + 1, block, blocks);  // the next share, before the barrier
        if constexpr (kBarrier > 0) grid_barrier<kBarrier == 2>(counter, static_cast<unsigned>(p + 1) * gridDim.x);
    }
}

struct Options {
    int stages = 256;
    int replays = 20;
    int n = 4096;
    int weight_mb = 16;
};

std::vector<uint32_t> initial(int n) {
    std::vector<uint32_t> v(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = word_of(i, 0);
    return v;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

struct Result {
    double us_per_stage = 0;
    bool exact = false;
    bool checked = true;  // false where the variant has no dependency, so no defined result
};

class Bench {
public:
    Bench(const Options& o, int64_t weight_bytes) : o_(o) {
        CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
        CUDA_CHECK(cudaMalloc(&a_, sizeof(uint32_t) * o.n));
        CUDA_CHECK(cudaMalloc(&b_, sizeof(uint32_t) * o.n));
        CUDA_CHECK(cudaMalloc(&counter_, sizeof(unsigned)));
        CUDA_CHECK(cudaEventCreate(&start_));
        CUDA_CHECK(cudaEventCreate(&stop_));
        if (weight_bytes > 0) {
            w_.words4 = weight_bytes / 16;
            w_.copies = static_cast<int>(std::max<int64_t>(2, (kL2CopiesBytes + weight_bytes - 1) / weight_bytes));
            uint4* data = nullptr;
            CUDA_CHECK(cudaMalloc(&data, static_cast<size_t>(w_.words4) * 16 * w_.copies));
            fill_weights<<<1024, kThreads, 0, stream_>>>(reinterpret_cast<uint32_t*>(data), w_.words4 * 4, w_.copies);
            CUDA_CHECK_LAUNCH();
            CUDA_CHECK(cudaStreamSynchronize(stream_));
            w_.data = data;
        }
    }
    ~Bench() {
        cudaFree(a_);
        cudaFree(b_);
        cudaFree(counter_);
        cudaFree(const_cast<uint4*>(w_.data));
        cudaEventDestroy(start_);
        cudaEventDestroy(stop_);
        cudaStreamDestroy(stream_);
    }

    int64_t weight_bytes() const { return w_.words4 * 16; }

    // The graph of `stages` stage kernels of `blocks` blocks each.
    Result kernels(int blocks, bool pdl, bool prefetch) {
        Weights w = w_;
        w.prefetch = prefetch;
        cudaGraph_t graph = nullptr;
        CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
        for (int p = 0; p < o_.stages; ++p) {
            const uint32_t* in = p % 2 == 0 ? a_ : b_;
            uint32_t* out = p % 2 == 0 ? b_ : a_;
            if (pdl) {
                launch_kernel(stage_kernel, dim3(blocks), dim3(kThreads), 0, stream_, in, out, o_.n, w, p);
            } else {
                stage_kernel<<<blocks, kThreads, 0, stream_>>>(in, out, o_.n, w, p);
                CUDA_CHECK_LAUNCH();
            }
        }
        CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
        cudaGraphExec_t exec = nullptr;
        CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
        CUDA_CHECK(cudaGraphDestroy(graph));
        Result r = time(blocks, [&] { CUDA_CHECK(cudaGraphLaunch(exec, stream_)); });
        CUDA_CHECK(cudaGraphExecDestroy(exec));
        return r;
    }

    // The same stages in one cooperative kernel of `blocks` blocks (at most one wave), with a grid barrier each.
    // barrier: as persistent_kernel's kBarrier.
    Result persistent(int blocks, bool prefetch, int barrier) {
        Weights w = w_;
        w.prefetch = prefetch;
        int n = o_.n, stages = o_.stages;
        void* args[] = {&a_, &b_, &n, &stages, &w, &counter_};
        void* kernel = barrier == 0   ? reinterpret_cast<void*>(persistent_kernel<0>)
                       : barrier == 1 ? reinterpret_cast<void*>(persistent_kernel<1>)
                                      : reinterpret_cast<void*>(persistent_kernel<2>);
        Result r = time(blocks, [&] {
            CUDA_CHECK(cudaLaunchCooperativeKernel(kernel, dim3(blocks), dim3(kThreads), args, 0, stream_));
        });
        if (barrier == 0) r = {r.us_per_stage, true, false};
        return r;
    }

private:
    template <typename Issue>
    Result time(int blocks, const Issue& issue) {
        const std::vector<uint32_t>& want = reference(blocks);
        std::vector<double> us;
        bool exact = true;
        for (int r = 0; r <= o_.replays; ++r) {  // replay 0 is the warm-up
            reset();
            CUDA_CHECK(cudaEventRecord(start_, stream_));
            issue();
            CUDA_CHECK(cudaEventRecord(stop_, stream_));
            CUDA_CHECK(cudaEventSynchronize(stop_));
            float ms = 0;
            CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
            if (r > 0) us.push_back(ms * 1e3 / o_.stages);
            exact = exact && check(want);
        }
        return {median(us), exact};
    }

    // The CPU's result for `blocks` blocks (the weight shares' sums depend on how the copy is split), computed once.
    const std::vector<uint32_t>& reference(int blocks) {
        auto cached = references_.find(blocks);
        if (cached != references_.end()) return cached->second;
        std::vector<uint32_t> share_sums(static_cast<size_t>(w_.copies) * blocks, 0);
        const int64_t per = (w_.words4 + blocks - 1) / blocks;
        for (int c = 0; c < w_.copies && w_.words4 > 0; ++c) {
            for (int64_t k = 0; k < w_.words4 * 4; ++k) {
                share_sums[static_cast<size_t>(c) * blocks + static_cast<size_t>(k / 4 / per)] += word_of(k, c);
            }
        }
        std::vector<uint32_t> v = initial(o_.n);
        const int per_out = (o_.n + blocks - 1) / blocks;
        for (int p = 0; p < o_.stages; ++p) {
            uint32_t s = 0;
            for (uint32_t x : v) s += x;
            for (int i = 0; i < o_.n; ++i) {
                uint32_t t = s;
                if (w_.words4 > 0) {
                    t += share_sums[static_cast<size_t>(p % w_.copies) * blocks + static_cast<size_t>(i / per_out)] *
                         0x10001u;
                }
                v[static_cast<size_t>(i)] = t * 31u + static_cast<uint32_t>(i);
            }
        }
        return references_.emplace(blocks, std::move(v)).first->second;
    }

    void reset() {
        const std::vector<uint32_t> v = initial(o_.n);
        CUDA_CHECK(cudaMemcpyAsync(a_, v.data(), sizeof(uint32_t) * o_.n, cudaMemcpyHostToDevice, stream_));
        CUDA_CHECK(cudaMemsetAsync(b_, 0, sizeof(uint32_t) * o_.n, stream_));
        CUDA_CHECK(cudaMemsetAsync(counter_, 0, sizeof(unsigned), stream_));
        CUDA_CHECK(cudaStreamSynchronize(stream_));
    }

    bool check(const std::vector<uint32_t>& want) {
        std::vector<uint32_t> got(static_cast<size_t>(o_.n));
        const uint32_t* last = o_.stages % 2 == 0 ? a_ : b_;
        CUDA_CHECK(cudaMemcpyAsync(got.data(), last, sizeof(uint32_t) * o_.n, cudaMemcpyDeviceToHost, stream_));
        CUDA_CHECK(cudaStreamSynchronize(stream_));
        return got == want;
    }

    Options o_;
    Weights w_;
    std::map<int, std::vector<uint32_t>> references_;  // by block count
    cudaStream_t stream_ = nullptr;
    uint32_t* a_ = nullptr;
    uint32_t* b_ = nullptr;
    unsigned* counter_ = nullptr;
    cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

int run(int argc, char** argv) {
    Options o;
    bool ok = argc % 2 == 1;
    for (int i = 1; ok && i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const int value = std::atoi(argv[i + 1]);
        if (flag == "--stages") {
            o.stages = value;
        } else if (flag == "--replays") {
            o.replays = value;
        } else if (flag == "--n") {
            o.n = value;
        } else if (flag == "--weight-mb") {
            o.weight_mb = value;
        } else {
            ok = false;
        }
    }
    if (!ok || o.stages < 1 || o.replays < 1 || o.n < 1 || o.weight_mb < 0 || o.weight_mb > 1024) {
        fmt::print(stderr, "usage: frugal_cuda_sync_bench [--stages S >= 1] [--replays R >= 1] [--n N >= 1] "
                           "[--weight-mb 0..1024]\n");
        return 2;
    }
    int device = 0, sms = 0, cooperative = 0, per_sm = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    CUDA_CHECK(cudaDeviceGetAttribute(&cooperative, cudaDevAttrCooperativeLaunch, device));
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, persistent_kernel<2>, kThreads, 0));
    cudaDeviceProp prop = {};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    fmt::print("{} ({} SMs): {} stages over a vector of {} values, median of {} replays\n\n", prop.name, sms, o.stages,
               o.n, o.replays);
    fmt::print("| dependency | blocks | weights per stage | L2 request first | µs per stage | weight GB/s | exact |\n"
               "|---|---:|---:|---|---:|---:|---|\n");
    bool all_exact = true;
    for (int64_t mb : {int64_t{0}, static_cast<int64_t>(o.weight_mb)}) {
        Bench bench(o, mb << 20);
        for (bool prefetch : {false, true}) {
            if (prefetch && mb == 0) continue;
            auto row = [&](const char* name, int blocks, Result r) {
                const double bytes = static_cast<double>(bench.weight_bytes());
                const double gbs = r.us_per_stage > 0 ? bytes / r.us_per_stage / 1e3 : 0;
                fmt::print("| {} | {} | {} MB | {} | {:.2f} | {} | {} |\n", name, blocks, mb, prefetch ? "yes" : "no",
                           r.us_per_stage, mb > 0 ? fmt::format("{:.0f}", gbs) : "",
                           !r.checked ? "n/a" : r.exact ? "yes" : "NO");
                all_exact = all_exact && r.exact;
            };
            for (int blocks : {sms, 4 * sms}) {
                row("kernels", blocks, bench.kernels(blocks, false, prefetch));
                if (programmatic_launch_available()) row("kernels+PDL", blocks, bench.kernels(blocks, true, prefetch));
            }
            if (cooperative != 0 && per_sm >= 1) {
                // One block per SM, and as many as the kernel rows' larger grid where they fit in one wave: the
                // weight stream needs the warps, the barrier pays for every block it waits on.
                for (int blocks : {sms, 4 * sms}) {
                    if (blocks > per_sm * sms) continue;
                    row("persistent, barrier", blocks, bench.persistent(blocks, prefetch, 1));
                    row("persistent, fenced barrier", blocks, bench.persistent(blocks, prefetch, 2));
                    row("persistent, no barrier (floor)", blocks, bench.persistent(blocks, prefetch, 0));
                }
            } else {
                fmt::print("(no cooperative launch on this device: the persistent rows are skipped)\n");
            }
        }
        if (o.weight_mb == 0) break;
    }
    if (!all_exact) fmt::print(stderr, "a variant's result differs from the CPU's\n");
    return all_exact ? 0 : 1;
}

}  // namespace
}  // namespace frugal::cuda

int main(int argc, char** argv) { return frugal::cuda::run(argc, argv); }
