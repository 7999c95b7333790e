// Options and set-up shared by the frugal subcommands.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <memory>
#include <string>

#include "core/status.h"
#include "engine/engine.h"
#include "engine/model_source.h"
#include "tokenizer/chat_template.h"

namespace frugal::cli {

struct ModelOptions {
    std::string model_path;
    std::string tokenizer_path;  // llama2.c tokenizer.bin, for llama2.c checkpoints
    int threads = 0;             // 0: all hardware threads
    int64_t context = 4096;
    int64_t batch_size = 512;
    std::string cache_type_k = "f16";
    std::string cache_type_v = "f16";
    std::string isa = "auto";  // auto | scalar | avx2 | avx512
    std::string device = "cpu";  // cpu | cuda | cuda:N
    int gpu_layers = 0;          // -ngl: any value > 0 puts the whole model on the GPU (no partial offload yet)
    // Serving: set by `frugal serve` (the other commands run one sequence at a time).
    int64_t kv_cache_bytes = 0;  // 0: one context's worth
    int64_t kv_cache_tokens = 0;  // or a number of token slots (kv_cache_bytes wins when both are set)
    int max_num_seqs = 256;
    bool enable_prefix_caching = true;  // bench turns it off: its repeated prompts must be computed every time
};

void add_model_options(CLI::App* app, ModelOptions& o);

struct LoadedEngine {
    std::unique_ptr<ModelSource> source;
    std::unique_ptr<Engine> engine;
    double load_seconds = 0;
};

Result<LoadedEngine> load_engine(const ModelOptions& o);
int resolve_threads(int threads);

 // The chat template at template_path (a .jinja file), or else the model's own; BOS/EOS texts come from the
// model's vocabulary either way. `flag` names the option in the error when the model has none.
Result<ChatTemplate> open_chat_template(const std::string& template_path, const ModelSource& source,
                                        const std::string& flag);
Result<std::string> read_text_file(const std::string& path);

// Writes an output file so that it appears only when complete: `write` writes path + ".partial-PID", which is then
// renamed over path (so a failed or interrupted write leaves an older file at path as it was, and a model written
// over the file it was read from keeps its mapped bytes until the rename). SIGINT and SIGTERM remove the partial
// file during the write.
Status write_atomically(const std::string& path, const std::function<Status(const std::string&)>& write);

// Parses "1,2,3" (spaces allowed) into ids.
Result<std::vector<int32_t>> parse_id_list(const std::string& text);

int run_command(const std::vector<std::string>& args);

}  // namespace frugal::cli
