// The frugal subcommands. Each adds its options to a CLI11 subcommand and returns the process exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace frugal::cli {

// Registers the subcommand; the returned function runs it after parsing.
std::function<int()> add_run_command(CLI::App& app);
std::function<int()> add_bench_command(CLI::App& app);
std::function<int()> add_convert_command(CLI::App& app);
std::function<int()> add_synth_command(CLI::App& app);
std::function<int()> add_tokenize_command(CLI::App& app);
std::function<int()> add_render_chat_command(CLI::App& app);
std::function<int()> add_perplexity_command(CLI::App& app);
std::function<int()> add_calibrate_command(CLI::App& app);
std::function<int()> add_quantize_command(CLI::App& app);
std::function<int()> add_eval_command(CLI::App& app);
std::function<int()> add_quant_report_command(CLI::App& app);
std::function<int()> add_bench_serve_command(CLI::App& app);
std::function<int()> add_serve_command(CLI::App& app);

}  // namespace frugal::cli
