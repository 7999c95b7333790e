// frugal synth: write a random-weight model of a real architecture's shape, for benchmarks. Weights are
// uniform in ±sqrt(3 / fan_in) (unit-variance activations through each projection; rows repeat every 1024),
// norms are ones; nothing is zero. The vocabulary can be copied from a GGUF (e.g. llama.cpp's vocab files) so
// other engines load it too.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <thread>

#include "cli_common.h"
#include "commands.h"
#include "core/thread_pool.h"
#include "format/gguf/gguf_file.h"
#include "format/gguf/gguf_writer.h"
#include "quant/quant_traits.h"

namespace frugal::cli {
namespace {

struct Shape {
    std::string arch;
    int64_t dim, layers, heads, kv_heads, head_dim, ffn, vocab, context;
    float rope_base;
    bool tied;
    bool qk_norm;
    // DeepSeek-V2 family (arch "deepseek2"): MLA and DeepSeekMoE. kv_lora 0 = a llama-family shape.
    int64_t kv_lora = 0, q_lora = 0, qk_nope = 0, qk_rope = 0, v_head = 0;
    int64_t experts = 0, experts_used = 0, expert_ffn = 0, shared_experts = 0, leading_dense = 0;
    float yarn_factor = 0, yarn_log_mul = 0;
    int64_t yarn_original_context = 0;
};

const std::map<std::string, Shape>& shapes() {
    static const std::map<std::string, Shape> kShapes = {
        {"llama3-8b", {"llama", 4096, 32, 32, 8, 128, 14336, 128256, 8192, 500000.0f, false, false}},
        {"llama3.2-1b", {"llama", 2048, 16, 32, 8, 64, 8192, 128256, 131072, 500000.0f, true, false}},
        {"llama3.2-3b", {"llama", 3072, 28, 24, 8, 128, 8192, 128256, 131072, 500000.0f, true, false}},
        {"qwen3-0.6b", {"qwen3", 1024, 28, 16, 8, 128, 3072, 151936, 40960, 1000000.0f, true, true}},
        {"tiny", {"llama", 256, 2, 4, 2, 64, 512, 1024, 2048, 10000.0f, false, false}},
        // DeepSeek-V2-Lite: 15.7B parameters, 2.4B active (64 routed experts, top 6, + 2 shared; MLA, no q-LoRA).
        {"deepseek-v2-lite", {"deepseek2", 2048, 27, 16, 16, 192, 10944, 102400, 163840, 10000.0f, false, false,
                              512, 0, 128, 64, 128, 64, 6, 1408, 2, 1, 40.0f, 0.0707f, 4096}},
        {"deepseek-tiny", {"deepseek2", 256, 3, 4, 4, 96, 512, 1024, 4096, 10000.0f, false, false,
                           64, 128, 64, 32, 64, 8, 2, 256, 1, 1, 4.0f, 0.0707f, 512}},
    };
    return kShapes;
}

struct SynthOptions {
    std::string shape = "llama3.2-1b";
    std::string type = "Q4_K";
    std::string output;
    std::string vocab;
    uint64_t seed = 42;
    int threads = 0;
};

// Splitmix64: a fast, well-mixed stream per row, so rows can be generated in parallel reproducibly.
uint64_t splitmix(uint64_t& s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

// Rows are drawn and quantized for the first kDistinctRows rows only and repeat after that: a benchmark reads every
// byte all the same (the period is far larger than any cache line run and far smaller than the tensor), and the
// file is written in seconds instead of quantizing billions of weights (DeepSeek-V2-Lite: 15.7B).
constexpr int64_t kDistinctRows = 1024;

std::vector<uint8_t> random_matrix(ThreadPool& pool, DType type, int64_t cols, int64_t rows, uint64_t seed) {
    const int64_t row_bytes = dtype_row_bytes(type, cols);
    std::vector<uint8_t> out(static_cast<size_t>(row_bytes * rows));
    const float bound = std::sqrt(3.0f / static_cast<float>(cols));
    const QuantizeRowFn quantize = quant_traits(type).quantize_row;
    const int64_t distinct = std::min(rows, kDistinctRows);
    pool.parallel_for(distinct, [&](int64_t begin, int64_t end) {
        std::vector<float> row(static_cast<size_t>(cols));
        for (int64_t r = begin; r < end; ++r) {
            uint64_t s = seed * 0x100000001b3ull + static_cast<uint64_t>(r);
            for (float& v : row) v = bound * (static_cast<float>(splitmix(s) >> 40) / 8388608.0f - 1.0f);
            quantize(row.data(), out.data() + r * row_bytes, cols);
        }
    });
    for (int64_t r = distinct; r < rows; r += distinct) {
        const int64_t n = std::min(distinct, rows - r);
        std::memcpy(out.data() + r * row_bytes, out.data(), static_cast<size_t>(n * row_bytes));
    }
    return out;
}

int synth(const SynthOptions& o) {
    const auto it = shapes().find(o.shape);
    if (it == shapes().end()) {
        std::string names;
        for (const auto& [n, s] : shapes()) names += " " + n;
        fmt::print(stderr, "error: unknown shape '{}'; known:{}\n", o.shape, names);
        return 1;
    }
    const Shape& s = it->second;
    const std::optional<DType> type = dtype_from_name(o.type);
    if (!type || !has_quant_traits(*type) || quant_traits(*type).quantize_row == nullptr ||
        *type == DType::kQ8_K || *type == DType::kQ8_1) {
        fmt::print(stderr, "error: --type {} cannot be written (try F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K)\n", o.type);
        return 1;
    }
    const auto start = std::chrono::steady_clock::now();
    ThreadPool pool(resolve_threads(o.threads));
    GgufWriter w;
    const std::string a = s.arch;
    w.set_string("general.architecture", a);
    w.set_string("general.name", fmt::format("synthetic {} {}", o.shape, o.type));
    w.set_uint32(a + ".context_length", static_cast<uint32_t>(s.context));
    w.set_uint32(a + ".embedding_length", static_cast<uint32_t>(s.dim));
    w.set_uint32(a + ".block_count", static_cast<uint32_t>(s.layers));
    w.set_uint32(a + ".feed_forward_length", static_cast<uint32_t>(s.ffn));
    w.set_uint32(a + ".attention.head_count", static_cast<uint32_t>(s.heads));
    w.set_uint32(a + ".attention.head_count_kv", static_cast<uint32_t>(s.kv_heads));
    w.set_uint32(a + ".attention.key_length", static_cast<uint32_t>(s.head_dim));
    w.set_uint32(a + ".attention.value_length", static_cast<uint32_t>(s.head_dim));
    w.set_uint32(a + ".rope.dimension_count", static_cast<uint32_t>(s.head_dim));
    w.set_float32(a + ".rope.freq_base", s.rope_base);
    w.set_float32(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
    w.set_uint32(a + ".vocab_size", static_cast<uint32_t>(s.vocab));
    w.set_uint32("general.quantization_version", 2);
    if (s.kv_lora > 0) {
        w.set_uint32(a + ".attention.head_count_kv", 1);
        w.set_uint32(a + ".attention.key_length", static_cast<uint32_t>(s.kv_lora + s.qk_rope));
        w.set_uint32(a + ".attention.value_length", static_cast<uint32_t>(s.kv_lora));
        w.set_uint32(a + ".attention.key_length_mla", static_cast<uint32_t>(s.qk_nope + s.qk_rope));
        w.set_uint32(a + ".attention.value_length_mla", static_cast<uint32_t>(s.v_head));
        w.set_uint32(a + ".attention.kv_lora_rank", static_cast<uint32_t>(s.kv_lora));
        if (s.q_lora > 0) w.set_uint32(a + ".attention.q_lora_rank", static_cast<uint32_t>(s.q_lora));
        w.set_uint32(a + ".rope.dimension_count", static_cast<uint32_t>(s.qk_rope));
        w.set_float32(a + ".attention.layer_norm_rms_epsilon", 1e-6f);
        w.set_uint32(a + ".leading_dense_block_count", static_cast<uint32_t>(s.leading_dense));
        w.set_uint32(a + ".expert_count", static_cast<uint32_t>(s.experts));
        w.set_uint32(a + ".expert_used_count", static_cast<uint32_t>(s.experts_used));
        w.set_uint32(a + ".expert_feed_forward_length", static_cast<uint32_t>(s.expert_ffn));
        w.set_uint32(a + ".expert_shared_count", static_cast<uint32_t>(s.shared_experts));
        w.set_float32(a + ".expert_weights_scale", 1.0f);
        w.set_bool(a + ".expert_weights_norm", false);
        w.set_uint32(a + ".expert_gating_func", 1);
        if (s.yarn_factor > 0) {
            w.set_string(a + ".rope.scaling.type", "yarn");
            w.set_float32(a + ".rope.scaling.factor", s.yarn_factor);
            w.set_uint32(a + ".rope.scaling.original_context_length", static_cast<uint32_t>(s.yarn_original_context));
            w.set_float32(a + ".rope.scaling.yarn_log_multiplier", s.yarn_log_mul);
        }
    }

    std::unique_ptr<GgufFile> vocab;
    if (o.vocab.empty()) w.set_string("tokenizer.ggml.model", "none");  // token ids only; llama.cpp accepts it
    if (!o.vocab.empty()) {
        Result<GgufFile> v = GgufFile::open(o.vocab);
        if (!v.ok()) return fmt::print(stderr, "error: {}\n", v.status().message()), 1;
        vocab = std::make_unique<GgufFile>(std::move(v).value());
        const GgufValue* tokens = vocab->find("tokenizer.ggml.tokens");
        if (tokens == nullptr || tokens->array_count != static_cast<uint64_t>(s.vocab)) {
            fmt::print(stderr, "error: '{}' has no vocabulary of {} tokens for shape {}\n", o.vocab, s.vocab, o.shape);
            return 1;
        }
        for (const auto& [key, value] : vocab->metadata()) {
            if (key.rfind("tokenizer.", 0) == 0) w.copy_value(key, value);
        }
    }

    uint64_t seed = o.seed;
    // Rows whose length is not a multiple of the type's block (K-quants: 256) fall back as llama.cpp's quantizer
    // does: 4/5-bit K-quants to Q5_0, anything else to Q8_0 (blocks of 32).
    auto type_for = [&](int64_t cols) {
        if (cols % dtype_layout(*type).block_size == 0) return *type;
        return *type == DType::kQ4_K || *type == DType::kQ5_K ? DType::kQ5_0 : DType::kQ8_0;
    };
    // A [count, rows, cols] stack (experts, heads) or a matrix (count 1).
    auto matrix3 = [&](const std::string& name, int64_t cols, int64_t rows, int64_t count) -> Status {
        const DType t = type_for(cols);
        std::vector<uint8_t> bytes = random_matrix(pool, t, cols, rows * count, ++seed);
        if (count == 1) return w.add_tensor(name, t, {cols, rows}, bytes);
        return w.add_tensor(name, t, {cols, rows, count}, bytes);
    };
    auto matrix = [&](const std::string& name, int64_t cols, int64_t rows) { return matrix3(name, cols, rows, 1); };
    auto f32_matrix = [&](const std::string& name, int64_t cols, int64_t rows) -> Status {
        std::vector<uint8_t> bytes = random_matrix(pool, DType::kF32, cols, rows, ++seed);
        return w.add_tensor(name, DType::kF32, {cols, rows}, bytes);
    };
    auto ones = [&](const std::string& name, int64_t n) -> Status {
        std::vector<float> v(static_cast<size_t>(n), 1.0f);
        return w.add_tensor(name, DType::kF32, {n}, {reinterpret_cast<const uint8_t*>(v.data()), v.size() * 4});
    };
    const int64_t q_dim = s.heads * s.head_dim;
    const int64_t kv_dim = s.kv_heads * s.head_dim;
    Status st = matrix("token_embd.weight", s.dim, s.vocab);
    if (st.ok()) st = ones("output_norm.weight", s.dim);
    if (st.ok() && !s.tied) st = matrix("output.weight", s.dim, s.vocab);
    for (int64_t l = 0; st.ok() && l < s.layers && s.kv_lora > 0; ++l) {
        auto n = [l](const char* suffix) { return fmt::format("blk.{}.{}", l, suffix); };
        st = ones(n("attn_norm.weight"), s.dim);
        if (st.ok() && s.q_lora > 0) {
            st = matrix(n("attn_q_a.weight"), s.dim, s.q_lora);
            if (st.ok()) st = ones(n("attn_q_a_norm.weight"), s.q_lora);
            if (st.ok()) st = matrix(n("attn_q_b.weight"), s.q_lora, s.heads * (s.qk_nope + s.qk_rope));
        } else if (st.ok()) {
            st = matrix(n("attn_q.weight"), s.dim, s.heads * (s.qk_nope + s.qk_rope));
        }
        if (st.ok()) st = matrix(n("attn_kv_a_mqa.weight"), s.dim, s.kv_lora + s.qk_rope);
        if (st.ok()) st = ones(n("attn_kv_a_norm.weight"), s.kv_lora);
        if (st.ok()) st = matrix3(n("attn_k_b.weight"), s.qk_nope, s.kv_lora, s.heads);
        if (st.ok()) st = matrix3(n("attn_v_b.weight"), s.kv_lora, s.v_head, s.heads);
        if (st.ok()) st = matrix(n("attn_output.weight"), s.heads * s.v_head, s.dim);
        if (st.ok()) st = ones(n("ffn_norm.weight"), s.dim);
        if (l < s.leading_dense) {
            if (st.ok()) st = matrix(n("ffn_gate.weight"), s.dim, s.ffn);
            if (st.ok()) st = matrix(n("ffn_up.weight"), s.dim, s.ffn);
            if (st.ok()) st = matrix(n("ffn_down.weight"), s.ffn, s.dim);
        } else {
            const int64_t shared = s.shared_experts * s.expert_ffn;
            if (st.ok()) st = f32_matrix(n("ffn_gate_inp.weight"), s.dim, s.experts);
            if (st.ok()) st = matrix3(n("ffn_gate_exps.weight"), s.dim, s.expert_ffn, s.experts);
            if (st.ok()) st = matrix3(n("ffn_up_exps.weight"), s.dim, s.expert_ffn, s.experts);
            if (st.ok()) st = matrix3(n("ffn_down_exps.weight"), s.expert_ffn, s.dim, s.experts);
            if (st.ok()) st = matrix(n("ffn_gate_shexp.weight"), s.dim, shared);
            if (st.ok()) st = matrix(n("ffn_up_shexp.weight"), s.dim, shared);
            if (st.ok()) st = matrix(n("ffn_down_shexp.weight"), shared, s.dim);
        }
        fmt::print(stderr, "\rfrugal synth: layer {}/{}", l + 1, s.layers);
    }
    for (int64_t l = 0; st.ok() && l < s.layers && s.kv_lora == 0; ++l) {
        auto n = [l](const char* suffix) { return fmt::format("blk.{}.{}", l, suffix); };
        st = ones(n("attn_norm.weight"), s.dim);
        if (st.ok()) st = matrix(n("attn_q.weight"), s.dim, q_dim);
        if (st.ok()) st = matrix(n("attn_k.weight"), s.dim, kv_dim);
        if (st.ok()) st = matrix(n("attn_v.weight"), s.dim, kv_dim);
        if (st.ok()) st = matrix(n("attn_output.weight"), q_dim, s.dim);
        if (st.ok() && s.qk_norm) st = ones(n("attn_q_norm.weight"), s.head_dim);
        if (st.ok() && s.qk_norm) st = ones(n("attn_k_norm.weight"), s.head_dim);
        if (st.ok()) st = ones(n("ffn_norm.weight"), s.dim);
        if (st.ok()) st = matrix(n("ffn_gate.weight"), s.dim, s.ffn);
        if (st.ok()) st = matrix(n("ffn_up.weight"), s.dim, s.ffn);
        if (st.ok()) st = matrix(n("ffn_down.weight"), s.ffn, s.dim);
        fmt::print(stderr, "\rfrugal synth: layer {}/{}", l + 1, s.layers);
    }
    fmt::print(stderr, "\n");
    if (st.ok()) st = write_atomically(o.output, [&](const std::string& path) { return w.write(path); });
    if (!st.ok()) {
        fmt::print(stderr, "error: {}\n", st.message());
        return 1;
    }
    fmt::print(stderr, "frugal synth: wrote {} ({} {}) in {:.1f} s\n", o.output, o.shape, o.type,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return 0;
}

}  // namespace

std::function<int()> add_synth_command(CLI::App& app) {
    auto o = std::make_shared<SynthOptions>();
    CLI::App* sub = app.add_subcommand("synth", "Write a random-weight model of a real shape (for benchmarks)");
    sub->add_option("--shape", o->shape, "llama3-8b, llama3.2-1b, llama3.2-3b, qwen3-0.6b, deepseek-v2-lite, deepseek-tiny, tiny");
    sub->add_option("--type", o->type, "Weight type: F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K");
    sub->add_option("-o,--output", o->output, "Output GGUF path")->required();
    sub->add_option("--vocab", o->vocab, "GGUF whose tokenizer.* metadata to copy (so llama.cpp can load the file)");
    sub->add_option("--seed", o->seed, "Random seed");
    sub->add_option("-t,--threads", o->threads, "Threads for quantization");
    return [o] { return synth(*o); };
}

}  // namespace frugal::cli
