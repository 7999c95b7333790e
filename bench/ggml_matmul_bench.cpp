// The same matrices as matmul_bench.cpp through ggml's CPU backend (llama.cpp's kernels), for side-by-side numbers.
// Built only when FRUGAL_GGML_PREFIX points at an installed ggml (headers in include/, libraries in lib/, e.g. the
// copy bundled with llama-cpp-python). Weights use ggml's plain CPU buffers, so ggml's AMX / repacked-weight paths
// (which need extra buffer types) are not exercised; its built-in tiled K-quant GEMM is.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "ggml-cpu.h"
#include "ggml.h"

namespace {

struct Shape {
    const char* name;
    int64_t in, out;
};
constexpr Shape kShapes[] = {{"llama1b_ffn_up", 2048, 8192}, {"llama1b_ffn_down", 8192, 2048}, {"llama1b_output", 2048, 128256},
                             {"gemma270m_ffn_up", 640, 2048}, {"gemma270m_ffn_down", 2048, 640}};
constexpr ggml_type kTypes[] = {GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K};

void bench_ggml(benchmark::State& state, ggml_type type, const Shape* s, int64_t n, int threads) {
    const size_t mem = static_cast<size_t>(s->in) * s->out * 2 + static_cast<size_t>(s->in) * n * 4 +
                       static_cast<size_t>(s->out) * n * 4 + (16 << 20);
    ggml_init_params params = {mem, nullptr, false};
    ggml_context* ctx = ggml_init(params);
    ggml_tensor* w = ggml_new_tensor_2d(ctx, type, s->in, s->out);
    ggml_tensor* x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, s->in, n);
    std::mt19937 rng(1);
    std::normal_distribution<float> dist(0.0f, 0.05f);
    std::vector<float> wf(s->in * s->out);
    for (float& f : wf) f = dist(rng);
    ggml_quantize_chunk(type, wf.data(), w->data, 0, s->out, s->in, nullptr);
    for (int64_t i = 0; i < s->in * n; ++i) static_cast<float*>(x->data)[i] = dist(rng) * 20.0f;
    ggml_tensor* y = ggml_mul_mat(ctx, w, x);
    ggml_cgraph* graph = ggml_new_graph(ctx);
    ggml_build_forward_expand(graph, y);
    ggml_cplan plan = ggml_graph_plan(graph, threads, nullptr);
    std::vector<uint8_t> work(plan.work_size + 64);
    plan.work_data = work.data();
    ggml_graph_compute(graph, &plan);  // warm-up
    for (auto _ : state) ggml_graph_compute(graph, &plan);
    state.counters["weight_GBps"] =
        benchmark::Counter(static_cast<double>(ggml_nbytes(w)) / 1e9, benchmark::Counter::kIsIterationInvariantRate);
    state.counters["GFLOPps"] = benchmark::Counter(2.0 * n * s->in * s->out / 1e9,
                                                   benchmark::Counter::kIsIterationInvariantRate);
    ggml_free(ctx);
}

int register_all() {
    for (const Shape& s : kShapes) {
        for (ggml_type t : kTypes) {
            if (s.in % ggml_blck_size(t) != 0) continue;
            for (int64_t n : {1, 512}) {
                for (int threads : {1, 2}) {
                    std::string type_name = ggml_type_name(t);
                    for (char& c : type_name) c = static_cast<char>(std::toupper(c));
                    const std::string name = std::string(n == 1 ? "decode/" : "prefill/") + "ggml/" + type_name + "/" +
                                             s.name + "/threads:" + std::to_string(threads);
                    auto* b = benchmark::RegisterBenchmark(name.c_str(), bench_ggml, t, &s, n, threads);
                    b->UseRealTime()->Unit(n == 1 ? benchmark::kMicrosecond : benchmark::kMillisecond);
                    if (n > 1) b->MinTime(0.5);
                }
            }
        }
    }
    return 0;
}
const int kRegistered = register_all();

}  // namespace

BENCHMARK_MAIN();
