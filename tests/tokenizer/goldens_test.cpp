// The shared tokenizer goldens (158 strings, made with HF tokenizers; see /work/shared/TOKENIZER-DATA.md) in both
// special-token modes. Differences from HF that llama.cpp itself has are listed per vocabulary and expected here.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "tokenizer/pre_tokenizer.h"
#include "tokenizer/tokenizer_test_util.h"

namespace frugal {
namespace {

std::set<size_t> mismatches(const Tokenizer& tok, const std::string& model, bool parse_special) {
    return testing::golden_mismatches(tok, model, parse_special, "goldens ");
}

TEST(GoldensTest, Llama3MatchesInBothModes) {
    std::string error;
    auto tok = testing::load_vocab_tokenizer("llama-bpe", &error);
    ASSERT_NE(tok, nullptr) << error;
    EXPECT_EQ(mismatches(*tok, "llama3", true), std::set<size_t>{});
    EXPECT_EQ(mismatches(*tok, "llama3", false), std::set<size_t>{});
}

TEST(GoldensTest, Qwen3AgainstQwen2VocabDiffersOnlyWhereLlamaCppDoes) {
    std::string error;
    auto tok = testing::load_vocab_tokenizer("qwen2", &error);
    ASSERT_NE(tok, nullptr) << error;
    // HF normalizes Qwen3 input to NFC (llama.cpp does not): 102 117 119 121 123 124 125. Tokens that exist only
    // in Qwen3: 148 149 156. llama.cpp treats "</s>" text as an end-of-generation control token: 154.
    const std::set<size_t> nfc = {102, 117, 119, 121, 123, 124, 125};
    std::set<size_t> expected = nfc;
    expected.insert({148, 149, 156});
    EXPECT_EQ(mismatches(*tok, "qwen3", false), expected);
    expected.insert(154);
    EXPECT_EQ(mismatches(*tok, "qwen3", true), expected);
}

// A vocabulary built from an HF tokenizer.json the way llama.cpp's convert_hf_to_gguf.py assigns token types.
Result<std::unique_ptr<Tokenizer>> tokenizer_from_hf(const std::string& dir, const std::string& pre) {
    const std::string raw = testing::read_xz(dir + "/tokenizer.json.xz");
    if (raw.empty()) return Status::errorf("cannot read {}/tokenizer.json.xz", dir);
    const auto json = nlohmann::json::parse(raw);
    const auto config = nlohmann::json::parse(testing::read_binary(dir + "/tokenizer_config.json"));

    int64_t num_tokens = 0;
    for (const auto& [text, id] : json["model"]["vocab"].items())
        num_tokens = std::max<int64_t>(num_tokens, id.get<int64_t>() + 1);
    for (const auto& t : json["added_tokens"]) num_tokens = std::max<int64_t>(num_tokens, t["id"].get<int64_t>() + 1);

    Vocab vocab;
    vocab.type = VocabType::kBpe;
    vocab.model = "gpt2";
    vocab.pre = pre;
    apply_vocab_type_defaults(vocab);
    vocab.tokens.resize(num_tokens);
    for (int64_t i = 0; i < num_tokens; ++i) {
        vocab.tokens[i].text = "[PAD" + std::to_string(i) + "]";
        vocab.tokens[i].type = TokenType::kUnused;
    }
    for (const auto& [text, id] : json["model"]["vocab"].items()) {
        vocab.tokens[id.get<int64_t>()] = {text, 0.0f, TokenType::kNormal, kAttrNormal};
    }
    const auto looks_special = [](const std::string& t) {
        const auto wrapped = [&](std::string_view open, std::string_view close) {
            return t.size() >= open.size() + close.size() && t.compare(0, open.size(), open) == 0 &&
                   t.compare(t.size() - close.size(), close.size(), close) == 0;
        };
        return t == "<pad>" || t == "<mask>" || t == "<2mass>" || t == "[@BOS@]" || wrapped("<|", "|>") ||
               wrapped("<\xef\xbd\x9c", "\xef\xbd\x9c>") || t.rfind("<start_of_", 0) == 0 ||
               t.rfind("<end_of_", 0) == 0;
    };
    for (const auto& t : json["added_tokens"]) {
        const std::string text = t["content"];
        const bool control = t["special"].get<bool>() || looks_special(text);
        vocab.tokens[t["id"].get<int64_t>()] = {text, 0.0f, control ? TokenType::kControl : TokenType::kUserDefined,
                                                kAttrNormal};
    }
    for (const auto& m : json["model"]["merges"]) {
        vocab.merges.push_back(m.is_string() ? m.get<std::string>()
                                             : m[0].get<std::string>() + " " + m[1].get<std::string>());
    }
    const auto content = [](const nlohmann::json& v) {
        return v.is_object() ? v["content"].get<std::string>() : v.is_string() ? v.get<std::string>() : "";
    };
    vocab.add_bos = config.value("add_bos_token", false);
    vocab.add_eos = config.value("add_eos_token", false);
    const auto traits = pre_tokenizer_traits(pre);
    if (!traits) return Status::errorf("unsupported pre {}", pre);
    vocab.clean_spaces = traits->clean_spaces;
    vocab.ignore_merges = traits->ignore_merges;
    std::unordered_map<std::string, int32_t> ids;
    for (int32_t i = 0; i < num_tokens; ++i) ids[vocab.tokens[i].text] = i;
    vocab.bos_id = config.contains("bos_token") && ids.count(content(config["bos_token"]))
                       ? ids[content(config["bos_token"])]
                       : kNullToken;
    vocab.eos_id = config.contains("eos_token") && ids.count(content(config["eos_token"]))
                       ? ids[content(config["eos_token"])]
                       : kNullToken;
    RETURN_IF_ERROR(vocab.finalize());
    return Tokenizer::from_vocab(std::move(vocab));
}

TEST(GoldensTest, DeepseekV3FromTokenizerJson) {
    auto tok = tokenizer_from_hf(std::string(FRUGAL_SHARED_DIR) + "/tokenizers/deepseek_v3", "deepseek-v3");
    ASSERT_TRUE(tok.ok()) << tok.status().message();
    EXPECT_EQ(mismatches(*tok.value(), "deepseek_v3", true), std::set<size_t>{});
    // llama.cpp makes the special-looking non-special <｜User｜>/<｜Assistant｜> control tokens, which stay text
    // without parse_special (HF matches them): 151.
    EXPECT_EQ(mismatches(*tok.value(), "deepseek_v3", false), std::set<size_t>{151});
}

}  // namespace
}  // namespace frugal
