// Steady-state speed of the CUDA backend's decode products (batch 1) on Llama-3-8B's matrices, without the rest of
// a decode step: separates what a product costs per byte from what it costs per launch, and gives the floor a
// decode step would reach if every small kernel between the products took no time.
//   per matrix: `calls` products of one shape back to back in one CUDA graph, cycling through enough distinct
//               copies of the matrix that L2 (50 MB on the H200) cannot serve the repeats;
//   per layer:  the products of each of 32 layers as a decode step issues them (q/k/v over one input, the output
//               and down projections added onto the residual, gate+up with SwiGLU), each layer with its own
//               weights, with nothing in between.
// Weights are one quantized random row repeated (speed does not depend on the values). Prints markdown tables.
// Usage: frugal_cuda_matvec_bench [--types Q4_K,Q8_0,BF16] [--replays 20]
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "core/check.h"
#include "core/dtype.h"
#include "quant/quant_traits.h"

namespace frugal {
namespace {

constexpr int64_t kHidden = 4096, kFfn = 14336, kKv = 1024, kQkv = kHidden + 2 * kKv, kLayers = 32;
constexpr size_t kL2Bytes = size_t{50} << 20;

struct Matrix {
    const char* name;
    int64_t in, out;
};
constexpr Matrix kMatrices[] = {{"q/k/v", kHidden, kQkv}, {"output", kHidden, kHidden}, {"gate+up", kHidden, 2 * kFfn},
                                {"down", kFfn, kHidden}};

// Host bytes of an out x in matrix of type t: one row of normal(0, 0.05) values quantized, repeated.
std::vector<uint8_t> matrix_bytes(DType t, int64_t in, int64_t out) {
    std::mt19937 rng(7);
    std::normal_distribution<float> dist(0.0f, 0.05f);
    std::vector<float> row(static_cast<size_t>(in));
    for (float& f : row) f = dist(rng);
    const int64_t row_bytes = dtype_row_bytes(t, in);
    std::vector<uint8_t> one(static_cast<size_t>(row_bytes));
    quant_traits(t).quantize_row(row.data(), one.data(), in);
    std::vector<uint8_t> all(static_cast<size_t>(row_bytes * out));
    for (int64_t o = 0; o < out; ++o) std::memcpy(all.data() + o * row_bytes, one.data(), one.size());
    return all;
}

// Median wall time of `replays` replays of the recorded graph, each synchronized by a 4-byte read-back.
double median_graph_seconds(Backend& be, uint64_t key, const std::function<void()>& issue, const Tensor& sync,
                            int replays) {
    float sink = 0;
    be.run_graph(key, issue);  // records and runs once (warm-up)
    be.copy_to_host(&sink, sync, sizeof(sink));
    std::vector<double> times;
    for (int r = 0; r < replays; ++r) {
        const auto start = std::chrono::steady_clock::now();
        be.run_graph(key, issue);
        be.copy_to_host(&sink, sync, sizeof(sink));
        times.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

int run(int argc, char** argv) {
    std::vector<DType> types = {DType::kQ4_K, DType::kQ8_0, DType::kBF16};
    int replays = 20;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "--types" && i + 1 < argc) {
            types.clear();
            std::string list = argv[++i];
            for (size_t p = 0; p <= list.size();) {
                const size_t q = std::min(list.find(',', p), list.size());
                const std::optional<DType> t = dtype_from_name(list.substr(p, q - p));
                if (!t) {
                    fmt::print(stderr, "unknown type '{}'\n", list.substr(p, q - p));
                    return 2;
                }
                types.push_back(*t);
                p = q + 1;
            }
        } else if (arg == "--replays" && i + 1 < argc) {
            replays = std::max(1, std::atoi(argv[++i]));
        } else {
            fmt::print(stderr, "usage: frugal_cuda_matvec_bench [--types Q4_K,Q8_0,BF16] [--replays 20]\n");
            return 2;
        }
    }
    std::string why;
    if (!cuda_device_available(&why)) {
        fmt::print(stderr, "no CUDA device: {}\n", why);
        return 1;
    }
    Result<std::unique_ptr<Backend>> created = create_cuda_backend(CudaBackendOptions{});
    if (!created.ok()) {
        fmt::print(stderr, "{}\n", created.status().message());
        return 1;
    }
    Backend& be = *created.value();
    const double copy_gb_s = be.measure_copy_bandwidth_gb_s();
    fmt::print("{}; device copy bandwidth {:.0f} GB/s (read + written)\n\n", be.name(), copy_gb_s);

    // Activations: x [kFfn] (the widest input), outputs [2 * kFfn] and the GLU's intermediates.
    std::vector<float> x(kFfn);
    std::mt19937 rng(3);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (float& f : x) f = dist(rng);
    auto xbuf = be.allocate(x.size() * sizeof(float));
    auto ybuf = be.allocate(2 * kFfn * sizeof(float));
    auto gbuf = be.allocate(kFfn * sizeof(float));
    auto ubuf = be.allocate(kFfn * sizeof(float));
    auto rbuf = be.allocate(kHidden * sizeof(float));
    be.copy_to_device(Tensor(xbuf->data(), DType::kF32, {kFfn}), x.data(), x.size() * sizeof(float));
    be.fill_zero(Tensor(rbuf->data(), DType::kF32, {kHidden}));
    const Tensor sync(ybuf->data(), DType::kF32, {1});
    auto xt = [&](int64_t in) { return Tensor(xbuf->data(), DType::kF32, {in, 1}); };
    auto yt = [&](int64_t out) { return Tensor(ybuf->data(), DType::kF32, {out, 1}); };
    uint64_t key = 1;
    int counter = 0;
    auto place = [&](DType t, const Matrix& m, const std::vector<uint8_t>& bytes) {
        Result<Tensor> w = be.place_weight(fmt::format("bench.{}", counter++), t, {m.in, m.out}, bytes.data());
        CHECK(w.ok()) << w.status().message();
        return w.value();
    };

    fmt::print("| type | matrix | MB | copies | µs per product | GB/s | % of copy bandwidth |\n");
    fmt::print("|---|---|---:|---:|---:|---:|---:|\n");
    for (DType t : types) {
        for (const Matrix& m : kMatrices) {
            const std::vector<uint8_t> bytes = matrix_bytes(t, m.in, m.out);
            const int copies = static_cast<int>(std::max<size_t>(2, 3 * kL2Bytes / bytes.size() + 1));
            std::vector<Tensor> ws;
            for (int c = 0; c < copies; ++c) ws.push_back(place(t, m, bytes));
            const int calls = std::max(64, copies);
            const double s = median_graph_seconds(be, key++, [&] {
                for (int c = 0; c < calls; ++c) be.matmul(ws[static_cast<size_t>(c % copies)], xt(m.in), yt(m.out));
            }, sync, replays);
            const double us = s / calls * 1e6;
            const double gb_s = static_cast<double>(bytes.size()) / (s / calls) / 1e9;
            fmt::print("| {} | {} ({} x {}) | {:.1f} | {} | {:.2f} | {:.0f} | {:.0f}% |\n", dtype_name(t), m.name, m.out,
                       m.in, bytes.size() / 1e6, copies, us, gb_s, 100.0 * gb_s / copy_gb_s);
            std::fflush(stdout);
        }
        be.clear_graphs();
    }

    fmt::print("\n| type | 32 layers' products, nothing between | MB | µs per layer | GB/s | % of copy bandwidth |\n");
    fmt::print("|---|---|---:|---:|---:|---:|\n");
    for (DType t : types) {
        struct Layer {
            Tensor q, k, v, out, gate, up, down;
        };
        const std::vector<uint8_t> q = matrix_bytes(t, kHidden, kHidden), kv = matrix_bytes(t, kHidden, kKv),
                                   ffn = matrix_bytes(t, kHidden, kFfn), down = matrix_bytes(t, kFfn, kHidden);
        std::vector<Layer> layers;
        for (int64_t l = 0; l < kLayers; ++l) {
            layers.push_back({place(t, {"", kHidden, kHidden}, q), place(t, {"", kHidden, kKv}, kv),
                              place(t, {"", kHidden, kKv}, kv), place(t, {"", kHidden, kHidden}, q),
                              place(t, {"", kHidden, kFfn}, ffn), place(t, {"", kHidden, kFfn}, ffn),
                              place(t, {"", kFfn, kHidden}, down)});
        }
        const double layer_bytes = static_cast<double>(2 * q.size() + 2 * kv.size() + 2 * ffn.size() + down.size());
        // As a decode step issues them: q/k/v over one input, the projections onto the residual, the fused GLU.
        const Tensor ys[3] = {yt(kHidden), Tensor(gbuf->data(), DType::kF32, {kKv, 1}),
                              Tensor(ubuf->data(), DType::kF32, {kKv, 1})};
        const Tensor residual(rbuf->data(), DType::kF32, {kHidden, 1});
        const double s = median_graph_seconds(be, key++, [&] {
            for (const Layer& l : layers) {
                const Tensor ws[3] = {l.q, l.k, l.v};
                be.matmul_shared_input(ws, ys, 3, xt(kHidden));
                be.matmul_add(l.out, xt(kHidden), yt(kHidden), residual);
                be.matmul_glu(l.gate, l.up, xt(kHidden), GluKind::kSilu, Tensor(gbuf->data(), DType::kF32, {kFfn, 1}),
                              Tensor(ubuf->data(), DType::kF32, {kFfn, 1}), yt(kFfn));
                be.matmul_add(l.down, xt(kFfn), yt(kHidden), residual);
            }
        }, sync, replays);
        const double gb_s = layer_bytes * kLayers / s / 1e9;
        fmt::print("| {} | q/k/v, output, gate+up (SwiGLU), down | {:.1f} | {:.2f} | {:.0f} | {:.0f}% |\n",
                   dtype_name(t), layer_bytes / 1e6, s / kLayers * 1e6, gb_s, 100.0 * gb_s / copy_gb_s);
        std::fflush(stdout);
        be.clear_graphs();
    }
    return 0;
}

}  // namespace
}  // namespace frugal

int main(int argc, char** argv) { return frugal::run(argc, argv); }
