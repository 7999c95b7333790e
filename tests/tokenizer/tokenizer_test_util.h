// Shared helpers for the tokenizer tests: locating (and decompressing) the shared vocab fixtures.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "format/gguf/gguf_file.h"
#include "tokenizer/tokenizer.h"

namespace frugal::testing {

inline std::string read_binary(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Path of a shared vocab GGUF; an .xz original is decompressed once into the scratch folder (never next to it).
// Returns "" when neither exists.
inline std::string vocab_gguf_path(const std::string& name) {
    namespace fs = std::filesystem;
    const std::string base = std::string(FRUGAL_SHARED_DIR) + "/vocab-gguf/ggml-vocab-" + name + ".gguf";
    if (fs::exists(base)) return base;
    if (!fs::exists(base + ".xz")) return "";
    const fs::path scratch = fs::path(FRUGAL_TEST_SCRATCH_DIR) / "vocab-gguf";
    fs::create_directories(scratch);
    const fs::path out = scratch / ("ggml-vocab-" + name + ".gguf");
    if (fs::exists(out)) return out.string();
    const fs::path tmp = out.string() + ".tmp" + std::to_string(::getpid());
    const std::string cmd = "xz -dc '" + base + ".xz' > '" + tmp.string() + "'";
    if (std::system(cmd.c_str()) != 0) return "";
    fs::rename(tmp, out);
    return out.string();
}

struct VocabCase {
    std::string text;
    std::vector<int32_t> ids;
};

// llama.cpp's test-tokenizer-0 format: .inp cases separated by "\n__ggml_vocab_test__\n", .out one line each.
inline std::vector<VocabCase> read_test_cases(const std::string& inp_path, const std::string& out_path) {
    const std::string raw = read_binary(inp_path);
    const std::string out = read_binary(out_path);
    std::vector<std::string> inputs;
    const std::string sep = "\n__ggml_vocab_test__\n";
    for (size_t pos = 0; pos < raw.size();) {
        const size_t next = raw.find(sep, pos);
        if (next == std::string::npos) {
            inputs.push_back(raw.substr(pos));
            break;
        }
        inputs.push_back(raw.substr(pos, next - pos));
        pos = next + sep.size();
    }
    std::vector<std::vector<int32_t>> outputs;
    for (size_t pos = 0; pos < out.size();) {
        size_t next = out.find('\n', pos);
        if (next == std::string::npos) next = out.size();
        std::vector<int32_t> ids;
        size_t p = pos;
        while (p < next) {
            while (p < next && (out[p] == ' ' || out[p] == '\r')) ++p;
            if (p >= next) break;
            size_t q = p;
            while (q < next && out[q] != ' ' && out[q] != '\r') ++q;
            ids.push_back(std::stoi(out.substr(p, q - p)));
            p = q;
        }
        outputs.push_back(std::move(ids));
        pos = next + 1;
    }
    std::vector<VocabCase> cases;
    if (inputs.size() != outputs.size()) return cases;
    for (size_t i = 0; i < inputs.size(); ++i) cases.push_back({inputs[i], outputs[i]});
    return cases;
}

inline std::vector<VocabCase> read_vocab_cases(const std::string& name) {
    const std::string base = std::string(FRUGAL_SHARED_DIR) + "/vocab-gguf/ggml-vocab-" + name + ".gguf";
    return read_test_cases(base + ".inp", base + ".out");
}

// Decompresses an .xz file to memory ("" on failure).
inline std::string read_xz(const std::string& path) {
    std::string out;
    FILE* pipe = ::popen(("xz -dc '" + path + "'").c_str(), "r");
    if (pipe == nullptr) return out;
    char buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), pipe)) > 0) out.append(buf, n);
    return ::pclose(pipe) == 0 ? out : std::string();
}

// Loads a tokenizer from a shared vocab GGUF; the GgufFile is closed before returning (the tokenizer owns copies).
inline std::unique_ptr<Tokenizer> load_vocab_tokenizer(const std::string& name, std::string* error) {
    const std::string path = vocab_gguf_path(name);
    if (path.empty()) {
        *error = "missing vocab " + name;
        return nullptr;
    }
    auto file = GgufFile::open(path);
    if (!file.ok()) {
        *error = file.status().message();
        return nullptr;
    }
    auto tok = Tokenizer::from_gguf(file.value());
    if (!tok.ok()) {
        *error = tok.status().message();
        return nullptr;
    }
    return std::move(tok).value();
}

// Encodes every shared golden of `model` (../shared/goldens, 158 strings, ids made by Hugging Face) without BOS and
// returns the indices that differ, printing a summary line under `label`.
inline std::set<size_t> golden_mismatches(const Tokenizer& tok, const std::string& model, bool parse_special,
                                          const char* label) {
    const std::string base = std::string(FRUGAL_SHARED_DIR) + "/goldens/" + model;
    const auto cases = read_test_cases(base + ".inp", base + (parse_special ? ".out" : ".nospecial.out"));
    EXPECT_EQ(cases.size(), 158u);
    std::set<size_t> bad;
    for (size_t i = 0; i < cases.size(); ++i) {
        if (tok.encode(cases[i].text, false, parse_special) != cases[i].ids) bad.insert(i);
    }
    std::printf("[ %s ] %-12s parse_special=%d: %zu/%zu match\n", label, model.c_str(), parse_special,
                cases.size() - bad.size(), cases.size());
    return bad;
}

}  // namespace frugal::testing
