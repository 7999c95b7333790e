// frugal perplexity: perplexity of a text, and against a base model the KL divergence of the next-token
// distributions and the top-1 agreement, computed the way llama.cpp's perplexity tool does so the numbers compare:
// the text is cut into chunks of -c tokens, each starts with BOS (when the model adds one), and only the second
// half of each chunk is scored (every scored token sees at least c/2 tokens of context).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "commands.h"
#include "sampling/log_probs.h"
#include "tokenizer/tokenizer.h"

namespace frugal::cli {
namespace {

struct PerplexityOptions {
    ModelOptions model;
    std::string file;
    std::string kl_base;
    int64_t chunks = -1;
    bool json = false;
};

struct MeanStd {
    double sum = 0, sum_sq = 0;
    int64_t n = 0;
    void add(double x) {
        sum += x;
        sum_sq += x * x;
        ++n;
    }
    double mean() const { return n ? sum / static_cast<double>(n) : 0; }
    // Standard error of the mean.
    double stderr_mean() const {
        if (n < 2) return 0;
        const double m = mean();
        const double var = (sum_sq / static_cast<double>(n) - m * m) * static_cast<double>(n) / static_cast<double>(n - 1);
        return std::sqrt(std::max(var, 0.0) / static_cast<double>(n));
    }
};

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    const double pos = p * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<size_t>(pos);
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}

Status perplexity(const PerplexityOptions& o) {
    std::ifstream in(o.file, std::ios::binary);
    if (!in) return Status::errorf("cannot read '{}'", o.file);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

    ASSIGN_OR_RETURN(LoadedEngine loaded, load_engine(o.model));
    Engine& engine = *loaded.engine;
    const Tokenizer* tok = engine.tokenizer();
    if (tok == nullptr) return Status::error("the model has no tokenizer");
    const int64_t n_ctx = engine.context_length();
    if (n_ctx < 4) return Status::errorf("context of {} tokens is too small", n_ctx);
    std::unique_ptr<LoadedEngine> base;
    if (!o.kl_base.empty()) {
        ModelOptions bo = o.model;
        bo.model_path = o.kl_base;
        ASSIGN_OR_RETURN(LoadedEngine b, load_engine(bo));
        base = std::make_unique<LoadedEngine>(std::move(b));
        if (base->engine->config().vocab_size != engine.config().vocab_size) {
            return Status::errorf("--kl-base has {} tokens in its vocabulary, the model {}",
                                  base->engine->config().vocab_size, engine.config().vocab_size);
        }
        if (base->engine->context_length() < n_ctx) {
            return Status::errorf("--kl-base's context ({}) is shorter than {}", base->engine->context_length(), n_ctx);
        }
    }
    const bool add_bos = tok->vocab().add_bos && tok->vocab().bos_id >= 0;
    std::vector<int32_t> tokens = tok->encode(text, add_bos, /*parse_special=*/false);
    int64_t num_chunks = static_cast<int64_t>(tokens.size()) / n_ctx;
    if (o.chunks > 0) num_chunks = std::min(num_chunks, o.chunks);
    if (num_chunks == 0) {
        return Status::errorf("'{}' has {} tokens, fewer than one chunk of {} (-c)", o.file, tokens.size(), n_ctx);
    }
    const int64_t vocab = engine.config().vocab_size;
    const int64_t first = n_ctx / 2;
    fmt::print(stderr, "frugal perplexity: {} tokens, {} chunks of {}, scoring the last {} of each{}\n",
               tokens.size(), num_chunks, n_ctx, n_ctx - 1 - first, base ? ", KL against the base model" : "");

    MeanStd nll, base_nll, kl;
    std::vector<double> kls;
    int64_t same_top1 = 0;
    std::vector<double> lp, base_lp;
    for (int64_t c = 0; c < num_chunks; ++c) {
        std::vector<int32_t> chunk(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx);
        if (add_bos) chunk[0] = tok->vocab().bos_id;
        ASSIGN_OR_RETURN(std::vector<float> logits, engine.evaluate(chunk));
        std::vector<float> base_logits;
        if (base) {
            ASSIGN_OR_RETURN(base_logits, base->engine->evaluate(chunk));
        }
        for (int64_t j = first; j < n_ctx - 1; ++j) {
            const float* row = logits.data() + j * vocab;
            log_softmax(row, vocab, lp);
            const int32_t next = chunk[static_cast<size_t>(j + 1)];
            nll.add(-lp[static_cast<size_t>(next)]);
            if (!base) continue;
            const float* brow = base_logits.data() + j * vocab;
            log_softmax(brow, vocab, base_lp);
            base_nll.add(-base_lp[static_cast<size_t>(next)]);
            const double d = kl_divergence(base_lp, lp);
            kl.add(d);
            kls.push_back(d);
            same_top1 += std::max_element(row, row + vocab) - row == std::max_element(brow, brow + vocab) - brow;
        }
        fmt::print(stderr, "[{}/{}] ppl {:.4f}{}\n", c + 1, num_chunks, std::exp(nll.mean()),
                   base ? fmt::format("  mean KL {:.6f}", kl.mean()) : "");
    }

    const double ppl = std::exp(nll.mean());
    nlohmann::ordered_json j = {{"model", o.model.model_path},
                                {"file", o.file},
                                {"n_ctx", n_ctx},
                                {"chunks", num_chunks},
                                {"tokens_scored", nll.n},
                                {"nll_mean", nll.mean()},
                                {"ppl", ppl},
                                {"ppl_stderr", ppl * nll.stderr_mean()}};
    if (base) {
        j["kl_base"] = o.kl_base;
        j["base_ppl"] = std::exp(base_nll.mean());
        j["kl_mean"] = kl.mean();
        j["kl_stderr"] = kl.stderr_mean();
        j["kl_median"] = percentile(kls, 0.5);
        j["kl_p99"] = percentile(kls, 0.99);
        j["kl_max"] = kls.empty() ? 0.0 : *std::max_element(kls.begin(), kls.end());
        j["top1_agreement"] = static_cast<double>(same_top1) / static_cast<double>(std::max<int64_t>(kl.n, 1));
    }
    if (o.json) {
        fmt::print("{}\n", j.dump(1));
        return ok_status();
    }
    fmt::print("| measure | value |\n|---|---:|\n");
    fmt::print("| tokens scored | {} ({} chunks of {}) |\n", nll.n, num_chunks, n_ctx);
    fmt::print("| perplexity | {:.4f} ± {:.4f} |\n", ppl, ppl * nll.stderr_mean());
    if (base) {
        fmt::print("| base perplexity | {:.4f} |\n", j["base_ppl"].get<double>());
        fmt::print("| mean KL divergence | {:.6f} ± {:.6f} |\n", kl.mean(), kl.stderr_mean());
        fmt::print("| median KL divergence | {:.6f} |\n", j["kl_median"].get<double>());
        fmt::print("| 99th percentile KL divergence | {:.6f} |\n", j["kl_p99"].get<double>());
        fmt::print("| max KL divergence | {:.6f} |\n", j["kl_max"].get<double>());
        fmt::print("| top-1 agreement | {:.2f} % |\n", 100.0 * j["top1_agreement"].get<double>());
    }
    return ok_status();
}

}  // namespace

std::function<int()> add_perplexity_command(CLI::App& app) {
    auto o = std::make_shared<PerplexityOptions>();
    o->model.context = 512;
    CLI::App* sub = app.add_subcommand(
        "perplexity", "Perplexity of a text; with --kl-base, KL divergence and top-1 agreement against a base model");
    add_model_options(sub, o->model);
    sub->add_option("-f,--file", o->file, "Text to score")->required()->check(CLI::ExistingFile);
    sub->add_option("--kl-base", o->kl_base, "Base model (e.g. the 16-bit original) to compare distributions with")
        ->check(CLI::ExistingPath);
    sub->add_option("--chunks", o->chunks, "Score at most this many chunks of -c tokens");
    sub->add_flag("--json", o->json, "Print the results as JSON");
    return [o] {
        const Status st = perplexity(*o);
        if (!st.ok()) {
            fmt::print(stderr, "error: {}\n", st.message());
            return 1;
        }
        return 0;
    };
}

}  // namespace frugal::cli
