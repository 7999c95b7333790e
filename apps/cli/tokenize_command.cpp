// frugal tokenize: text -> token ids (and pieces) with a model's tokenizer, to check a tokenization from the
// command line. -m takes a GGUF, a Hugging Face checkpoint folder or tokenizer folder (tokenizer.json), a
// tokenizer.json file or a tiktoken rank file (*.tiktoken). --jsonl encodes many strings in one process (one JSON
// string per input line -> one JSON array of ids per output line), for parity tests against other tokenizers.
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "engine/model_source.h"
#include "tokenizer/hf_tokenizer_json.h"
#include "tokenizer/tiktoken_vocab.h"
#include "tokenizer/tokenizer.h"

namespace frugal::cli {
namespace {

struct TokenizeOptions {
    std::string model_path;
    std::string text;
    std::string file;   // read the text from this file instead
    std::string jsonl;  // encode each JSON string of this file ("-": stdin)
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
    if (fs::path(path).extension() == ".tiktoken") {
        ASSIGN_OR_RETURN(Vocab vocab, load_tiktoken_vocab(path));
        return Tokenizer::from_vocab(std::move(vocab));
    }
    ASSIGN_OR_RETURN(std::unique_ptr<ModelSource> source, ModelSource::open(path));
    if (!source->has_tokenizer()) return Status::errorf("'{}' carries no vocabulary", path);
    return Tokenizer::from_gguf(source->gguf());
}

// One JSON string per line in, one JSON array of ids per line out (blank lines are skipped).
int tokenize_jsonl(const Tokenizer& tok, const TokenizeOptions& o) {
    std::ifstream file;
    if (o.jsonl != "-") {
        file.open(o.jsonl, std::ios::binary);
        if (!file) {
            fmt::print(stderr, "error: cannot read '{}'\n", o.jsonl);
            return 1;
        }
    }
    std::istream& in = o.jsonl == "-" ? std::cin : file;
    std::string line;
    std::string out;
    for (size_t line_no = 1; std::getline(in, line); ++line_no) {
        if (line.empty()) continue;
        const nlohmann::json v = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
        if (v.is_discarded() || !v.is_string()) {
            fmt::print(stderr, "error: {}:{}: not a JSON string\n", o.jsonl, line_no);
            return 1;
        }
        out.clear();
        out.push_back('[');
        for (int32_t id : tok.encode(v.get<std::string>(), o.add_special, !o.no_parse_special)) {
            if (out.size() > 1) out.push_back(',');
            out += std::to_string(id);
        }
        out += "]\n";
        std::fwrite(out.data(), 1, out.size(), stdout);
    }
    return 0;
}

int tokenize(const TokenizeOptions& o) {
    Result<std::unique_ptr<Tokenizer>> tok = open_tokenizer(o.model_path);
    if (!tok.ok()) {
        fmt::print(stderr, "error: {}\n", tok.status().message());
        return 1;
    }
    if (!o.jsonl.empty()) return tokenize_jsonl(**tok, o);
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
        fmt::print(stderr, "frugal tokenize: {} bytes -> {} tokens in {:.3f} s ({:.2f} MB/s, one thread)\n",
                   text.size(), ids.size(), seconds, static_cast<double>(text.size()) / 1e6 / seconds);
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
    sub->add_option("-m,--model", o->model_path, "GGUF, Hugging Face folder, tokenizer.json or *.tiktoken")
        ->required()
        ->check(CLI::ExistingPath);
    sub->add_option("text", o->text, "Text to tokenize");
    sub->add_option("-f,--file", o->file, "Read the text from a file")->check(CLI::ExistingFile);
    sub->add_option("--jsonl", o->jsonl,
                    "Encode each line of this file (a JSON string; - for stdin), print one JSON id array per line");
    sub->add_flag("--stats", o->stats, "Print the encode time and throughput to stderr");
    sub->add_flag("--ids", o->ids_only, "Print only the ids, space-separated, on one line");
    sub->add_flag("--add-special", o->add_special, "Add BOS/EOS as the tokenizer's settings ask");
    sub->add_flag("--no-parse-special", o->no_parse_special, "Treat special-token texts as plain text");
    return [o] { return tokenize(*o); };
}

}  // namespace frugal::cli
