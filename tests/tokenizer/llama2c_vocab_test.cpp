#include "tokenizer/llama2c_vocab.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "format/gguf/gguf_writer.h"
#include "tokenizer/tokenizer_test_util.h"

namespace frugal {
namespace {

const std::string kTok512 = std::string(FRUGAL_SHARED_DIR) + "/models/stories260K/tok512.bin";
const std::vector<int32_t> kExpected = {346, 306, 414, 263, 304, 341, 432, 410, 475, 479, 472, 410, 198,
                                        191, 423, 421, 412, 323, 410, 231, 192, 163, 232, 168, 192};
constexpr const char* kText = "Hello world, 123 \xc3\xbcmlaut \xe4\xbd\xa0\xe5\xa5\xbd";

std::string scratch(const std::string& name) {
    std::filesystem::create_directories(FRUGAL_TEST_SCRATCH_DIR);
    return std::string(FRUGAL_TEST_SCRATCH_DIR) + "/" + name;
}

TEST(Llama2cVocabTest, EncodesLikeLlama2cAndSentencePiece) {
    auto tok = Tokenizer::from_llama2c(kTok512);
    ASSERT_TRUE(tok.ok()) << tok.status().message();
    EXPECT_EQ(tok.value()->vocab_size(), 512);
    EXPECT_EQ(tok.value()->encode(kText, /*add_bos=*/false, false), kExpected);
    std::vector<int32_t> with_bos = {1};
    with_bos.insert(with_bos.end(), kExpected.begin(), kExpected.end());
    EXPECT_EQ(tok.value()->encode(kText, /*add_bos=*/true, false), with_bos);
    EXPECT_EQ(tok.value()->decode(kExpected), kText);
    EXPECT_EQ(tok.value()->decode(with_bos), std::string(" ") + kText);  // llama_detokenize keeps it after BOS
    EXPECT_TRUE(tok.value()->encode("", false, false).empty());
}

TEST(Llama2cVocabTest, TokenTypesAndPieces) {
    auto vocab = load_llama2c_vocab(kTok512);
    ASSERT_TRUE(vocab.ok()) << vocab.status().message();
    const Vocab& v = vocab.value();
    EXPECT_EQ(v.tokens[0].type, TokenType::kUnknown);
    EXPECT_EQ(v.tokens[1].type, TokenType::kControl);
    EXPECT_EQ(v.tokens[1].text, "<s>");
    EXPECT_EQ(v.tokens[2].text, "</s>");
    EXPECT_EQ(v.tokens[3].type, TokenType::kByte);
    EXPECT_EQ(v.tokens[3].text, "<0x00>");
    EXPECT_EQ(v.tokens[258].text, "<0xFF>");
    EXPECT_EQ(v.tokens[259].type, TokenType::kNormal);
    EXPECT_FLOAT_EQ(v.tokens[300].score, -41.0f);  // merges are scored -(id - 259)
    EXPECT_EQ(v.bos_id, 1);
    EXPECT_EQ(v.eos_id, 2);
    EXPECT_TRUE(v.add_bos);
    EXPECT_TRUE(v.eog[2]);
    // No piece keeps a raw space: SentencePiece's U+2581 stands for it.
    for (const TokenData& t : v.tokens) EXPECT_EQ(t.text.find(' '), std::string::npos) << t.text;
}

TEST(Llama2cVocabTest, MalformedFilesGiveErrors) {
    const std::string good = testing::read_binary(kTok512);
    ASSERT_GT(good.size(), 100u);
    const auto parse = [](const std::string& bytes) {
        return parse_llama2c_vocab({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, "tok.bin");
    };
    for (size_t cut : {size_t{0}, size_t{2}, size_t{4} + 3, good.size() / 2, good.size() - 1}) {
        auto r = parse(good.substr(0, cut));
        EXPECT_FALSE(r.ok()) << "truncated to " << cut << " bytes";
        if (!r.ok()) {
            EXPECT_NE(r.status().message().find("tok.bin"), std::string::npos) << r.status().message();
        }
    }
    std::string bad_len = good;
    const int32_t huge = 1 << 30;
    std::memcpy(bad_len.data() + 8, &huge, 4);  // first token's length
    EXPECT_FALSE(parse(bad_len).ok());
    std::string negative = good;
    const int32_t minus = -5;
    std::memcpy(negative.data() + 8, &minus, 4);
    EXPECT_FALSE(parse(negative).ok());
    std::string bad_header = good;
    std::memcpy(bad_header.data(), &minus, 4);
    EXPECT_FALSE(parse(bad_header).ok());
    EXPECT_FALSE(load_llama2c_vocab(kTok512, /*expected_num_tokens=*/32000).ok());
    EXPECT_FALSE(Tokenizer::from_llama2c("/nonexistent/tok.bin").ok());
}

TEST(Llama2cVocabTest, ExportsToGgufAndReloads) {
    auto tok = Tokenizer::from_llama2c(kTok512);
    ASSERT_TRUE(tok.ok()) << tok.status().message();
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    tok.value()->write_gguf_metadata(w);
    const std::string path = scratch("tok512_vocab.gguf");
    ASSERT_TRUE(w.write(path).ok());

    auto file = GgufFile::open(path);
    ASSERT_TRUE(file.ok()) << file.status().message();
    EXPECT_EQ(file.value().get_string_or("tokenizer.ggml.model", ""), "llama");
    EXPECT_EQ(file.value().get_int_or("tokenizer.ggml.bos_token_id", -1), 1);
    EXPECT_EQ(file.value().get_int_or("tokenizer.ggml.eos_token_id", -1), 2);
    EXPECT_EQ(file.value().get_int_or("tokenizer.ggml.unknown_token_id", -1), 0);
    EXPECT_TRUE(file.value().get_bool_or("tokenizer.ggml.add_bos_token", false));
    auto reloaded = Tokenizer::from_gguf(file.value());
    ASSERT_TRUE(reloaded.ok()) << reloaded.status().message();
    EXPECT_EQ(reloaded.value()->encode(kText, false, false), kExpected);
    for (int32_t id = 0; id < 512; ++id) {
        EXPECT_EQ(reloaded.value()->vocab().tokens[id].text, tok.value()->vocab().tokens[id].text);
        EXPECT_EQ(reloaded.value()->vocab().tokens[id].type, tok.value()->vocab().tokens[id].type);
        EXPECT_EQ(reloaded.value()->vocab().tokens[id].score, tok.value()->vocab().tokens[id].score);
    }
}

}  // namespace
}  // namespace frugal
