#include "tokenizer/pre_tokenizer.h"

#include <gtest/gtest.h>

namespace frugal {
namespace {

std::unique_ptr<PreTokenizer> make(const char* pre) {
    auto traits = pre_tokenizer_traits(pre);
    EXPECT_TRUE(traits.has_value()) << pre;
    auto p = PreTokenizer::create(traits->patterns);
    EXPECT_TRUE(p.ok()) << p.status().message();
    return std::move(p).value();
}

using Words = std::vector<std::string>;

TEST(PreTokenizerTest, Llama3Splits) {
    auto p = make("llama3");
    EXPECT_EQ(p->split("Hello world 1234567"), (Words{"Hello", " world", " ", "123", "456", "7"}));
    EXPECT_EQ(p->split("I'M here's  \n\n x"), (Words{"I", "'M", " here", "'s", "  \n\n", " x"}));
    EXPECT_EQ(p->split(""), Words{});
}

TEST(PreTokenizerTest, Gpt2Splits) {
    auto p = make("gpt-2");
    EXPECT_EQ(p->split("Hello  world!!\t"), (Words{"Hello", " ", " world", "!!", "\t"}));
    EXPECT_EQ(p->split("don't DON'T"), (Words{"don", "'t", " DON", "'", "T"}));
}

TEST(PreTokenizerTest, WhitespaceIsLlamaCppsSet) {
    auto p = make("gpt-2");
    // U+3000 is white space; U+180E (which PCRE2's \s includes) is not.
    EXPECT_EQ(p->split("a\xe3\x80\x80\xe3\x80\x80"
                       "b"),
              (Words{"a", "\xe3\x80\x80", "\xe3\x80\x80", "b"}));
    EXPECT_EQ(p->split("a \xe1\xa0\x8e"
                       "b"),
              (Words{"a", " \xe1\xa0\x8e", "b"}));
}

TEST(PreTokenizerTest, DeepseekLlmRegexSequence) {
    auto p = make("deepseek-llm");
    EXPECT_EQ(p->split("Hi\nthere, 42!  "), (Words{"Hi", "\n", "there", ",", " ", "42", "!", "  "}));
}

TEST(PreTokenizerTest, LongRunsAreSplitCorrectly) {
    auto p = make("llama3");
    const std::string spaces(200000, ' ');
    EXPECT_EQ(p->split(spaces + "x"), (Words{spaces.substr(1), " x"}));
    const std::string newlines(100000, '\n');
    EXPECT_EQ(p->split("a" + newlines + "b"), (Words{"a", newlines, "b"}));
}

TEST(PreTokenizerTest, InvalidUtf8BecomesReplacementCharacters) {
    auto p = make("qwen2");
    EXPECT_EQ(p->split("a\xff"
                       "b"),
              (Words{"a",
                     "\xef\xbf\xbd"
                     "b"}));
    EXPECT_EQ(p->split("\xe4\xbd"), (Words{"\xef\xbf\xbd\xef\xbf\xbd"}));
    // Surrogates pass through as llama.cpp passes them (matched as a symbol).
    EXPECT_EQ(p->split("x\xed\xa0\x80"), (Words{"x", "\xed\xa0\x80"}));
}

TEST(PreTokenizerTest, UnknownPreTypeIsRejected) {
    EXPECT_FALSE(pre_tokenizer_traits("no-such-pre").has_value());
    EXPECT_FALSE(PreTokenizer::create({"(unclosed"}).ok());
}

}  // namespace
}  // namespace frugal
