// Unicode as Hugging Face tokenizers sees it (src/tokenizer/hf_unicode.cpp): its normalizers' Unicode 9.0 tables
// and its regexes' newer ones. The expected values were checked against tokenizers 0.23.3; the live parity test
// (tests/tokenizer/live_parity.py) compares whole tokenizers on a corpus that exercises both.
#include "tokenizer/hf_unicode.h"

#include <gtest/gtest.h>

#include "tokenizer/pre_tokenizer.h"

namespace frugal {
namespace {

TEST(HfUnicode, NormalizersUseUnicode9Tables) {
    EXPECT_FALSE(assigned_after_unicode_9(0x0363));
    EXPECT_TRUE(assigned_after_unicode_9(0x1DF9));   // COMBINING WIDE INVERTED BRIDGE BELOW, Unicode 10
    EXPECT_TRUE(assigned_after_unicode_9(0x11F00));  // Kawi, Unicode 15
    EXPECT_FALSE(assigned_after_unicode_9(0x10FFFF));
    // U+0363 (class 230) before U+0316 (class 220): reordered, both are Unicode 1.1.
    EXPECT_EQ(hf_unicode_normalize("a\xcd\xa3\xcc\x96", "NFC"), "a\xcc\x96\xcd\xa3");
    // U+0363 before U+1DF9 (class 220 since Unicode 10): tokenizers does not know U+1DF9 and keeps the order.
    EXPECT_EQ(hf_unicode_normalize("a\xcd\xa3\xe1\xb7\xb9", "NFC"), "a\xcd\xa3\xe1\xb7\xb9");
    EXPECT_EQ(hf_unicode_normalize("e\xcc\x81", "NFC"), "\xc3\xa9");
    EXPECT_EQ(hf_unicode_normalize("\xc3\xa9", "NFD"), "e\xcc\x81");
    EXPECT_EQ(hf_unicode_normalize("\xef\xac\x81", "NFKC"), "fi");
    EXPECT_EQ(hf_unicode_normalize("bad \xff utf-8", "NFC"), "bad \xff utf-8");
}

TEST(HfUnicode, LowercaseIsRustsPerCodePoint) {
    EXPECT_EQ(hf_lowercase("HeLLo \xc3\x89"), "hello \xc3\xa9");
    EXPECT_EQ(hf_lowercase("\xc4\xb0"), "i\xcc\x87");                 // U+0130 -> i + U+0307
    EXPECT_EQ(hf_lowercase("\xce\xa3\xce\xa3"), "\xcf\x83\xcf\x83");  // no final-sigma rule
    EXPECT_EQ(hf_lowercase("\xf0\x90\xb5\x90"), "\xf0\x90\xb5\xb0");  // U+10D50 -> U+10D70 (Garay, Unicode 16)
    EXPECT_EQ(hf_lowercase("A\xff"
                           "B"),
              "a\xff"
              "b");
}

TEST(HfUnicode, RegexPropertiesFollowTokenizers) {
    EXPECT_FALSE(onig_property_extras('L').empty());
    EXPECT_TRUE(onig_property_extras('Z').empty());
    // U+13F62 (Egyptian hieroglyph, Unicode 16) is a letter to tokenizers' regexes, unassigned to PCRE2 10.42.
    const std::vector<std::string> patterns = {"[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\s+"};
    auto hf = PreTokenizer::create(patterns, /*onig_properties=*/true);
    ASSERT_TRUE(hf.ok()) << hf.status().message();
    EXPECT_EQ((*hf)->split("a \xf0\x93\xbd\xa2"), (std::vector<std::string>{"a", " \xf0\x93\xbd\xa2"}));
}

}  // namespace
}  // namespace frugal
