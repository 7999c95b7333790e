// The Hugging Face fixtures (tests/data/hf, logits from transformers) on the GPU: every architecture, dense,
// mixture-of-experts (Mixtral, Qwen2-MoE, Qwen3-MoE) and multi-head latent attention (DeepSeek-V2-Lite, V2, V3),
// must give transformers' logits at all 40 positions and its greedy continuation, like the CPU backend does.
// Without a GPU every test reports itself skipped.
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backend/cuda/cuda_backend.h"
#include "model/test_util.h"

namespace frugal {
namespace {

// F32 weights and an F32 KV cache; GPU and CPU differ by float summation order only (the CPU is within 1.2e-5 of
// transformers). The bound is 1e-3.
constexpr double kMaxAbsLogitError = 1e-3;

std::string fixture(const std::string& name) { return std::string(FRUGAL_TEST_DATA_DIR) + "/hf/" + name; }

Result<std::unique_ptr<Engine>> cuda_engine(const ModelSource& source) {
    ASSIGN_OR_RETURN(std::unique_ptr<Backend> backend, create_cuda_backend(CudaBackendOptions{}));
    EngineOptions eo;
    eo.context_length = 256;
    eo.kv_dtype = DType::kF32;
    eo.max_batch_tokens = 64;
    return Engine::create(source, std::move(backend), eo);
}

class CudaHfFixture : public ::testing::TestWithParam<std::string> {};

TEST_P(CudaHfFixture, LogitsAndGreedyMatchTransformers) {
    std::string why;
    if (!cuda_device_available(&why)) GTEST_SKIP() << why;
    const std::string dir = fixture(GetParam());
    std::ifstream in(dir + "/reference.json");
    const nlohmann::json ref = nlohmann::json::parse(in);
    const auto prompt = ref["prompt_ids"].get<std::vector<int32_t>>();
    const auto greedy = ref["greedy_ids"].get<std::vector<int32_t>>();
    const int64_t vocab = ref["logits_shape"][1].get<int64_t>();
    std::vector<float> want(static_cast<size_t>(ref["logits_shape"][0].get<int64_t>() * vocab));
    std::ifstream bin(dir + "/logits.bin", std::ios::binary);
    bin.read(reinterpret_cast<char*>(want.data()), static_cast<std::streamsize>(want.size() * sizeof(float)));
    ASSERT_TRUE(bin.good());

    Result<std::unique_ptr<ModelSource>> source = ModelSource::open(dir);
    ASSERT_TRUE(source.ok()) << source.status().message();
    Result<std::unique_ptr<Engine>> engine = cuda_engine(*source.value());
    ASSERT_TRUE(engine.ok()) << engine.status().message();
    std::vector<int32_t> all = prompt;
    all.insert(all.end(), greedy.begin(), greedy.end());
    Result<std::vector<float>> logits = engine.value()->evaluate(all);
    ASSERT_TRUE(logits.ok()) << logits.status().message();
    ASSERT_EQ(logits->size(), want.size());
    double max_err = 0;
    for (size_t i = 0; i < want.size(); ++i) {
        const double err = std::isfinite((*logits)[i]) ? std::abs((*logits)[i] - want[i]) : INFINITY;
        if (!(err <= max_err)) max_err = err;
    }
    EXPECT_LE(max_err, kMaxAbsLogitError);
    EXPECT_EQ(testing::greedy(*engine.value(), prompt, static_cast<int64_t>(greedy.size()), true), greedy);
    std::printf("[cuda %s] max |logit error| %.2e\n", GetParam().c_str(), max_err);
}

INSTANTIATE_TEST_SUITE_P(Dense, CudaHfFixture, ::testing::Values("llama", "llama31", "qwen2", "qwen2_yarn", "qwen3"));

INSTANTIATE_TEST_SUITE_P(MixtureOfExperts, CudaHfFixture, ::testing::Values("mixtral", "qwen2_moe", "qwen3_moe"));
INSTANTIATE_TEST_SUITE_P(LatentAttention, CudaHfFixture,
                         ::testing::Values("deepseek_v2_lite", "deepseek_v2", "deepseek_v3"));

}  // namespace
}  // namespace frugal
