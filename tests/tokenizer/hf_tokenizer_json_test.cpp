// Tokenizers read from Hugging Face tokenizer.json files (src/tokenizer/hf_tokenizer_json.cpp) against the shared
// goldens made by Hugging Face's own implementation (158 strings per vocabulary, with and without special-token
// parsing), plus malformed-input errors.
#include "tokenizer/hf_tokenizer_json.h"

#include <gtest/gtest.h>

#include <set>

#include "format/gguf/gguf_writer.h"
#include "tokenizer/gguf_vocab.h"
#include "tokenizer/tokenizer_test_util.h"

namespace frugal {
namespace {

std::unique_ptr<Tokenizer> load(const std::string& model) {
    const std::string dir = std::string(FRUGAL_SHARED_DIR) + "/tokenizers/" + model;
    const std::string text = testing::read_xz(dir + "/tokenizer.json.xz");
    EXPECT_FALSE(text.empty()) << dir;
    Result<Vocab> vocab = vocab_from_tokenizer_json(text, testing::read_binary(dir + "/tokenizer_config.json"), dir);
    EXPECT_TRUE(vocab.ok()) << vocab.status().message();
    if (!vocab.ok()) return nullptr;
    Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::from_vocab(std::move(vocab).value());
    EXPECT_TRUE(tok.ok()) << tok.status().message();
    return tok.ok() ? std::move(tok).value() : nullptr;
}

std::set<size_t> mismatches(const Tokenizer& tok, const std::string& model, bool parse_special) {
    return testing::golden_mismatches(tok, model, parse_special, "tokenizer.json");
}

class HfTokenizerJson : public ::testing::TestWithParam<std::string> {};

TEST_P(HfTokenizerJson, MatchesHuggingFaceGoldens) {
    auto tok = load(GetParam());
    ASSERT_NE(tok, nullptr);
    EXPECT_EQ(mismatches(*tok, GetParam(), true), std::set<size_t>{});
    EXPECT_EQ(mismatches(*tok, GetParam(), false), std::set<size_t>{});
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, HfTokenizerJson, ::testing::Values("llama3", "qwen3", "deepseek_v3"));

// The vocabulary written into a GGUF (frugal convert / run -m DIR) tokenizes the same after reading it back:
// the exact regexes, the normalizer and the token roles travel in frugal.tokenizer.* keys.
TEST(HfTokenizerJson, SurvivesTheGgufRoundTrip) {
    for (const std::string model : {"qwen3", "deepseek_v3"}) {
        SCOPED_TRACE(model);
        const std::string dir = std::string(FRUGAL_SHARED_DIR) + "/tokenizers/" + model;
        Result<Vocab> vocab = vocab_from_tokenizer_json(testing::read_xz(dir + "/tokenizer.json.xz"),
                                                        testing::read_binary(dir + "/tokenizer_config.json"), dir);
        ASSERT_TRUE(vocab.ok()) << vocab.status().message();
        GgufWriter w;
        w.set_string("general.architecture", "qwen3");
        write_vocab_gguf_metadata(vocab.value(), w);
        const std::vector<uint8_t> bytes = w.to_bytes();
        Result<GgufFile> file = GgufFile::parse(bytes.data(), bytes.size(), "roundtrip.gguf");
        ASSERT_TRUE(file.ok()) << file.status().message();
        Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::from_gguf(file.value());
        ASSERT_TRUE(tok.ok()) << tok.status().message();
        EXPECT_EQ(mismatches(*tok.value(), model, true), std::set<size_t>{});
        EXPECT_EQ(mismatches(*tok.value(), model, false), std::set<size_t>{});
    }
}

TEST(HfTokenizerJsonErrors, MalformedInputsAreClearErrors) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"not json", "not valid JSON"},
        {R"({"model": {"type": "Unigram", "vocab": []}})", "Unigram"},
        {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Whitespace"}})",
         "Whitespace"},
        {R"({"model": {"type": "BPE", "vocab": {"a": -4}, "merges": []},
             "pre_tokenizer": {"type": "ByteLevel", "use_regex": true}})",
         "invalid id"},
        {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [7]},
             "pre_tokenizer": {"type": "ByteLevel", "use_regex": true}})",
         "merges"},
        {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []},
             "pre_tokenizer": {"type": "Metaspace"}, "decoder": {"type": "ByteLevel"}})",
         "ByteLevel"},
    };
    for (const auto& [text, want] : cases) {
        Result<Vocab> v = vocab_from_tokenizer_json(text, "", "case");
        ASSERT_FALSE(v.ok()) << text;
        EXPECT_NE(v.status().message().find(want), std::string::npos) << v.status().message();
    }
}

}  // namespace
}  // namespace frugal
