// Options and set-up shared by the frugal subcommands.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "core/status.h"
#include "engine/engine.h"
#include "engine/model_source.h"

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
};

void add_model_options(CLI::App* app, ModelOptions& o);

struct LoadedEngine {
    std::unique_ptr<ModelSource> source;
    std::unique_ptr<Engine> engine;
    double load_seconds = 0;
};

Result<LoadedEngine> load_engine(const ModelOptions& o);
int resolve_threads(int threads);

// Parses "1,2,3" (spaces allowed) into ids.
Result<std::vector<int32_t>> parse_id_list(const std::string& text);

int run_command(const std::vector<std::string>& args);

}  // namespace frugal::cli
