// llama.cpp's tokenizer test vectors (test-tokenizer-0): every case must encode to exactly the recorded ids with
// add_special=false, parse_special=false.
#include <gtest/gtest.h>

#include "tokenizer/tokenizer_test_util.h"

namespace frugal {
namespace {

class VocabGgufTest : public ::testing::TestWithParam<const char*> {};

std::string show(const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) s += std::to_string(id) + " ";
    return s;
}

TEST_P(VocabGgufTest, MatchesLlamaCppTestVectors) {
    const std::string name = GetParam();
    std::string error;
    auto tok = testing::load_vocab_tokenizer(name, &error);
    ASSERT_NE(tok, nullptr) << error;
    const auto cases = testing::read_vocab_cases(name);
    ASSERT_EQ(cases.size(), 46u) << "could not parse the .inp/.out pair of " << name;
    int passed = 0;
    for (size_t i = 0; i < cases.size(); ++i) {
        const auto ids = tok->encode(cases[i].text, /*add_bos=*/false, /*parse_special=*/false);
        EXPECT_EQ(ids, cases[i].ids) << name << " case " << i << " '" << cases[i].text << "'\n got:      " << show(ids)
                                     << "\n expected: " << show(cases[i].ids);
        passed += ids == cases[i].ids;
    }
    std::printf("[ vocab    ] %-15s %d/%zu cases match\n", name.c_str(), passed, cases.size());
}

INSTANTIATE_TEST_SUITE_P(AllVocabs, VocabGgufTest,
                         ::testing::Values("llama-spm", "phi-3", "llama-bpe", "qwen2", "deepseek-llm", "deepseek-coder",
                                           "gpt-2"),
                         [](const auto& info) {
                             std::string n = info.param;
                             for (char& c : n) {
                                 if (c == '-') c = '_';
                             }
                             return n;
                         });

}  // namespace
}  // namespace frugal
