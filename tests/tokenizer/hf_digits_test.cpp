// A Digits pre-tokenizer in front of Llama 3's byte-level split (as some tokenizer.json files have): ids equal Hugging
// Face tokenizers' (0.23.3, made by encoding these strings with the modified tokenizer.json) for individual digits
// and for digit runs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tokenizer/hf_tokenizer_json.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer_test_util.h"

namespace frugal {
namespace {

struct DigitsCase {
    bool individual;
    const char* text;
    std::vector<int32_t> ids;
};

TEST(HfDigitsTest, DigitsPreTokenizerMatchesHuggingFace) {
    const std::string dir = std::string(FRUGAL_SHARED_DIR) + "/tokenizers/llama3";
    nlohmann::json j = nlohmann::json::parse(testing::read_xz(dir + "/tokenizer.json.xz"));
    const nlohmann::json byte_level = j["pre_tokenizer"]["pretokenizers"];
    const std::vector<DigitsCase> cases = {
        {true, "12345 apples", {16, 17, 18, 19, 20, 41776}},
        {true, "pi=3.14159, e=2.718", {2554, 28, 18, 13, 16, 19, 16, 20, 24, 11, 384, 28, 17, 13, 22, 16, 23}},
        {true, "in 2024 there were 1000000 people", {258, 220, 17, 15, 17, 19, 1070, 1051, 220, 16, 15, 15, 15, 15, 15, 15, 1274}},
        {true, "x1y22z333", {87, 16, 88, 17, 17, 89, 18, 18, 18}},
        {true, "١٢٣ Arabic digits ٤٥", {109610, 110546, 117413, 35217, 19016, 220, 124079, 124043}},
        {true, "  99  bottles\n\n42", {256, 24, 24, 220, 27474, 271, 19, 17}},
        {false, "12345 apples", {4513, 1774, 41776}},
        {false, "pi=3.14159, e=2.718", {2554, 28, 18, 13, 9335, 2946, 11, 384, 28, 17, 13, 21982}},
        {false, "in 2024 there were 1000000 people", {258, 220, 2366, 19, 1070, 1051, 220, 1041, 931, 15, 1274}},
        {false, "x1y22z333", {87, 16, 88, 1313, 89, 8765}},
        {false, "١٢٣ Arabic digits ٤٥", {109610, 110546, 117413, 35217, 19016, 220, 124079, 124043}},
        {false, "  99  bottles\n\n42", {256, 1484, 220, 27474, 271, 2983}},
    };
    for (const bool individual : {true, false}) {
        nlohmann::json pre = {{"type", "Sequence"}, {"pretokenizers", nlohmann::json::array()}};
        pre["pretokenizers"].push_back({{"type", "Digits"}, {"individual_digits", individual}});
        for (const auto& p : byte_level) pre["pretokenizers"].push_back(p);
        j["pre_tokenizer"] = pre;
        Result<Vocab> vocab = vocab_from_tokenizer_json(j.dump(), "", "digits");
        ASSERT_TRUE(vocab.ok()) << vocab.status().message();
        Result<std::unique_ptr<Tokenizer>> made = Tokenizer::from_vocab(std::move(vocab.value()));
        ASSERT_TRUE(made.ok()) << made.status().message();
        const std::unique_ptr<Tokenizer>& tok = made.value();
        for (const DigitsCase& c : cases) {
            if (c.individual != individual) continue;
            EXPECT_EQ(tok->encode(c.text, false, false), c.ids) << c.text << " individual " << individual;
        }
    }
}

}  // namespace
}  // namespace frugal
