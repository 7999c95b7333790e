// frugal bench: prompt-processing and generation speed, measured as llama-bench does (pp: one prompt of P
// tokens into an empty cache; tg: N single-token decode steps from an empty cache), repeated, with bytes moved
// per generated token and the effective memory bandwidth. Table on stdout, or JSON with --json.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <set>

#include "cli_common.h"
#include "commands.h"
#include "core/thread_pool.h"

namespace frugal::cli {
namespace {

struct BenchOptions {
    ModelOptions model;
    int64_t n_prompt = 512;
    int64_t n_gen = 128;
    int64_t depth = 0;  // tokens already in the cache when the tg test starts (llama-bench's -d)
    int repetitions = 3;
    bool json = false;
    double price_per_hour = 0;  // dollars per machine-hour, for $/1M tokens
    bool measure_memory = true;
    std::vector<int> parallel;  // batched decode: sequences decoding together (llama-batched-bench's -npl)
};

struct Spread {
    double median = 0, min = 0, max = 0;
};

Spread summarize(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    if (v.empty()) return {};
    return {v[v.size() / 2], v.front(), v.back()};
}

// The machine's read bandwidth with the engine's threads, best of a few passes: the yardstick for decode's GB/s,
// which streams every weight once per token. 1 GiB (2 MiB-aligned, huge pages asked for, as
// the CPU backend places weights) read by every thread, each chunk as four streams with a software prefetch 4 KiB
// ahead, eight independent sums. A single scalar stream is bound by its own loop, not by memory: on the 2-core dev
// VM it measured 13-17 GB/s where this form measures 25-32 and the decode kernels reach 21-24 (docs/perf/cpu.md).
double measure_read_gb_s(int threads) {
    constexpr size_t kBytes = size_t{1} << 30;
    constexpr size_t kAlign = size_t{1} << 21;
    std::unique_ptr<uint64_t, decltype(&std::free)> buffer(static_cast<uint64_t*>(std::aligned_alloc(kAlign, kBytes)),
                                                           &std::free);
    if (buffer == nullptr) return 0;
#ifdef MADV_HUGEPAGE
    madvise(buffer.get(), kBytes, MADV_HUGEPAGE);
#endif
    const int64_t words = static_cast<int64_t>(kBytes / sizeof(uint64_t));
    std::fill_n(buffer.get(), words, uint64_t{1});
    constexpr int64_t kLine = 8;      // words per 64-byte line
    constexpr int kStreams = 4;
    constexpr int64_t kAhead = 512;   // words (4 KiB)
    const uint64_t* data = buffer.get();
    ThreadPool pool(threads);
    double best = 0;
    std::atomic<uint64_t> sink{0};
    for (int pass = 0; pass < 4; ++pass) {
        const auto start = std::chrono::steady_clock::now();
        pool.parallel_for(words / (kLine * kStreams), [&](int64_t b, int64_t e) {
            // Lines [b, e) of each of the four quarters of this chunk's range.
            uint64_t s[kLine] = {};
            const int64_t span = (e - b) * kLine;
            const uint64_t* base = data + b * kLine * kStreams;
            for (int64_t i = 0; i < span; i += kLine) {
                for (int st = 0; st < kStreams; ++st) {
                    const uint64_t* p = base + st * span + i;
                    __builtin_prefetch(p + kAhead);
                    for (int k = 0; k < kLine; ++k) s[k] += p[k];
                }
            }
            uint64_t total = 0;
            for (uint64_t v : s) total += v;
            sink += total;
        }, 1 << 12);
        const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (pass > 0) best = std::max(best, static_cast<double>(kBytes) / t / 1e9);
    }
    return sink.load() > 0 ? best : 0;
}

// Steps the engine until each of the num_requests requests added has its first token: their prompts' prefill, which
// may take several steps (chunks of max_batch_tokens). The steps after it are pure decode.
Status prefill_until_first_tokens(Engine& engine, int num_requests) {
    std::set<int64_t> started;
    while (static_cast<int>(started.size()) < num_requests && engine.has_unfinished()) {
        ASSIGN_OR_RETURN(std::vector<RequestOutput> out, engine.step());
        for (const RequestOutput& o : out) {
            if (o.token_id >= 0) started.insert(o.request_id);
        }
    }
    return ok_status();
}

// Runs one request to completion and returns the seconds it took; with skip_prefill, only the decode steps after
// its prefill are timed and counted in *steps.
Result<double> timed_request(Engine& engine, const std::vector<int32_t>& prompt, int64_t max_new, int64_t* steps,
                             bool skip_prefill = false) {
    Request r;
    r.request_id = 1;
    r.prompt_ids = prompt;
    r.max_new_tokens = max_new;
    r.ignore_eos = true;
    r.sampling.temperature = 0;
    RETURN_IF_ERROR(engine.add_request(r));
    *steps = 0;
    if (skip_prefill) RETURN_IF_ERROR(prefill_until_first_tokens(engine, 1));
    const auto start = std::chrono::steady_clock::now();
    while (engine.has_unfinished()) {
        Result<std::vector<RequestOutput>> out = engine.step();
        if (!out.ok()) return out.status();
        ++*steps;
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct ParallelResult {
    int num_seqs = 0;
    double tok_s = 0;    // generated tokens per second, all sequences together
    double step_ms = 0;  // one decode step of every sequence
};

// num_seqs sequences, each with its own `depth`-token prompt (prefilled, not timed), then decode n_gen tokens
// together: the engine's steady state under load, one token per sequence per step.
Result<ParallelResult> parallel_decode(Engine& engine, int num_seqs, int64_t depth, int64_t n_gen, std::mt19937& rng) {
    std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(engine.config().vocab_size - 1));
    for (int s = 0; s < num_seqs; ++s) {
        Request r;
        r.request_id = 1000 + s;
        r.prompt_ids.resize(static_cast<size_t>(std::max<int64_t>(depth, 1)));
        for (int32_t& t : r.prompt_ids) t = token(rng);
        r.max_new_tokens = n_gen + 1;
        r.ignore_eos = true;
        r.sampling.temperature = 0;
        RETURN_IF_ERROR(engine.add_request(r));
    }
    RETURN_IF_ERROR(prefill_until_first_tokens(engine, num_seqs));
    const auto start = std::chrono::steady_clock::now();
    int64_t tokens = 0, steps = 0;
    while (engine.has_unfinished()) {
        ASSIGN_OR_RETURN(std::vector<RequestOutput> out, engine.step());
        for (const RequestOutput& o : out) tokens += o.token_id >= 0;
        ++steps;
    }
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return ParallelResult{num_seqs, static_cast<double>(tokens) / t, steps > 0 ? t * 1e3 / static_cast<double>(steps) : 0};
}

int bench(const BenchOptions& o) {
    ModelOptions mo = o.model;
    mo.context = std::max<int64_t>(mo.context, std::max(o.n_prompt, o.depth) + o.n_gen + 8);
    mo.enable_prefix_caching = false;  // each repetition computes its prompt, as llama-bench's do
    for (int b : o.parallel) {
        mo.max_num_seqs = std::max(mo.max_num_seqs, b);
        mo.kv_cache_tokens = std::max<int64_t>(mo.kv_cache_tokens, int64_t{b} * (std::max<int64_t>(o.depth, 1) + o.n_gen + 8));
    }
    Result<LoadedEngine> loaded = load_engine(mo);
    if (!loaded.ok()) {
        fmt::print(stderr, "error: {}\n", loaded.status().message());
        return 1;
    }
    Engine& engine = *loaded->engine;
    const ModelConfig& c = engine.config();
    if (o.n_prompt + 1 > engine.context_length() || o.n_gen + 1 > engine.context_length()) {
        fmt::print(stderr, "error: -p {} / -n {} exceed the model's context of {}\n", o.n_prompt, o.n_gen,
                   engine.context_length());
        return 1;
    }
    std::mt19937 rng(1234);
    std::uniform_int_distribution<int32_t> token(0, static_cast<int32_t>(c.vocab_size - 1));
    std::vector<int32_t> prompt(static_cast<size_t>(o.n_prompt));
    for (int32_t& t : prompt) t = token(rng);
    const std::vector<int32_t> one = {token(rng)};
    // The tg test's prompt: one token, or `depth` tokens whose prefill is not timed.
    std::vector<int32_t> tg_prompt = one;
    if (o.depth > 0) {
        tg_prompt.resize(static_cast<size_t>(o.depth));
        for (int32_t& t : tg_prompt) t = token(rng);
    }

    fmt::print(stderr, "frugal bench: {} ({}), {} threads, {}; warm-up...\n", c.name, engine.backend().name(),
               resolve_threads(o.model.threads), o.json ? "json" : "table");
    int64_t steps = 0;
    const std::vector<int32_t> warmup =
        o.n_prompt > 0 ? std::vector<int32_t>(prompt.begin(), prompt.begin() + std::min<int64_t>(8, o.n_prompt)) : one;
    if (Result<double> w = timed_request(engine, warmup, 4, &steps); !w.ok()) {
        fmt::print(stderr, "error: {}\n", w.status().message());
        return 1;
    }
    std::vector<double> pp, tg;
    int64_t tg_steps = 0;  // decode steps the last tg run timed (n_gen when the prompt's prefill stayed untimed)
    const std::string depth_label = o.depth > 0 ? fmt::format(" @ d{}", o.depth) : "";
    for (int r = 0; r < o.repetitions; ++r) {
        if (o.n_prompt > 0) {
            Result<double> t = timed_request(engine, prompt, 1, &steps);
            if (!t.ok()) return fmt::print(stderr, "error: {}\n", t.status().message()), 1;
            pp.push_back(o.n_prompt / t.value());
            fmt::print(stderr, "  pp{} run {}/{}: {:.1f} tok/s\n", o.n_prompt, r + 1, o.repetitions, pp.back());
        }
        if (o.n_gen > 0) {
            Result<double> t = timed_request(engine, tg_prompt, o.n_gen + (o.depth > 0 ? 1 : 0), &steps, o.depth > 0);
            if (!t.ok()) return fmt::print(stderr, "error: {}\n", t.status().message()), 1;
            tg.push_back(static_cast<double>(steps) / t.value());
            tg_steps = steps;
            fmt::print(stderr, "  tg{}{} run {}/{}: {:.1f} tok/s\n", o.n_gen, depth_label, r + 1, o.repetitions,
                       tg.back());
        }
    }
    std::vector<ParallelResult> parallel;
    for (int b : o.parallel) {
        Result<ParallelResult> r = parallel_decode(engine, b, o.depth, o.n_gen, rng);
        if (!r.ok()) return fmt::print(stderr, "error: {}\n", r.status().message()), 1;
        parallel.push_back(r.value());
        fmt::print(stderr, "  tg{}{} x{} sequences: {:.1f} tok/s, {:.2f} ms per step\n", o.n_gen, depth_label, b,
                   r->tok_s, r->step_ms);
    }
    const Spread pps = summarize(pp);
    const Spread tgs = summarize(tg);
    // Bytes a decode step reads: every weight once plus, on average, half the generated context of K and V.
    const double kv_row_bytes = static_cast<double>(c.num_layers) * (c.kv_dim() + c.v_dim()) *
                                (mo.cache_type_k == "f32" ? 4.0 : 2.0);
    const double bytes_per_token = static_cast<double>(engine.model().weight_bytes_per_token()) +
                                   kv_row_bytes * (static_cast<double>(o.depth) + static_cast<double>(o.n_gen) / 2.0);
    const double gb_s = bytes_per_token * tgs.median / 1e9;
    // The yardstick: the device's measured copy bandwidth where the backend offers one (GPU), else this machine's
    // measured read bandwidth.
    double mem_gb_s = 0;
    std::string mem_what = "read";
    if (o.measure_memory) {
        mem_gb_s = engine.backend().measure_copy_bandwidth_gb_s();
        if (mem_gb_s > 0) {
            mem_what = "device copy";
        } else {
            mem_gb_s = measure_read_gb_s(resolve_threads(o.model.threads));
        }
    }
    // Prompt processing arithmetic: 2 FLOP per weight of every matrix, plus attention's QK^T and PV over the
    // causal prefix (on average half the prompt).
    const double matrix_params =
        static_cast<double>(c.num_layers) * (static_cast<double>(c.dim) * (c.q_dim() + c.kv_dim() + c.v_dim()) +
                                             static_cast<double>(c.num_heads * c.head_dim_v) * c.dim +
                                             3.0 * static_cast<double>(c.dim) * c.ffn_dim) +
        static_cast<double>(c.dim) * c.vocab_size;
    const double attention_flops = 2.0 * static_cast<double>(c.num_layers) * c.num_heads *
                                   (c.head_dim + c.head_dim_v) * (static_cast<double>(o.n_prompt) / 2.0);
    const double pp_tflops = (2.0 * matrix_params + attention_flops) * pps.median / 1e12;
    const double usd_per_mtok = o.price_per_hour > 0 && tgs.median > 0 ? o.price_per_hour / (tgs.median * 3600) * 1e6 : 0;

    nlohmann::json j = {
        {"model", o.model.model_path}, {"model_name", c.name}, {"arch", c.arch},
        {"backend", engine.backend().name()}, {"threads", resolve_threads(o.model.threads)},
        {"weight_bytes", engine.model().weight_bytes()},
        {"pp_tokens", o.n_prompt}, {"pp_tok_s", pps.median}, {"pp_tok_s_min", pps.min}, {"pp_tok_s_max", pps.max},
        {"tg_tokens", o.n_gen}, {"tg_tok_s", tgs.median}, {"tg_tok_s_min", tgs.min}, {"tg_tok_s_max", tgs.max},
        {"bytes_per_token", bytes_per_token}, {"gb_s", gb_s}, {"repetitions", o.repetitions},
        {"tg_depth", o.depth}, {"tg_steps", tg_steps}, {"pp_tflops", pp_tflops},
    };
    if (usd_per_mtok > 0) j["usd_per_mtok"] = usd_per_mtok;
    if (!parallel.empty()) {
        j["parallel"] = nlohmann::json::array();
        for (const ParallelResult& r : parallel) {
            j["parallel"].push_back({{"num_seqs", r.num_seqs}, {"tg_tok_s", r.tok_s}, {"step_ms", r.step_ms}});
        }
    }
    const double usd_per_mtok_pp =
        o.price_per_hour > 0 && pps.median > 0 ? o.price_per_hour / (pps.median * 3600) * 1e6 : 0;
    if (usd_per_mtok_pp > 0) j["usd_per_mtok_prompt"] = usd_per_mtok_pp;
    if (mem_gb_s > 0) {
        j["mem_read_gb_s"] = mem_gb_s;
        j["mem_yardstick"] = mem_what;
        j["bandwidth_fraction"] = gb_s / mem_gb_s;
    }
    if (o.json) {
        fmt::print("{}\n", j.dump());
        return 0;
    }
    fmt::print("| model | backend | threads | test | tok/s (median) | min | max |\n|---|---|---|---|---|---|---|\n");
    if (!pp.empty()) {
        fmt::print("| {} | {} | {} | pp{} | {:.1f} | {:.1f} | {:.1f} |\n", c.name, engine.backend().name(),
                   resolve_threads(o.model.threads), o.n_prompt, pps.median, pps.min, pps.max);
        fmt::print("\nprefill: {:.1f} TFLOP/s ({:.2f} GFLOP per token)", pp_tflops,
                   (2.0 * matrix_params + attention_flops) / 1e9);
        if (usd_per_mtok_pp > 0) {
            fmt::print(", ${:.4f} per 1M prompt tokens at ${:.2f}/hour", usd_per_mtok_pp, o.price_per_hour);
        }
        fmt::print("\n");
    }
    for (const ParallelResult& r : parallel) {
        fmt::print("| {} | {} | {} | tg{}{} x{} seqs | {:.1f} | {:.2f} ms/step | |\n", c.name, engine.backend().name(),
                   resolve_threads(o.model.threads), o.n_gen, depth_label, r.num_seqs, r.tok_s, r.step_ms);
    }
    if (!tg.empty()) {
        fmt::print("| {} | {} | {} | tg{}{} | {:.1f} | {:.1f} | {:.1f} |\n", c.name, engine.backend().name(),
                   resolve_threads(o.model.threads), o.n_gen, depth_label, tgs.median, tgs.min, tgs.max);
        fmt::print("\ndecode: {:.1f} MB read per token, {:.2f} GB/s effective", bytes_per_token / 1e6, gb_s);
        if (mem_gb_s > 0) {
            fmt::print(" ({:.0f}% of the {:.2f} GB/s measured {} bandwidth)", 100 * gb_s / mem_gb_s, mem_gb_s, mem_what);
        }
        if (usd_per_mtok > 0) fmt::print(", ${:.3f} per 1M generated tokens at ${:.2f}/hour", usd_per_mtok, o.price_per_hour);
        fmt::print("\n");
    }
    return 0;
}

}  // namespace

std::function<int()> add_bench_command(CLI::App& app) {
    auto o = std::make_shared<BenchOptions>();
    CLI::App* sub = app.add_subcommand("bench", "Measure prompt processing and generation speed");
    add_model_options(sub, o->model);
    sub->add_option("-p,--n-prompt", o->n_prompt, "Prompt tokens for the pp test (0: skip)");
    sub->add_option("-n,--n-gen", o->n_gen, "Generated tokens for the tg test (0: skip)");
    sub->add_option("-d,--n-depth", o->depth, "Tokens in the cache before the tg test (prefilled, not timed)")
        ->check(CLI::NonNegativeNumber);
    sub->add_option("-r,--repetitions", o->repetitions, "Repetitions of each test")->check(CLI::PositiveNumber);
    sub->add_flag("--json", o->json, "Print one JSON object instead of the table");
    sub->add_flag("!--no-memory-bandwidth", o->measure_memory, "Skip measuring the memory read bandwidth");
    sub->add_option("--price-per-hour", o->price_per_hour, "Machine price in $/hour, to report $ per 1M tokens");
    sub->add_option("--parallel", o->parallel,
                    "Also decode -n tokens with this many sequences at once (after -d tokens each), e.g. 16,64,256")
        ->delimiter(',')
        ->check(CLI::PositiveNumber);
    return [o] { return bench(*o); };
}

}  // namespace frugal::cli
