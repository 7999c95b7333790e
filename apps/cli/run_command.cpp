// frugal run: generate text from a prompt, streamed to stdout as it is produced.
#include <fmt/format.h>

#include <fstream>
#include <iterator>
#include <memory>
#include <random>

#include "cli_common.h"
#include "commands.h"
#include "core/logging.h"
#include "tokenizer/tokenizer.h"

namespace frugal::cli {
namespace {

struct RunOptions {
    ModelOptions model;
    std::string prompt;
    std::string prompt_ids;
    std::string prompt_file;
    int64_t n_predict = -1;
    SamplingParams sampling;
    int64_t seed = -1;
    bool print_ids = false;
    bool ignore_eos = false;
    bool no_special = false;
};

int run(RunOptions o) {
    if (!o.prompt_file.empty()) {
        std::ifstream in(o.prompt_file, std::ios::binary);
        if (!in) {
            fmt::print(stderr, "error: cannot read prompt file '{}'\n", o.prompt_file);
            return 1;
        }
        o.prompt.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    Result<LoadedEngine> loaded = load_engine(o.model);
    if (!loaded.ok()) {
        fmt::print(stderr, "error: {}\n", loaded.status().message());
        return 1;
    }
    Engine& engine = *loaded->engine;
    const Tokenizer* tok = engine.tokenizer();
    Request request;
    request.request_id = 1;
    if (!o.prompt_ids.empty()) {
        Result<std::vector<int32_t>> ids = parse_id_list(o.prompt_ids);
        if (!ids.ok()) {
            fmt::print(stderr, "error: {}\n", ids.status().message());
            return 1;
        }
        request.prompt_ids = ids.value();
    } else {
        if (tok == nullptr) {
            fmt::print(stderr, "error: the model has no tokenizer; pass --tokenizer or use --prompt-ids\n");
            return 1;
        }
        request.prompt_ids = tok->encode(o.prompt, /*add_bos=*/true, /*parse_special=*/!o.no_special);
    }
    request.max_new_tokens = o.n_predict;
    request.sampling = o.sampling;
    request.sampling.seed = o.seed >= 0 ? static_cast<uint64_t>(o.seed) : std::random_device{}();
    request.ignore_eos = o.ignore_eos;

    const ModelConfig& c = engine.config();
    fmt::print(stderr, "frugal: loaded {} ({}, {} layers, {:.1f} MiB of weights) in {:.2f} s on {} ({} threads)\n",
               c.name, c.arch, c.num_layers, engine.model().weight_bytes() / 1048576.0, loaded->load_seconds,
               engine.backend().name(), resolve_threads(o.model.threads));
    if (Status s = engine.add_request(request); !s.ok()) {
        fmt::print(stderr, "error: {}\n", s.message());
        return 1;
    }

    std::unique_ptr<StreamingDetokenizer> detok;
    if (tok != nullptr && !o.print_ids) {
        detok = std::make_unique<StreamingDetokenizer>(*tok);
        if (!o.prompt.empty() && o.prompt_ids.empty()) {
            fmt::print("{}", o.prompt);
        } else {
            // Echo the prompt ids' text, as llama.cpp does, so stdout always holds prompt then continuation.
            std::string prompt_text;
            for (int32_t id : request.prompt_ids) prompt_text += detok->push(id);
            fmt::print("{}", prompt_text);
        }
        std::fflush(stdout);
    }
    std::vector<int32_t> generated;
    FinishReason reason = FinishReason::kNone;
    while (engine.has_unfinished()) {
        Result<std::vector<RequestOutput>> outputs = engine.step();
        if (!outputs.ok()) {
            fmt::print(stderr, "\nerror: {}\n", outputs.status().message());
            return 1;
        }
        for (const RequestOutput& out : outputs.value()) {
            reason = out.finish_reason;
            if (out.token_id < 0) continue;
            generated.push_back(out.token_id);
            if (detok != nullptr && !(reason == FinishReason::kStop)) {
                fmt::print("{}", detok->push(out.token_id));
                std::fflush(stdout);
            }
        }
    }
    if (detok != nullptr) fmt::print("{}\n", detok->flush());
    if (o.print_ids) {
        std::string line;
        for (size_t i = 0; i < generated.size(); ++i) line += (i ? " " : "") + std::to_string(generated[i]);
        fmt::print("{}\n", line);
    }
    const EngineStats& st = engine.stats();
    fmt::print(stderr, "\nfrugal: load {:.2f} s | prompt {} tokens, {:.2f} ms, {:.1f} tokens/s | generation {} tokens, "
               "{:.2f} ms, {:.1f} tokens/s | stop: {}\n",
               loaded->load_seconds, st.prompt_tokens, st.prompt_seconds * 1e3,
               st.prompt_seconds > 0 ? st.prompt_tokens / st.prompt_seconds : 0.0, st.generated_tokens,
               st.decode_seconds * 1e3, st.decode_seconds > 0 ? st.generated_tokens / st.decode_seconds : 0.0,
               reason == FinishReason::kStop ? "end of generation" : "length");
    return 0;
}

}  // namespace

std::function<int()> add_run_command(CLI::App& app) {
    auto o = std::make_shared<RunOptions>();
    CLI::App* sub = app.add_subcommand("run", "Generate text from a prompt");
    add_model_options(sub, o->model);
    sub->add_option("-p,--prompt", o->prompt, "Prompt text");
    sub->add_option("-f,--file", o->prompt_file, "Read the prompt from a file");
    sub->add_option("--prompt-ids", o->prompt_ids, "Prompt as comma-separated token ids (no tokenizer needed)");
    sub->add_option("-n,--n-predict", o->n_predict, "Tokens to generate (-1: until end of generation or context)");
    sub->add_option("--temp", o->sampling.temperature, "Temperature (0: greedy)");
    sub->add_option("--top-k", o->sampling.top_k, "Top-k (0: off)");
    sub->add_option("--top-p", o->sampling.top_p, "Top-p (1: off)");
    sub->add_option("--min-p", o->sampling.min_p, "Min-p (0: off)");
    sub->add_option("--repeat-penalty", o->sampling.repeat_penalty, "Repetition penalty (1: off)");
    sub->add_option("--repeat-last-n", o->sampling.repeat_last_n, "History the penalties look at (-1: all)");
    sub->add_option("--presence-penalty", o->sampling.presence_penalty, "Presence penalty (0: off)");
    sub->add_option("--frequency-penalty", o->sampling.frequency_penalty, "Frequency penalty (0: off)");
    sub->add_option("-s,--seed", o->seed, "Random seed (-1: random)");
    sub->add_flag("--print-ids", o->print_ids, "Print generated token ids (space-separated) instead of text");
    sub->add_flag("--ignore-eos", o->ignore_eos, "Keep generating past end-of-generation tokens");
    sub->add_flag("--no-special", o->no_special, "Treat special-token text in the prompt as plain text");
    sub->get_option("--prompt")->excludes("--prompt-ids")->excludes("--file");
    sub->get_option("--file")->excludes("--prompt-ids");
    return [o] { return run(*o); };
}

}  // namespace frugal::cli
