// OpenAI cl100k_base from its tiktoken rank file (src/tokenizer/tiktoken_vocab.cpp) against ids from PyPI tiktoken
// (tests/tokenizer/data/cl100k_goldens.json, made by scripts/reference/make_tiktoken_goldens.py): with special
// tokens parsed and as plain text, decode round trip, the GGUF round trip, and errors for malformed rank files.
#include "tokenizer/tiktoken_vocab.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "format/gguf/gguf_writer.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/tokenizer_test_util.h"

namespace frugal {
namespace {

const std::string& rank_file() {
    static const std::string text =
        testing::read_xz(std::string(FRUGAL_SHARED_DIR) + "/tokenizers/cl100k_base.tiktoken.xz");
    return text;
}

void expect_goldens(const Tokenizer& tok, const char* label) {
    const nlohmann::json goldens = nlohmann::json::parse(
        testing::read_binary(std::string(FRUGAL_TESTS_DIR) + "/tokenizer/data/cl100k_goldens.json"));
    ASSERT_GE(goldens["cases"].size(), 170u);
    size_t bad = 0;
    for (const nlohmann::json& c : goldens["cases"]) {
        const std::string text = c["text"].get<std::string>();
        const auto ids = c["ids"].get<std::vector<int32_t>>();
        const auto ordinary = c["ids_ordinary"].get<std::vector<int32_t>>();
        const std::vector<int32_t> got = tok.encode(text, false, true);
        const std::vector<int32_t> got_ordinary = tok.encode(text, false, false);
        EXPECT_EQ(got, ids) << label << " '" << text << "'";
        EXPECT_EQ(got_ordinary, ordinary) << label << " ordinary '" << text << "'";
        if (c["roundtrip_ok"].get<bool>()) {
            EXPECT_EQ(tok.decode(ids, /*render_special=*/true), text);
        }
        bad += got != ids || got_ordinary != ordinary;
    }
    std::printf("[ %s ] cl100k_goldens.json: %zu/%zu match tiktoken\n", label, goldens["cases"].size() - bad,
                goldens["cases"].size());
}

TEST(TiktokenVocab, Cl100kMatchesTiktoken) {
    ASSERT_FALSE(rank_file().empty());
    Result<Vocab> vocab = vocab_from_tiktoken(rank_file(), "cl100k_base.tiktoken");
    ASSERT_TRUE(vocab.ok()) << vocab.status().message();
    EXPECT_EQ(vocab->num_tokens(), 100277);
    EXPECT_EQ(vocab->find("<|endofprompt|>"), 100276);
    Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::from_vocab(std::move(vocab).value());
    ASSERT_TRUE(tok.ok()) << tok.status().message();
    EXPECT_TRUE((*tok)->is_eog(100257));
    expect_goldens(*tok.value(), "tiktoken");

    GgufWriter w;
    w.set_string("general.architecture", "llama");
    write_vocab_gguf_metadata((*tok)->vocab(), w);
    const std::vector<uint8_t> bytes = w.to_bytes();
    Result<GgufFile> file = GgufFile::parse(bytes.data(), bytes.size(), "roundtrip.gguf");
    ASSERT_TRUE(file.ok()) << file.status().message();
    Result<std::unique_ptr<Tokenizer>> from_gguf = Tokenizer::from_gguf(file.value());
    ASSERT_TRUE(from_gguf.ok()) << from_gguf.status().message();
    expect_goldens(*from_gguf.value(), "tiktoken gguf");
}

TEST(TiktokenVocab, MalformedRankFilesAreClearErrors) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"IQ== 0\nIg==\n", "line 2: expected 'base64 rank'"},
        {"IQ== 0\nI@== 1\n", "line 2: bad base64"},
        {"IQ== 0\nIg 1\n", "line 2: bad base64"},
        {"IQ== 0\nIg== 0\n", "rank 0 appears twice"},
        {"IQ== 0\nIQ== 1\n", "same token is on line 1"},
        {"IQ== 0\nIg== x1\n", "rank is not a number"},
        {"IQ== 0\nIg== 99999999999999999999\n", "rank is not a number"},
        {"IQ== 0 1\n", "expected 'base64 rank'"},
        {"IQ== 0\nIg== 1\n", "only cl100k_base"},
        {"", "only cl100k_base"},
    };
    for (const auto& [text, needle] : cases) {
        Result<Vocab> vocab = vocab_from_tiktoken(text, "bad.tiktoken");
        ASSERT_FALSE(vocab.ok()) << text;
        EXPECT_NE(vocab.status().message().find(needle), std::string::npos) << vocab.status().message();
    }
}

}  // namespace
}  // namespace frugal
