// stories260K against llama2.c: every greedy token id of the three golden cases, and the first logits.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "format/gguf/gguf_file.h"
#include "stories260k_golden.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace frugal {
namespace {

using testing::make_engine;
using testing::shared_path;

constexpr float kLogitTolerance = 1e-4f;
constexpr int32_t kBos = 1;

const std::string kModel = testing::stories260k_model();
const std::string kTokenizer = testing::stories260k_tokenizer();

using testing::stories260k_golden;
using testing::expected_generation;

class Stories260K : public ::testing::TestWithParam<std::tuple<DType, CpuIsa, int64_t>> {};

TEST_P(Stories260K, GreedyIdsMatchLlama2c) {
    const auto [kv_dtype, isa, batch] = GetParam();
    if (!cpu_isa_supported(isa)) GTEST_SKIP() << "ISA not supported here";
    auto t = make_engine(kModel, kTokenizer, kv_dtype, 2, batch, isa);
    ASSERT_NE(t.engine, nullptr);
    const nlohmann::json cases = stories260k_golden()["cases"];
    ASSERT_EQ(cases.size(), 3u);
    for (const auto& c : cases) {
        const auto prompt = c["prompt_ids_with_bos"].get<std::vector<int32_t>>();
        const std::vector<int32_t> want = expected_generation(c);
        const std::vector<int32_t> got =
            testing::greedy(*t.engine, prompt, static_cast<int64_t>(want.size()), /*ignore_eos=*/true);
        EXPECT_EQ(got, want) << "prompt '" << c["prompt"].get<std::string>() << "'";
    }
}

INSTANTIATE_TEST_SUITE_P(AllVariants, Stories260K,
                         ::testing::Values(std::make_tuple(DType::kF32, CpuIsa::kScalar, 512),
                                           std::make_tuple(DType::kF32, CpuIsa::kAvx2, 512),
                                           std::make_tuple(DType::kF32, CpuIsa::kAvx512, 512),
                                           std::make_tuple(DType::kF16, CpuIsa::kAvx512, 512),
                                           std::make_tuple(DType::kF32, CpuIsa::kAvx512, 3)));

TEST(Stories260KLogits, FirstTwoPositionsMatchLlama2c) {
    auto t = make_engine(kModel, kTokenizer, DType::kF32);
    ASSERT_NE(t.engine, nullptr);
    const nlohmann::json cases = stories260k_golden()["cases"];
    ASSERT_EQ(cases.size(), 3u);
    for (const auto& c : cases) {
        const auto prompt = c["prompt_ids_with_bos"].get<std::vector<int32_t>>();
        const auto next = c["next_ids"].get<std::vector<int32_t>>();
        const std::vector<int32_t> ids = {prompt[0], prompt.size() > 1 ? prompt[1] : next[0]};
        Result<std::vector<float>> logits = t.engine->evaluate(ids);
        ASSERT_TRUE(logits.ok()) << logits.status().message();
        const int64_t vocab = t.engine->config().vocab_size;
        for (int pos = 0; pos < 2; ++pos) {
            const auto want = c["logits_first8_at_pos"][std::to_string(pos)].get<std::vector<float>>();
            for (size_t i = 0; i < want.size(); ++i) {
                EXPECT_NEAR(logits.value()[pos * vocab + i], want[i], kLogitTolerance)
                    << "prompt '" << c["prompt"].get<std::string>() << "' position " << pos << " logit " << i;
            }
        }
    }
}

TEST(Stories260KTokenizer, PromptsEncodeLikeLlama2c) {
    Result<std::unique_ptr<Tokenizer>> tok = Tokenizer::from_llama2c(kTokenizer);
    ASSERT_TRUE(tok.ok()) << tok.status().message();
    const nlohmann::json cases = stories260k_golden()["cases"];
    ASSERT_EQ(cases.size(), 3u);
    for (const auto& c : cases) {
        const auto want = c["prompt_ids_with_bos"].get<std::vector<int32_t>>();
        EXPECT_EQ((*tok)->encode(c["prompt"].get<std::string>(), true, false), want) << c["prompt"];
    }
    EXPECT_EQ((*tok)->bos_id(), kBos);
}

TEST(Stories260KConvert, GgufRoundTripGivesIdenticalGeneration) {
    Result<GgufWriter> w = ModelSource::llama2c_to_gguf(kModel, kTokenizer);
    ASSERT_TRUE(w.ok()) << w.status().message();
    const std::string out = std::string(FRUGAL_TEST_SCRATCH_DIR) + "/stories260K.gguf";
    std::filesystem::create_directories(FRUGAL_TEST_SCRATCH_DIR);
    ASSERT_TRUE(w->write(out).ok());
    Result<GgufFile> f = GgufFile::open(out);
    ASSERT_TRUE(f.ok()) << f.status().message();
    EXPECT_EQ(f->get_string_or("general.architecture", ""), "llama");
    EXPECT_EQ(f->find("tokenizer.ggml.tokens")->array_count, 512u);

    auto direct = make_engine(kModel, kTokenizer);
    auto converted = make_engine(out, "");
    ASSERT_NE(direct.engine, nullptr);
    ASSERT_NE(converted.engine, nullptr);
    ASSERT_NE(converted.engine->tokenizer(), nullptr);
    const std::vector<int32_t> prompt = converted.engine->tokenizer()->encode("Once upon a time", true, false);
    EXPECT_EQ(prompt, direct.engine->tokenizer()->encode("Once upon a time", true, false));
    EXPECT_EQ(testing::greedy(*converted.engine, prompt, 40, true), testing::greedy(*direct.engine, prompt, 40, true));
}

}  // namespace
}  // namespace frugal
