// End to end on the GPU: stories260K (F32 weights, llama2.c checkpoint) through the Engine on the CUDA backend.
// Greedy generation must reproduce every token id llama2.c produced; logits must match the CPU engine's at every
// position; requests batched together must generate what each generates alone. The runs cover both matmul paths
// (steps of at most 16 tokens: matrix-vector kernels, recorded and replayed as CUDA graphs; longer prefill steps:
// FP32 cuBLASLt), F32 and F16 KV caches, and chunked prefill. Without a GPU every test reports itself skipped.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "model/stories260k_golden.h"
#include "model/test_util.h"

namespace frugal {
namespace {

using testing::shared_path;

// GPU and CPU logits differ only by float rounding (summation order of warp reductions and cuBLASLt tiles vs SIMD
// lanes, __expf in the attention softmax), a few float ulps per op over 5 layers on logits of magnitude ~10; a
// wrong element of any op moves them by far more than 1e-3. llama2.c's own logits are within 1e-4 of the CPU's.
constexpr float kLogitTolerance = 1e-3f;

const std::string kModel = testing::stories260k_model();
const std::string kTokenizer = testing::stories260k_tokenizer();

using testing::stories260k_golden;
using testing::expected_generation;

struct GpuEngine {
    std::unique_ptr<ModelSource> source;
    std::unique_ptr<Engine> engine;
};

// An engine on CUDA device 0. Fails the test (engine null) when the model or the backend cannot be set up.
GpuEngine make_cuda_engine(DType kv_dtype, int64_t max_batch_tokens, int block_size = 16) {
    GpuEngine g;
    Result<std::unique_ptr<ModelSource>> source = ModelSource::open(kModel, kTokenizer);
    EXPECT_TRUE(source.ok()) << source.status().message();
    if (!source.ok()) return g;
    g.source = std::move(source).value();
    Result<std::unique_ptr<Backend>> backend = create_cuda_backend(CudaBackendOptions{});
    EXPECT_TRUE(backend.ok()) << backend.status().message();
    if (!backend.ok()) return g;
    EngineOptions eo;
    eo.context_length = 1024;  // capped at the model's 512
    eo.kv_dtype = kv_dtype;
    eo.max_batch_tokens = max_batch_tokens;
    eo.block_size = block_size;
    Result<std::unique_ptr<Engine>> engine = Engine::create(*g.source, std::move(backend).value(), eo);
    EXPECT_TRUE(engine.ok()) << engine.status().message();
    if (engine.ok()) g.engine = std::move(engine).value();
    return g;
}

// Asserts that logits (rows of vocab) agree within kLogitTolerance; reports the first few differences.
void expect_logits_near(const std::vector<float>& got, const std::vector<float>& want, int64_t vocab,
                        const std::string& what) {
    ASSERT_EQ(got.size(), want.size()) << what;
    int failures = 0;
    for (size_t i = 0; i < got.size(); ++i) {
        if (std::isfinite(got[i]) && std::fabs(got[i] - want[i]) <= kLogitTolerance) continue;
        if (++failures <= 5) {
            ADD_FAILURE() << what << ": position " << static_cast<int64_t>(i) / vocab << " token "
                          << static_cast<int64_t>(i) % vocab << ": GPU " << got[i] << ", CPU " << want[i];
        }
    }
    EXPECT_EQ(failures, 0) << what << ": " << failures << " of " << got.size() << " logits differ";
}

// (KV cache dtype, prompt tokens per step, KV block size)
class CudaStories260K : public ::testing::TestWithParam<std::tuple<DType, int64_t, int>> {};

TEST_P(CudaStories260K, GreedyIdsMatchLlama2c) {
    std::string why;
    if (!cuda_device_available(&why)) GTEST_SKIP() << why;
    const auto [kv_dtype, batch, block_size] = GetParam();
    GpuEngine g = make_cuda_engine(kv_dtype, batch, block_size);
    ASSERT_NE(g.engine, nullptr);
    const nlohmann::json cases = stories260k_golden()["cases"];
    ASSERT_EQ(cases.size(), 3u);
    for (const auto& c : cases) {
        const auto prompt = c["prompt_ids_with_bos"].get<std::vector<int32_t>>();
        const std::vector<int32_t> want = expected_generation(c);
        const std::vector<int32_t> got =
            testing::greedy(*g.engine, prompt, static_cast<int64_t>(want.size()), /*ignore_eos=*/true);
        EXPECT_EQ(got, want) << "prompt '" << c["prompt"].get<std::string>() << "'";
    }
}

// Batch 512: the 26-token prompt prefills in one cuBLASLt step; batch 3: every step is a graph replay. Block size
// 4 makes decode cross many blocks and grow its (padded) block table through several widths.
INSTANTIATE_TEST_SUITE_P(AllVariants, CudaStories260K,
                         ::testing::Values(std::make_tuple(DType::kF32, int64_t{512}, 16),
                                           std::make_tuple(DType::kF16, int64_t{512}, 16),
                                           std::make_tuple(DType::kF32, int64_t{3}, 16),
                                           std::make_tuple(DType::kF32, int64_t{512}, 4)),
                         [](const auto& info) {
                             return std::string(dtype_name(std::get<0>(info.param))) + "_batch" +
                                    std::to_string(std::get<1>(info.param)) + "_block" +
                                    std::to_string(std::get<2>(info.param));
                         });

// Teacher-forced logits at every position against the CPU engine: 40 tokens in one step (cuBLASLt), the same in
// steps of 5 (graph replays), and 8 tokens in one step; and the first two positions against llama2.c's values.
TEST(CudaStories260KLogits, MatchCpuEngineAndLlama2c) {
    std::string why;
    if (!cuda_device_available(&why)) GTEST_SKIP() << why;
    const nlohmann::json cases = stories260k_golden()["cases"];
    ASSERT_EQ(cases.size(), 3u);
    auto cpu = testing::make_engine(kModel, kTokenizer, DType::kF32);
    ASSERT_NE(cpu.engine, nullptr);
    GpuEngine gpu_one_step = make_cuda_engine(DType::kF32, 512);
    GpuEngine gpu_chunked = make_cuda_engine(DType::kF32, 5);
    ASSERT_NE(gpu_one_step.engine, nullptr);
    ASSERT_NE(gpu_chunked.engine, nullptr);
    const int64_t vocab = cpu.engine->config().vocab_size;
    ASSERT_EQ(gpu_one_step.engine->config().vocab_size, vocab);

    for (const auto& c : cases) {
        const std::string prompt_text = c["prompt"].get<std::string>();
        // The prompt and llama2.c's continuation: the tokens a greedy run feeds back.
        const auto prompt = c["prompt_ids_with_bos"].get<std::vector<int32_t>>();
        const auto next = c["next_ids"].get<std::vector<int32_t>>();
        std::vector<int32_t> ids = prompt;
        ids.insert(ids.end(), next.begin() + static_cast<std::ptrdiff_t>(prompt.size()) - 1, next.end());
        ids.resize(40);
        for (size_t len : {size_t{40}, size_t{8}}) {
            const std::vector<int32_t> seq(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(len));
            Result<std::vector<float>> want = cpu.engine->evaluate(seq);
            ASSERT_TRUE(want.ok()) << want.status().message();
            for (GpuEngine* g : {&gpu_one_step, &gpu_chunked}) {
                Result<std::vector<float>> got = g->engine->evaluate(seq);
                ASSERT_TRUE(got.ok()) << got.status().message();
                expect_logits_near(got.value(), want.value(), vocab,
                                   "prompt '" + prompt_text + "', " + std::to_string(len) + " tokens, " +
                                       (g == &gpu_one_step ? "one step" : "steps of 5"));
                // llama2.c's logits after its first two positions (BOS, then the next forced or generated token).
                for (int pos = 0; pos < 2; ++pos) {
                    const auto first8 = c["logits_first8_at_pos"][std::to_string(pos)].get<std::vector<float>>();
                    for (size_t i = 0; i < first8.size(); ++i) {
                        EXPECT_NEAR(got.value()[pos * vocab + static_cast<int64_t>(i)], first8[i], kLogitTolerance)
                            << "prompt '" << prompt_text << "' position " << pos << " logit " << i;
                    }
                }
            }
        }
    }
}

// Two requests in one engine, interleaved (chunked prefill of one next to decode of the other, two sequences per
// step, scattered KV blocks), each generate exactly what they generate alone; and what they generate alone on the
// GPU is what the CPU engine generates.
TEST(CudaStories260KBatch, InterleavedRequestsMatchSoloRuns) {
    std::string why;
    if (!cuda_device_available(&why)) GTEST_SKIP() << why;
    const std::vector<std::vector<int32_t>> prompts = {
        {1, 403, 407, 261, 378}, {1,   346, 306, 414, 263, 304, 341, 432, 410, 475, 479, 472, 410,
                                  198, 191, 423, 421, 412, 323, 410, 231, 192, 163, 232, 168, 192}};
    const int64_t kNew = 60;
    std::vector<std::vector<int32_t>> alone;
    {
        GpuEngine g = make_cuda_engine(DType::kF32, 512);
        ASSERT_NE(g.engine, nullptr);
        auto cpu = testing::make_engine(kModel, kTokenizer, DType::kF32);
        ASSERT_NE(cpu.engine, nullptr);
        for (const auto& p : prompts) {
            alone.push_back(testing::greedy(*g.engine, p, kNew, true));
            ASSERT_EQ(alone.back().size(), static_cast<size_t>(kNew));
            EXPECT_EQ(alone.back(), testing::greedy(*cpu.engine, p, kNew, true)) << "GPU vs CPU, solo";
        }
    }
    for (int64_t batch : {4, 512}) {
        SCOPED_TRACE("prompt tokens per step " + std::to_string(batch));
        GpuEngine g = make_cuda_engine(DType::kF32, batch);
        ASSERT_NE(g.engine, nullptr);
        for (size_t i = 0; i < prompts.size(); ++i) {
            Request r;
            r.request_id = static_cast<int64_t>(i);
            r.prompt_ids = prompts[i];
            r.max_new_tokens = kNew;
            r.sampling.temperature = 0;
            r.ignore_eos = true;
            ASSERT_TRUE(g.engine->add_request(r).ok());
        }
        std::vector<std::vector<int32_t>> together(prompts.size());
        while (g.engine->has_unfinished()) {
            Result<std::vector<RequestOutput>> out = g.engine->step();
            ASSERT_TRUE(out.ok()) << out.status().message();
            for (const RequestOutput& o : out.value()) {
                ASSERT_GE(o.request_id, 0);
                ASSERT_LT(o.request_id, static_cast<int64_t>(prompts.size()));
                together[static_cast<size_t>(o.request_id)].push_back(o.token_id);
            }
        }
        EXPECT_EQ(together, alone);
    }
}

}  // namespace
}  // namespace frugal
