// Gemma 3 (SPM vocabulary without a dummy prefix, whitespace-run and special tokens) against ids recorded from
// llama.cpp by scripts/make_gemma_tokenizer_fixture.py. Skipped when the model is not installed.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer_test_util.h"

namespace frugal {
namespace {

class GemmaTokenizerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        const std::string path = std::string(FRUGAL_MODELS_DIR) + "/gemma-3-270m-q4_k_m.gguf";
        if (!std::filesystem::exists(path)) GTEST_SKIP() << "no Gemma 3 model at " << path;
        auto file = GgufFile::open(path);
        ASSERT_TRUE(file.ok()) << file.status().message();
        auto tok = Tokenizer::from_gguf(file.value());
        ASSERT_TRUE(tok.ok()) << tok.status().message();
        tok_ = std::move(tok).value();
        // The fixture lives in tests/tokenizer/data; FRUGAL_TEST_DATA_DIR is the shared tests/data.
        const auto data =
            std::filesystem::path(FRUGAL_TEST_DATA_DIR).parent_path() / "tokenizer" / "data" / "gemma3_tokenizer.json";
        const std::string json = testing::read_binary(data.string());
        ASSERT_FALSE(json.empty()) << "missing fixture " << data;
        fixture_ = nlohmann::json::parse(json);
    }

    std::unique_ptr<Tokenizer> tok_;
    nlohmann::json fixture_;
};

TEST_F(GemmaTokenizerTest, MatchesLlamaCppIds) {
    EXPECT_EQ(tok_->vocab_size(), fixture_["n_vocab"].get<int32_t>());
    EXPECT_EQ(tok_->bos_id(), fixture_["bos_id"].get<int32_t>());
    EXPECT_EQ(tok_->eos_id(), fixture_["eos_id"].get<int32_t>());
    int passed = 0;
    for (const auto& c : fixture_["cases"]) {
        const std::string text = c["text"];
        const auto expected = c["ids"].get<std::vector<int32_t>>();
        const auto ids = tok_->encode(text, c["add_bos"].get<bool>(), c["special"].get<bool>());
        EXPECT_EQ(ids, expected) << "'" << text << "' add_bos=" << c["add_bos"] << " special=" << c["special"];
        passed += ids == expected;
        if (c.contains("decoded")) {
            EXPECT_EQ(tok_->decode(expected), c["decoded"].get<std::string>()) << "'" << text << "'";
        }
    }
    std::printf("[ gemma3   ] %d/%zu cases match\n", passed, fixture_["cases"].size());
}

TEST_F(GemmaTokenizerTest, EndOfTurnEndsGeneration) {
    const auto ids = tok_->encode("<end_of_turn>", false, true);
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_TRUE(tok_->is_eog(ids[0]));
    EXPECT_TRUE(tok_->is_eog(tok_->eos_id()));
    EXPECT_FALSE(tok_->is_eog(tok_->bos_id()));
    EXPECT_EQ(tok_->token_to_piece(ids[0]), "");
    EXPECT_EQ(tok_->token_to_piece(ids[0], /*render_special=*/true), "<end_of_turn>");
}

}  // namespace
}  // namespace frugal
