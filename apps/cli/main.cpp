// frugal: run, benchmark, convert and synthesize LLMs. Text goes to stdout; progress and statistics to stderr.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <utility>
#include <vector>

#include "commands.h"

namespace {

// llama.cpp spells some long options with one dash (-ctk); CLI11 does not, so they are rewritten here.
std::vector<std::string> normalize_args(int argc, char** argv) {
    static const std::pair<const char*, const char*> kAliases[] = {
        {"-ctk", "--cache-type-k"},
        {"-ctv", "--cache-type-v"},
        {"-ngl", "--n-gpu-layers"},
    };
    std::vector<std::string> args;
    for (int i = argc - 1; i >= 1; --i) {  // CLI11 takes arguments in reverse order
        std::string a = argv[i];
        for (const auto& [from, to] : kAliases) {
            if (a == from) a = to;
        }
        args.push_back(a);
    }
    return args;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"frugal: cheap, fast LLM inference"};
    app.require_subcommand(1);
    std::vector<std::pair<CLI::App*, std::function<int()>>> commands;
    auto add = [&](std::function<int()> (*adder)(CLI::App&)) {
        const size_t before = app.get_subcommands({}).size();
        std::function<int()> fn = adder(app);
        commands.emplace_back(app.get_subcommands({})[before], std::move(fn));
    };
    add(&frugal::cli::add_run_command);
    add(&frugal::cli::add_bench_command);
    add(&frugal::cli::add_convert_command);
    add(&frugal::cli::add_synth_command);
    add(&frugal::cli::add_tokenize_command);
    add(&frugal::cli::add_render_chat_command);
    add(&frugal::cli::add_perplexity_command);
    add(&frugal::cli::add_calibrate_command);
    add(&frugal::cli::add_quantize_command);
    add(&frugal::cli::add_eval_command);
    add(&frugal::cli::add_quant_report_command);
    add(&frugal::cli::add_serve_command);
    add(&frugal::cli::add_bench_serve_command);
    try {
        std::vector<std::string> args = normalize_args(argc, argv);
        app.parse(args);
    } catch (const CLI::ParseError& e) {
        return app.exit(e);
    }
    for (auto& [sub, fn] : commands) {
        if (sub->parsed()) return fn();
    }
    return 1;
}
