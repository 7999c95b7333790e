// The forward pass takes flat batches of several sequences: results must not depend on what else is batched.
#include "test_util.h"

namespace frugal {
namespace {

using testing::make_engine;
using testing::shared_path;

const std::string kModel = shared_path("models/stories260K/stories260K.bin");
const std::string kTokenizer = shared_path("models/stories260K/tok512.bin");

TEST(FlatBatch, SequencesBatchedTogetherMatchSequencesAlone) {
    const std::vector<std::vector<int32_t>> prompts = {
        {1, 403, 407, 261, 378}, {1, 346, 306, 414}, {1}, {1, 500, 12, 77, 300, 301, 302, 303, 304}};
    const int64_t kNew = 30;
    std::vector<std::vector<int32_t>> alone;
    {
        auto t = make_engine(kModel, kTokenizer);
        ASSERT_NE(t.engine, nullptr);
        for (const auto& p : prompts) alone.push_back(testing::greedy(*t.engine, p, kNew, true));
    }
    // Small blocks and a small batch budget force interleaved chunked prefill and scattered block tables.
    for (int64_t batch : {4, 512}) {
        auto t = make_engine(kModel, kTokenizer, DType::kF32, 3, batch);
        ASSERT_NE(t.engine, nullptr);
        for (size_t i = 0; i < prompts.size(); ++i) {
            Request r;
            r.request_id = static_cast<int64_t>(i);
            r.prompt_ids = prompts[i];
            r.max_new_tokens = kNew;
            r.sampling.temperature = 0;
            r.ignore_eos = true;
            ASSERT_TRUE(t.engine->add_request(r).ok());
        }
        std::vector<std::vector<int32_t>> together(prompts.size());
        while (t.engine->has_unfinished()) {
            Result<std::vector<RequestOutput>> out = t.engine->step();
            ASSERT_TRUE(out.ok()) << out.status().message();
            for (const RequestOutput& o : out.value()) together[o.request_id].push_back(o.token_id);
        }
        EXPECT_EQ(together, alone) << "batch budget " << batch;
    }
}

TEST(FlatBatch, TeacherForcedLogitsMatchIncrementalDecode) {
    auto t = make_engine(kModel, kTokenizer);
    ASSERT_NE(t.engine, nullptr);
    const std::vector<int32_t> ids = {1, 403, 407, 261, 378, 432, 383, 286};
    Result<std::vector<float>> all = t.engine->evaluate(ids);
    ASSERT_TRUE(all.ok());
    const int64_t vocab = t.engine->config().vocab_size;
    for (size_t n = 1; n <= ids.size(); ++n) {
        Result<std::vector<float>> prefix = t.engine->evaluate({ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(n)});
        ASSERT_TRUE(prefix.ok());
        for (int64_t v = 0; v < vocab; ++v) {
            ASSERT_NEAR(prefix.value()[(n - 1) * vocab + v], all.value()[(n - 1) * vocab + v], 1e-4f)
                << "position " << n - 1 << " token " << v;
        }
    }
}

TEST(EngineLimits, PromptLongerThanContextIsRejected) {
    auto t = make_engine(kModel, kTokenizer, DType::kF32, 1, 512, detect_cpu_isa(), /*context=*/32);
    ASSERT_NE(t.engine, nullptr);
    Request r;
    r.prompt_ids.assign(40, 300);
    const Status s = t.engine->add_request(r);
    EXPECT_FALSE(s.ok());
    EXPECT_NE(s.message().find("raise -c"), std::string::npos) << s.message();  // -c (32) is the limit
    r.prompt_ids = {1, 999};
    EXPECT_FALSE(t.engine->add_request(r).ok()) << "id outside the vocabulary";
    r.prompt_ids = {};
    EXPECT_FALSE(t.engine->add_request(r).ok()) << "empty prompt";
    EXPECT_FALSE(t.engine->has_unfinished());
}

TEST(EngineLimits, PromptLongerThanTheTrainedContextNamesThatLimit) {
    // -c at or above the model's trained context (stories260K: 512) is capped there; raising it cannot help.
    for (int64_t context : {512, 4096}) {
        SCOPED_TRACE(context);
        auto t = make_engine(kModel, kTokenizer, DType::kF32, 1, 512, detect_cpu_isa(), context);
        ASSERT_NE(t.engine, nullptr);
        ASSERT_EQ(t.engine->context_length(), t.engine->config().context_length);
        Request r;
        r.prompt_ids.assign(static_cast<size_t>(t.engine->context_length()) + 10, 300);
        const Status s = t.engine->add_request(r);
        EXPECT_FALSE(s.ok());
        EXPECT_NE(s.message().find("trained context"), std::string::npos) << s.message();
        EXPECT_EQ(s.message().find("raise -c"), std::string::npos) << s.message();
    }
}

TEST(EngineLimits, GenerationStopsAtContextEnd) {
    auto t = make_engine(kModel, kTokenizer, DType::kF32, 1, 512, detect_cpu_isa(), /*context=*/32);
    ASSERT_NE(t.engine, nullptr);
    const std::vector<int32_t> out = testing::greedy(*t.engine, {1, 403}, -1, true);
    EXPECT_EQ(out.size(), 30u);  // 2 prompt tokens + 30 generated fill the 32-token context
}

}  // namespace
}  // namespace frugal
