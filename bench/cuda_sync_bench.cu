// What one dependency between two stages of a decode step costs on this GPU, measured three ways. A stage here is
// the shape of every boundary in a decode step: each block reads the whole vector that every block of the previous
// stage wrote (4096 values, as a product reads the norm's output), reduces it, and writes its own slice of the next
// vector. The ways:
//   kernels:      one kernel per stage, in stream order, recorded in a CUDA graph;
//   kernels+PDL:  the same with programmatic dependent launch (the engine's launch_kernel and
//                 begin_dependent_kernel), so a kernel is resident while the one before it drains;
//   persistent:   one cooperative kernel of one block per SM that runs every stage, the stages separated by a grid
//                 barrier (a release-add on a counter in global memory, then polling it with acquire loads).
// The question it answers: whether a persistent decode kernel (the direction of docs/perf/h200.md, eighteenth
// session) pays a smaller price per stage than the kernel boundaries it would replace. The values are integers with
// wrap-around, so every variant must give the CPU's bits; a broken barrier shows as a mismatch, which fails the run.
// Prints a markdown table. Usage: frugal_cuda_sync_bench [--stages 256] [--replays 20] [--n 4096]
#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "backend/cuda/cuda_common.cuh"

namespace frugal::cuda {
namespace {

constexpr int kThreads = 256;

// The sum (with wrap-around) of in[0, n) over the block, returned to every thread. The loads bypass L1 (ld.cg):
// in the persistent kernel the other blocks wrote `in` during this launch, and L1 is not coherent across SMs.
__device__ uint32_t block_sum(const uint32_t* in, int n) {
    __shared__ uint32_t partial[kThreads / kWarpSize];
    __shared__ uint32_t total;
    uint32_t s = 0;
    for (int i = threadIdx.x; i < n; i += blockDim.x) s += __ldcg(in + i);
    for (int o = kWarpSize / 2; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (threadIdx.x % kWarpSize == 0) partial[threadIdx.x / kWarpSize] = s;
    __syncthreads();
    if (threadIdx.x == 0) {
        uint32_t t = 0;
        for (int w = 0; w < kThreads / kWarpSize; ++w) t += partial[w];
        total = t;
    }
    __syncthreads();
    return total;
}

// One stage for block `block` of `blocks`: out[i] = sum(in) * 31 + i over the block's slice of [0, n).
__device__ void stage(const uint32_t* in, uint32_t* out, int n, int block, int blocks) {
    const uint32_t s = block_sum(in, n);
    const int per = (n + blocks - 1) / blocks;
    const int end = min(n, (block + 1) * per);
    for (int i = block * per + static_cast<int>(threadIdx.x); i < end; i += blockDim.x) {
        out[i] = s * 31u + static_cast<uint32_t>(i);
    }
}

__global__ void __launch_bounds__(kThreads) stage_kernel(const uint32_t* in, uint32_t* out, int n) {
    begin_dependent_kernel();  // without the launch attribute there is nothing to wait for: a no-op
    stage(in, out, n, static_cast<int>(blockIdx.x), static_cast<int>(gridDim.x));
}

// Every block arrives once per stage; the barrier of stage p is passed once the counter reaches (p + 1) * blocks.
__device__ void grid_barrier(unsigned* counter, unsigned target) {
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 700
        asm volatile("red.release.gpu.global.add.u32 [%0], 1;\n" ::"l"(counter) : "memory");
        unsigned seen = 0;
        do {
            asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(seen) : "l"(counter) : "memory");
        } while (seen < target);
#endif
        __threadfence();
    }
    __syncthreads();
}

__global__ void __launch_bounds__(kThreads) persistent_kernel(uint32_t* a, uint32_t* b, int n, int stages,
                                                              unsigned* counter) {
    for (int p = 0; p < stages; ++p) {
        const uint32_t* in = p % 2 == 0 ? a : b;
        uint32_t* out = p % 2 == 0 ? b : a;
        stage(in, out, n, static_cast<int>(blockIdx.x), static_cast<int>(gridDim.x));
        grid_barrier(counter, static_cast<unsigned>(p + 1) * gridDim.x);
    }
}

struct Options {
    int stages = 256;
    int replays = 20;
    int n = 4096;
};

std::vector<uint32_t> initial(int n) {
    std::vector<uint32_t> v(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<uint32_t>(i) * 2654435761u;
    return v;
}

std::vector<uint32_t> reference(int n, int stages) {
    std::vector<uint32_t> v = initial(n);
    for (int p = 0; p < stages; ++p) {
        uint32_t s = 0;
        for (uint32_t x : v) s += x;
        for (int i = 0; i < n; ++i) v[static_cast<size_t>(i)] = s * 31u + static_cast<uint32_t>(i);
    }
    return v;
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

class Bench {
public:
    explicit Bench(const Options& o) : o_(o), want_(reference(o.n, o.stages)) {
        CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
        CUDA_CHECK(cudaMalloc(&a_, sizeof(uint32_t) * o.n));
        CUDA_CHECK(cudaMalloc(&b_, sizeof(uint32_t) * o.n));
        CUDA_CHECK(cudaMalloc(&counter_, sizeof(unsigned)));
        CUDA_CHECK(cudaEventCreate(&start_));
        CUDA_CHECK(cudaEventCreate(&stop_));
    }
    ~Bench() {
        cudaFree(a_);
        cudaFree(b_);
        cudaFree(counter_);
        cudaEventDestroy(start_);
        cudaEventDestroy(stop_);
        cudaStreamDestroy(stream_);
    }

    // Median µs per stage of the graph of `stages` stage kernels of `blocks` blocks each, and whether it was exact.
    std::pair<double, bool> kernels(int blocks, bool pdl) {
        cudaGraph_t graph = nullptr;
        CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
        for (int p = 0; p < o_.stages; ++p) {
            const uint32_t* in = p % 2 == 0 ? a_ : b_;
            uint32_t* out = p % 2 == 0 ? b_ : a_;
            if (pdl) {
                launch_kernel(stage_kernel, dim3(blocks), dim3(kThreads), 0, stream_, in, out, o_.n);
            } else {
                stage_kernel<<<blocks, kThreads, 0, stream_>>>(in, out, o_.n);
                CUDA_CHECK_LAUNCH();
            }
        }
        CUDA_CHECK(cudaStreamEndCapture(stream_, &graph));
        cudaGraphExec_t exec = nullptr;
        CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
        CUDA_CHECK(cudaGraphDestroy(graph));
        std::vector<double> us;
        bool exact = true;
        for (int r = 0; r <= o_.replays; ++r) {  // replay 0 is the warm-up
            reset();
            CUDA_CHECK(cudaEventRecord(start_, stream_));
            CUDA_CHECK(cudaGraphLaunch(exec, stream_));
            CUDA_CHECK(cudaEventRecord(stop_, stream_));
            const double stage_us = elapsed_us() / o_.stages;
            if (r > 0) us.push_back(stage_us);
            exact = exact && check();
        }
        CUDA_CHECK(cudaGraphExecDestroy(exec));
        return {median(us), exact};
    }

    // The same stages in one cooperative kernel of `blocks` blocks (at most one wave), with a grid barrier each.
    std::pair<double, bool> persistent(int blocks) {
        std::vector<double> us;
        bool exact = true;
        for (int r = 0; r <= o_.replays; ++r) {
            reset();
            int n = o_.n, stages = o_.stages;
            void* args[] = {&a_, &b_, &n, &stages, &counter_};
            CUDA_CHECK(cudaEventRecord(start_, stream_));
            CUDA_CHECK(cudaLaunchCooperativeKernel(reinterpret_cast<void*>(persistent_kernel), dim3(blocks),
                                                   dim3(kThreads), args, 0, stream_));
            CUDA_CHECK(cudaEventRecord(stop_, stream_));
            const double stage_us = elapsed_us() / o_.stages;
            if (r > 0) us.push_back(stage_us);
            exact = exact && check();
        }
        return {median(us), exact};
    }

private:
    void reset() {
        const std::vector<uint32_t> v = initial(o_.n);
        CUDA_CHECK(cudaMemcpyAsync(a_, v.data(), sizeof(uint32_t) * o_.n, cudaMemcpyHostToDevice, stream_));
        CUDA_CHECK(cudaMemsetAsync(b_, 0, sizeof(uint32_t) * o_.n, stream_));
        CUDA_CHECK(cudaMemsetAsync(counter_, 0, sizeof(unsigned), stream_));
        CUDA_CHECK(cudaStreamSynchronize(stream_));
    }

    double elapsed_us() {
        CUDA_CHECK(cudaEventSynchronize(stop_));
        float ms = 0;
        CUDA_CHECK(cudaEventElapsedTime(&ms, start_, stop_));
        return ms * 1e3;
    }

    bool check() {
        std::vector<uint32_t> got(static_cast<size_t>(o_.n));
        const uint32_t* last = o_.stages % 2 == 0 ? a_ : b_;
        CUDA_CHECK(cudaMemcpyAsync(got.data(), last, sizeof(uint32_t) * o_.n, cudaMemcpyDeviceToHost, stream_));
        CUDA_CHECK(cudaStreamSynchronize(stream_));
        return got == want_;
    }

    Options o_;
    std::vector<uint32_t> want_;
    cudaStream_t stream_ = nullptr;
    uint32_t* a_ = nullptr;
    uint32_t* b_ = nullptr;
    unsigned* counter_ = nullptr;
    cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

int run(int argc, char** argv) {
    Options o;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        const int value = std::atoi(argv[i + 1]);
        if (flag == "--stages") {
            o.stages = value;
        } else if (flag == "--replays") {
            o.replays = value;
        } else if (flag == "--n") {
            o.n = value;
        } else {
            fmt::print(stderr, "unknown flag {}\nusage: frugal_cuda_sync_bench [--stages S] [--replays R] [--n N]\n",
                       flag);
            return 2;
        }
    }
    if (argc % 2 == 0 || o.stages < 1 || o.replays < 1 || o.n < 1) {
        fmt::print(stderr, "usage: frugal_cuda_sync_bench [--stages S >= 1] [--replays R >= 1] [--n N >= 1]\n");
        return 2;
    }
    int device = 0, sms = 0, cooperative = 0, per_sm = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    CUDA_CHECK(cudaDeviceGetAttribute(&cooperative, cudaDevAttrCooperativeLaunch, device));
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, persistent_kernel, kThreads, 0));
    cudaDeviceProp prop = {};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    fmt::print("{} ({} SMs), {} stages of {} values, median of {} replays, µs per stage\n\n", prop.name, sms, o.stages,
               o.n, o.replays);
    fmt::print("| dependency | blocks | µs per stage | exact |\n|---|---:|---:|---|\n");
    Bench bench(o);
    bool all_exact = true;
    auto row = [&](const char* name, int blocks, std::pair<double, bool> r) {
        fmt::print("| {} | {} | {:.2f} | {} |\n", name, blocks, r.first, r.second ? "yes" : "NO");
        all_exact = all_exact && r.second;
    };
    for (int blocks : {sms, 4 * sms}) {
        row("kernels", blocks, bench.kernels(blocks, false));
        if (programmatic_launch_available()) row("kernels+PDL", blocks, bench.kernels(blocks, true));
    }
    if (cooperative != 0 && per_sm >= 1) {
        row("persistent, grid barrier", sms, bench.persistent(sms));
    } else {
        fmt::print("(no cooperative launch on this device: the persistent row is skipped)\n");
    }
    if (!all_exact) fmt::print(stderr, "a variant's result differs from the CPU's\n");
    return all_exact ? 0 : 1;
}

}  // namespace
}  // namespace frugal::cuda

int main(int argc, char** argv) { return frugal::cuda::run(argc, argv); }
