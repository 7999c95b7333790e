#include <gtest/gtest.h>

#include "tokenizer/tokenizer_test_util.h"
#include "tokenizer/utf8.h"

namespace frugal {
namespace {

// Every prefix the stream has produced must be complete, valid UTF-8.
bool is_valid_utf8(std::string_view s) {
    for (size_t pos = 0; pos < s.size();) {
        const int len = strict_utf8_sequence_length(s, pos);
        if (len <= 0) return false;
        pos += static_cast<size_t>(len);
    }
    return true;
}

const char* const kTexts[] = {
    "Hello world",
    " leading space and  double  spaces",
    "\xc3\x9c"
    "mlaut caf\xc3\xa9 na\xc3\xafve",                                // Latin-1 supplement
    "\xe4\xbd\xa0\xe5\xa5\xbd\xef\xbc\x8c\xe4\xb8\x96\xe7\x95\x8c",  // CJK
    "emoji \xf0\x9f\xa6\x99\xf0\x9f\x9a\x80 \xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xf0\x9f\x8f\xbd family "
    "\xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9\xe2\x80\x8d\xf0\x9f\x91\xa7",  // emoji, ZWJ sequence
    "\xe1\x9e\x80\xe1\x9e\xb6\xe1\x9e\x93\xe1\x9f\x8b",                          // Khmer (byte fallback in SPM)
    "line\nbreaks\n\n\ttabs",
    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xe2\x82\xac \xe2\x88\x9e",
};

class StreamingDetokenizerTest : public ::testing::TestWithParam<const char*> {};

TEST_P(StreamingDetokenizerTest, MatchesDecodeAndNeverSplitsACharacter) {
    std::string error;
    auto tok = testing::load_vocab_tokenizer(GetParam(), &error);
    ASSERT_NE(tok, nullptr) << error;
    for (const char* text : kTexts) {
        // No BOS: llama_detokenize strips the dummy-prefix space only from the very first piece, so after a BOS
        // the text would come back with a leading space (checked in tokenizer_test.cpp).
        const auto ids = tok->encode(text, /*add_bos=*/false, false);
        StreamingDetokenizer stream(*tok);
        std::string streamed;
        for (int32_t id : ids) {
            const std::string out = stream.push(id);
            EXPECT_TRUE(is_valid_utf8(out)) << "'" << text << "' after id " << id;
            streamed += out;
            EXPECT_TRUE(is_valid_utf8(streamed));
        }
        streamed += stream.flush();
        EXPECT_EQ(streamed, tok->decode(ids)) << GetParam() << " '" << text << "'";
        EXPECT_EQ(streamed, text) << GetParam();
    }
}

INSTANTIATE_TEST_SUITE_P(Vocabs, StreamingDetokenizerTest,
                         ::testing::Values("llama-spm", "phi-3", "llama-bpe", "qwen2", "deepseek-llm", "gpt-2"),
                         [](const auto& info) {
                             std::string n = info.param;
                             for (char& c : n) {
                                 if (c == '-') c = '_';
                             }
                             return n;
                         });

TEST(StreamingDetokenizerBytesTest, HoldsBackPartialSequencesAndReplacesInvalidOnes) {
    auto tok = Tokenizer::from_llama2c(std::string(FRUGAL_SHARED_DIR) + "/models/stories260K/tok512.bin");
    ASSERT_TRUE(tok.ok()) << tok.status().message();
    const auto byte = [](uint8_t b) { return static_cast<int32_t>(b) + 3; };  // <0xXX> is id b + 3
    StreamingDetokenizer stream(*tok.value());
    // U+4F60 (E4 BD A0) fed byte by byte: nothing until the last byte.
    EXPECT_EQ(stream.push(byte(0xE4)), "");
    EXPECT_EQ(stream.push(byte(0xBD)), "");
    EXPECT_EQ(stream.push(byte(0xA0)), "\xe4\xbd\xa0");
    // A lead byte followed by ASCII: the broken sequence becomes U+FFFD and the ASCII comes through.
    EXPECT_EQ(stream.push(byte(0xE4)), "");
    EXPECT_EQ(stream.push(byte('A')),
              "\xef\xbf\xbd"
              "A");
    // A stray continuation byte is invalid at once.
    EXPECT_EQ(stream.push(byte(0x80)), "\xef\xbf\xbd");
    // 4-byte emoji split 2 + 2, then a dangling lead byte flushed at the end.
    EXPECT_EQ(stream.push(byte(0xF0)), "");
    EXPECT_EQ(stream.push(byte(0x9F)), "");
    EXPECT_EQ(stream.push(byte(0xA6)), "");
    EXPECT_EQ(stream.push(byte(0x99)), "\xf0\x9f\xa6\x99");
    EXPECT_EQ(stream.push(byte(0xF0)), "");
    EXPECT_EQ(stream.push(byte(0x9F)), "");
    EXPECT_EQ(stream.flush(), "\xef\xbf\xbd");
    // Surrogates and overlong forms are never passed through.
    EXPECT_EQ(stream.push(byte(0xED)), "");
    EXPECT_EQ(stream.push(byte(0xA0)), "\xef\xbf\xbd\xef\xbf\xbd");
    EXPECT_EQ(stream.push(byte(0xC0)), "\xef\xbf\xbd");
    EXPECT_EQ(stream.flush(), "");
}

TEST(StreamingDetokenizerBytesTest, StripsTheDummyPrefixOfTheFirstTokenOnly) {
    auto tok = Tokenizer::from_llama2c(std::string(FRUGAL_SHARED_DIR) + "/models/stories260K/tok512.bin");
    ASSERT_TRUE(tok.ok()) << tok.status().message();
    const auto ids = tok.value()->encode("Once upon a time", false, false);
    StreamingDetokenizer stream(*tok.value());
    std::string out;
    for (int32_t id : ids) out += stream.push(id);
    out += stream.flush();
    EXPECT_EQ(out, "Once upon a time");
    // After flush a new sequence starts, and its first token is stripped again.
    for (int32_t id : ids) out += stream.push(id);
    EXPECT_EQ(out + stream.flush(), "Once upon a timeOnce upon a time");
}

}  // namespace
}  // namespace frugal
