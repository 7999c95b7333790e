// CpuMatmul throughput per weight dtype and ISA variant on model-shaped matrices.
//   decode  (n = 1):   weight bytes streamed per second (GB/s) - the bound for token generation
//   prefill (n = 512): GFLOP/s (2 * n * in * out per call)       - the bound for prompt processing
// Shapes: Llama-3.2-1B FFN (2048 -> 8192, 8192 -> 2048), Gemma-3-270M FFN (640 -> 2048, 2048 -> 640; rows of 640
// cannot hold K-quants, which llama.cpp stores as legacy types there).
// Example: frugal_matmul_bench --benchmark_filter='avx512' --benchmark_repetitions=5
//          --benchmark_report_aggregates_only=true --benchmark_format=json
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_kernels.h"
#include "backend/cpu/matmul.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "quant/quant_traits.h"

namespace frugal {
namespace {

struct Shape {
    const char* name;
    int64_t in, out;
};
constexpr Shape kShapes[] = {{"llama1b_ffn_up", 2048, 8192}, {"llama1b_ffn_down", 8192, 2048}, {"llama1b_output", 2048, 128256},
                             {"gemma270m_ffn_up", 640, 2048}, {"gemma270m_ffn_down", 2048, 640}};
constexpr DType kDTypes[] = {DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0, DType::kQ4_K,
                             DType::kQ5_K, DType::kQ6_K, DType::kF16,  DType::kBF16, DType::kF32};

// Weights are quantized once per (dtype, shape) and shared by every benchmark using them.
const std::vector<uint8_t>& weights(DType t, const Shape& s) {
    static std::vector<std::unique_ptr<std::vector<uint8_t>>> cache(std::size(kDTypes) * std::size(kShapes));
    const size_t ti = std::find(std::begin(kDTypes), std::end(kDTypes), t) - std::begin(kDTypes);
    const size_t si = &s - kShapes;
    auto& slot = cache[ti * std::size(kShapes) + si];
    if (!slot) {
        std::mt19937 rng(1);
        std::normal_distribution<float> dist(0.0f, 0.05f);
        std::vector<float> row(s.in);
        const int64_t row_bytes = dtype_row_bytes(t, s.in);
        slot = std::make_unique<std::vector<uint8_t>>(row_bytes * s.out);
        for (int64_t o = 0; o < s.out; ++o) {
            for (float& f : row) f = dist(rng);
            quant_traits(t).quantize_row(row.data(), slot->data() + o * row_bytes, s.in);
        }
    }
    return *slot;
}

void bench_matmul(benchmark::State& state, CpuIsa isa, DType t, const Shape* s, int64_t n, int threads) {
    if (!cpu_isa_supported(isa)) {
        state.SkipWithError("ISA not supported on this CPU");
        return;
    }
    const std::vector<uint8_t>& w = weights(t, *s);
    std::vector<float> x(n * s->in), y(n * s->out);
    std::mt19937 rng(2);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (float& f : x) f = dist(rng);
    ThreadPool pool(threads);
    CpuMatmul matmul(cpu_kernels(isa));
    const Tensor wt(const_cast<uint8_t*>(w.data()), t, {s->in, s->out});
    const Tensor xt(x.data(), DType::kF32, {s->in, n});
    const Tensor yt(y.data(), DType::kF32, {s->out, n});
    matmul.run(pool, wt, xt, yt);  // warm-up: scratch allocation, page faults
    for (auto _ : state) {
        matmul.run(pool, wt, xt, yt);
        benchmark::DoNotOptimize(y.data());
        benchmark::ClobberMemory();
    }
    const double weight_bytes = static_cast<double>(w.size());
    state.counters["weight_GBps"] =
        benchmark::Counter(weight_bytes / 1e9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["GFLOPps"] = benchmark::Counter(2.0 * n * s->in * s->out / 1e9,
                                                   benchmark::Counter::kIsIterationInvariantRate);
}

int register_all() {
    for (CpuIsa isa : {CpuIsa::kAvx512, CpuIsa::kAvx2}) {
        for (const Shape& s : kShapes) {
            for (DType t : kDTypes) {
                if (s.in % dtype_layout(t).block_size != 0) continue;  // K-quants need rows of 256
                for (int64_t n : {1, 512}) {
                    for (int threads : {1, 2}) {
                        const std::string name = std::string(n == 1 ? "decode/" : "prefill/") +
                                                 std::string(cpu_isa_name(isa)) + "/" + std::string(dtype_name(t)) +
                                                 "/" + s.name + "/threads:" + std::to_string(threads);
                        auto* b = benchmark::RegisterBenchmark(name.c_str(), bench_matmul, isa, t, &s, n, threads);
                        b->UseRealTime()->Unit(n == 1 ? benchmark::kMicrosecond : benchmark::kMillisecond);
                        if (n > 1) b->MinTime(0.5);
                    }
                }
            }
        }
    }
    return 0;
}
const int kRegistered = register_all();

}  // namespace
}  // namespace frugal

BENCHMARK_MAIN();
