// frugal tokenize: text -> token ids (and pieces) with a model's tokenizer, to check a tokenization from the
// command line. -m takes a GGUF, a Hugging Face checkpoint folder or tokenizer folder (tokenizer.json), or a
// tokenizer.json file.
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "commands.h"
#include "engine/model_source.h"
#include "tokenizer/hf_tokenizer_json.h"
#include "tokenizer/tokenizer.h"

namespace frugal::cli {
namespace {

struct TokenizeOptions {
    std::string model_path;
    std::string text;
    std::string file;  // read the text from this file instead
    bool stats = false;
    bool ids_only = false;
    bool add_special = false;
    bool no_parse_special = false;
};

Result<std::unique_ptr<Tokenizer>> open_tokenizer(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const bool is_dir = fs::is_directory(path, ec);
    if ((is_dir && fs::exists(fs::path(path) / "tokenizer.json", ec)) ||
        fs::path(path).filename() == "tokenizer.json") {
        ASSIGN_OR_RETURN(Vocab vocab, vocab_from_hf_dir(is_dir ? path : fs::path(path).parent_path().string()));
        return Tokenizer::from_vocab(std::move(vocab));
    }
    ASSIGN_OR_RETURN(std::unique_ptr<ModelSource> source, ModelSource::open(path));
    if (!source->has_tokenizer()) return Status::errorf("'{}' carries no vocabulary", path);
    return Tokenizer::from_gguf(source->gguf());
}

int tokenize(const TokenizeOptions& o) {
    Result<std::unique_ptr<Tokenizer>> tok = open_tokenizer(o.model_path);
    if (!tok.ok()) {
        fmt::print(stderr, "error: {}\n", tok.status().message());
        return 1;
    }
    std::string text = o.text;
    if (!o.file.empty()) {
        std::ifstream in(o.file, std::ios::binary);
        if (!in) {
            fmt::print(stderr, "error: cannot read '{}'\n", o.file);
            return 1;
        }
        std::stringstream ss;
        ss << in.rdbuf();
        text = ss.str();
    }
    const auto start = std::chrono::steady_clock::now();
    const std::vector<int32_t> ids = (*tok)->encode(text, o.add_special, !o.no_parse_special);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (o.stats) {
        fmt::print(stderr, "frugal tokenize: {} bytes -> {} tokens in {:.3f} s ({:.2f} MB/s, one thread)\n", text.size(),
                   ids.size(), seconds, static_cast<double>(text.size()) / 1e6 / seconds);
    }
    if (o.ids_only) {
        std::string line;
        for (int32_t id : ids) line += (line.empty() ? "" : " ") + std::to_string(id);
        fmt::print("{}\n", line);
        return 0;
    }
    for (int32_t id : ids) {
        // Pieces may be partial UTF-8 (byte tokens); print them escaped so the table stays readable.
        std::string shown;
        for (unsigned char c : (*tok)->token_to_piece(id, true)) {
            if (c >= 0x20 && c != 0x7f && c != '\\') {
                shown.push_back(static_cast<char>(c));
            } else {
                shown += c == '\\' ? "\\\\" : fmt::format("\\x{:02x}", c);
            }
        }
        fmt::print("{:>8} '{}'\n", id, shown);
    }
    return 0;
}

}  // namespace

std::function<int()> add_tokenize_command(CLI::App& app) {
    auto o = std::make_shared<TokenizeOptions>();
    CLI::App* sub = app.add_subcommand("tokenize", "Print the token ids (and pieces) of a text");
    sub->add_option("-m,--model", o->model_path, "GGUF, Hugging Face folder or tokenizer.json")
        ->required()
        ->check(CLI::ExistingPath);
    sub->add_option("text", o->text, "Text to tokenize");
    sub->add_option("-f,--file", o->file, "Read the text from a file")->check(CLI::ExistingFile);
    sub->add_flag("--stats", o->stats, "Print the encode time and throughput to stderr");
    sub->add_flag("--ids", o->ids_only, "Print only the ids, space-separated, on one line");
    sub->add_flag("--add-special", o->add_special, "Add BOS/EOS as the tokenizer's settings ask");
    sub->add_flag("--no-parse-special", o->no_parse_special, "Treat special-token texts as plain text");
    return [o] { return tokenize(*o); };
}

}  // namespace frugal::cli
