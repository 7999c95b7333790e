// frugal run: generate text from a prompt, streamed to stdout as it is produced.
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <random>

#include "cli_common.h"
#include "commands.h"
#include "core/logging.h"
#include "tokenizer/chat_template.h"
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
    // Chat: the prompt (or stdin, turn by turn) goes through the model's chat template.
    bool chat = false;
    std::string system;
    std::string messages_path;
    std::string chat_template_path;
    std::vector<std::string> chat_vars;  // NAME=JSON
};

struct Generation {
    std::vector<int32_t> ids;
    std::string text;
    FinishReason reason = FinishReason::kNone;
};

// Runs one request to completion, streaming its text to stdout (after echo, when given).
Result<Generation> generate(Engine& engine, Request request, const std::string* echo, bool print_text) {
    RETURN_IF_ERROR(engine.add_request(request));
    const Tokenizer* tok = engine.tokenizer();
    std::unique_ptr<StreamingDetokenizer> detok;
    if (tok != nullptr && print_text) {
        detok = std::make_unique<StreamingDetokenizer>(*tok);
        if (echo != nullptr) {
            fmt::print("{}", *echo);
            // The prompt still goes through the detokenizer, so the continuation reads as text that follows it
            // (a SentencePiece word's leading space is kept, not stripped as at the start of a text).
            for (int32_t id : request.prompt_ids) detok->push(id);
        } else {
            // Echo the prompt ids' text, as llama.cpp does, so stdout always holds prompt then continuation.
            std::string prompt_text;
            for (int32_t id : request.prompt_ids) prompt_text += detok->push(id);
            fmt::print("{}", prompt_text);
        }
        std::fflush(stdout);
    }
    Generation g;
    while (engine.has_unfinished()) {
        ASSIGN_OR_RETURN(std::vector<RequestOutput> outputs, engine.step());
        for (const RequestOutput& out : outputs) {
            g.reason = out.finish_reason;
            if (out.token_id < 0) continue;
            g.ids.push_back(out.token_id);
            if (detok != nullptr && g.reason != FinishReason::kStop) {
                const std::string piece = detok->push(out.token_id);
                g.text += piece;
                fmt::print("{}", piece);
                std::fflush(stdout);
            }
        }
    }
    if (detok != nullptr) {
        const std::string rest = detok->flush();
        g.text += rest;
        fmt::print("{}\n", rest);
    }
    return g;
}


Status apply_chat_vars(const std::vector<std::string>& vars, ChatTemplateInput& input) {
    for (const std::string& var : vars) {
        const size_t eq = var.find('=');
        if (eq == std::string::npos || eq == 0) return Status::errorf("--chat-var '{}': expected NAME=JSON", var);
        nlohmann::ordered_json value = nlohmann::ordered_json::parse(var.substr(eq + 1), nullptr, false);
        if (value.is_discarded()) value = var.substr(eq + 1);
        input.extra[var.substr(0, eq)] = value;
    }
    return ok_status();
}

void print_stats(const LoadedEngine& loaded, FinishReason reason) {
    const EngineStats& st = loaded.engine->stats();
    fmt::print(stderr, "\nfrugal: load {:.2f} s | prompt {} tokens, {:.2f} ms, {:.1f} tokens/s | generation {} tokens, "
               "{:.2f} ms, {:.1f} tokens/s | stop: {}\n",
               loaded.load_seconds, st.prompt_tokens, st.prompt_seconds * 1e3,
               st.prompt_seconds > 0 ? st.prompt_tokens / st.prompt_seconds : 0.0, st.generated_tokens,
               st.decode_seconds * 1e3, st.decode_seconds > 0 ? st.generated_tokens / st.decode_seconds : 0.0,
               reason == FinishReason::kStop ? "end of generation" : "length");
}

Request make_request(const RunOptions& o, std::vector<int32_t> prompt_ids, uint64_t request_id) {
    Request request;
    request.request_id = request_id;
    request.prompt_ids = std::move(prompt_ids);
    request.max_new_tokens = o.n_predict;
    request.sampling = o.sampling;
    request.sampling.seed = o.seed >= 0 ? static_cast<uint64_t>(o.seed) : std::random_device{}();
    request.ignore_eos = o.ignore_eos;
    return request;
}

// --chat: one reply to --messages or to the prompt as a user turn; without either, a conversation on stdin (one
// user turn per line; the whole conversation is re-rendered through the template each turn).
int run_chat(const RunOptions& o, LoadedEngine& loaded) {
    Engine& engine = *loaded.engine;
    const Tokenizer* tok = engine.tokenizer();
    if (tok == nullptr) {
        fmt::print(stderr, "error: --chat needs a model with a tokenizer\n");
        return 1;
    }
    Result<ChatTemplate> tmpl = open_chat_template(o.chat_template_path, *loaded.source, "--chat");
    if (!tmpl.ok()) {
        fmt::print(stderr, "error: {}\n", tmpl.status().message());
        return 1;
    }
    ChatTemplateInput input;
    if (!o.messages_path.empty()) {
        Result<std::string> text = read_text_file(o.messages_path);
        Result<ChatTemplateInput> parsed = text.ok() ? ChatTemplateInput::from_json(text.value())
                                                     : Result<ChatTemplateInput>(text.status());
        if (!parsed.ok()) {
            fmt::print(stderr, "error: {}: {}\n", o.messages_path, parsed.status().message());
            return 1;
        }
        input = std::move(parsed.value());
    }
    if (Status s = apply_chat_vars(o.chat_vars, input); !s.ok()) {
        fmt::print(stderr, "error: {}\n", s.message());
        return 1;
    }
    input.add_generation_prompt = true;
    if (!o.system.empty()) {
        input.messages.insert(input.messages.begin(), nlohmann::ordered_json{{"role", "system"}, {"content", o.system}});
    }
    const bool interactive = o.messages_path.empty() && o.prompt.empty();
    FinishReason reason = FinishReason::kNone;
    for (uint64_t turn = 1;; ++turn) {
        if (interactive) {
            fmt::print(stderr, "\n> ");
            std::string line;
            if (!std::getline(std::cin, line)) break;
            if (line.empty()) continue;
            input.messages.push_back({{"role", "user"}, {"content", line}});
        } else if (!o.prompt.empty()) {
            input.messages.push_back({{"role", "user"}, {"content", o.prompt}});
        }
        Result<std::string> prompt = tmpl->render(input);
        if (!prompt.ok()) {
            fmt::print(stderr, "error: {}\n", prompt.status().message());
            return 1;
        }
        // The template writes BOS itself where the model wants it (transformers tokenizes it with
        // add_special_tokens=False); special-token texts in it are tokens.
        std::vector<int32_t> ids = tok->encode(prompt.value(), /*add_bos=*/false, /*parse_special=*/true);
        const std::string empty;
        Result<Generation> g = generate(engine, make_request(o, std::move(ids), turn), &empty, !o.print_ids);
        if (!g.ok()) {
            fmt::print(stderr, "\nerror: {}\n", g.status().message());
            return 1;
        }
        reason = g->reason;
        if (o.print_ids) {
            std::string line;
            for (size_t i = 0; i < g->ids.size(); ++i) line += (i ? " " : "") + std::to_string(g->ids[i]);
            fmt::print("{}\n", line);
        }
        if (!interactive) break;
        input.messages.push_back({{"role", "assistant"}, {"content", g->text}});
    }
    print_stats(loaded, reason);
    return 0;
}

int run(RunOptions o) {
    if (!o.prompt_file.empty()) {
        Result<std::string> text = read_text_file(o.prompt_file);
        if (!text.ok()) {
            fmt::print(stderr, "error: cannot read prompt file '{}'\n", o.prompt_file);
            return 1;
        }
        o.prompt = std::move(text.value());
    }
    Result<LoadedEngine> loaded = load_engine(o.model);
    if (!loaded.ok()) {
        fmt::print(stderr, "error: {}\n", loaded.status().message());
        return 1;
    }
    Engine& engine = *loaded->engine;
    const ModelConfig& c = engine.config();
    fmt::print(stderr, "frugal: loaded {} ({}, {} layers, {:.1f} MiB of weights) in {:.2f} s on {} ({} threads)\n",
               c.name, c.arch, c.num_layers, engine.model().weight_bytes() / 1048576.0, loaded->load_seconds,
               engine.backend().name(), resolve_threads(o.model.threads));
    if (o.chat) return run_chat(o, loaded.value());

    const Tokenizer* tok = engine.tokenizer();
    std::vector<int32_t> prompt_ids;
    if (!o.prompt_ids.empty()) {
        Result<std::vector<int32_t>> ids = parse_id_list(o.prompt_ids);
        if (!ids.ok()) {
            fmt::print(stderr, "error: {}\n", ids.status().message());
            return 1;
        }
        prompt_ids = ids.value();
    } else {
        if (tok == nullptr) {
            fmt::print(stderr, "error: the model has no tokenizer; pass --tokenizer or use --prompt-ids\n");
            return 1;
        }
        prompt_ids = tok->encode(o.prompt, /*add_bos=*/true, /*parse_special=*/!o.no_special);
    }
    const bool echo_text = !o.prompt.empty() && o.prompt_ids.empty();
    Result<Generation> g = generate(engine, make_request(o, std::move(prompt_ids), 1), echo_text ? &o.prompt : nullptr,
                                    !o.print_ids);
    if (!g.ok()) {
        fmt::print(stderr, "\nerror: {}\n", g.status().message());
        return 1;
    }
    if (o.print_ids) {
        std::string line;
        for (size_t i = 0; i < g->ids.size(); ++i) line += (i ? " " : "") + std::to_string(g->ids[i]);
        fmt::print("{}\n", line);
    }
    print_stats(loaded.value(), g->reason);
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
    sub->add_flag("--chat", o->chat,
                  "Chat through the model's template: the prompt is a user turn; without -p/-f/--messages, read "
                  "user turns from stdin");
    sub->add_option("--system", o->system, "With --chat: a system message");
    sub->add_option("--messages", o->messages_path, "With --chat: a conversation (JSON) to answer")
        ->check(CLI::ExistingFile);
    sub->add_option("--chat-template", o->chat_template_path, "With --chat: use this .jinja instead of the model's")
        ->check(CLI::ExistingFile);
    sub->add_option("--chat-var", o->chat_vars, "With --chat: template variable NAME=JSON (e.g. enable_thinking=false)");
    sub->get_option("--prompt")->excludes("--prompt-ids")->excludes("--file");
    sub->get_option("--chat")->excludes("--prompt-ids");
    sub->get_option("--file")->excludes("--prompt-ids");
    return [o] { return run(*o); };
}

}  // namespace frugal::cli
