// frugal convert: write a Hugging Face checkpoint folder, or a llama2.c checkpoint (and its tokenizer), as a GGUF
// file with llama.cpp's tensor names and metadata, which frugal and llama.cpp load. The file appears only when
// complete (write_atomically).
#include <fmt/format.h>

#include "cli_common.h"
#include "commands.h"
#include "engine/model_source.h"

namespace frugal::cli {
namespace {

struct ConvertOptions {
    std::string model_path;
    std::string tokenizer_path;
    std::string output_path;
};

int convert(const ConvertOptions& o) {
    Result<GgufWriter> writer = ModelSource::to_gguf(o.model_path, o.tokenizer_path);
    if (!writer.ok()) {
        fmt::print(stderr, "error: {}\n", writer.status().message());
        return 1;
    }
    const Status s = write_atomically(o.output_path, [&](const std::string& path) { return writer->write(path); });
    if (!s.ok()) {
        fmt::print(stderr, "error: {}\n", s.message());
        return 1;
    }
    fmt::print(stderr, "frugal: wrote {}\n", o.output_path);
    return 0;
}

}  // namespace

std::function<int()> add_convert_command(CLI::App& app) {
    auto o = std::make_shared<ConvertOptions>();
    CLI::App* sub = app.add_subcommand("convert", "Convert a Hugging Face or llama2.c checkpoint to GGUF");
    sub->add_option("-m,--model", o->model_path,
                    "Hugging Face checkpoint folder (config.json + safetensors) or llama2.c checkpoint (.bin)")
        ->required()
        ->check(CLI::ExistingPath);
    sub->add_option("--tokenizer", o->tokenizer_path, "llama2.c tokenizer.bin (vocabulary to embed)")
        ->check(CLI::ExistingFile);
    sub->add_option("-o,--output", o->output_path, "Output GGUF path")->required();
    return [o] { return convert(*o); };
}

}  // namespace frugal::cli
