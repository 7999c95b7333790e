// Gemma 3 270M (Q4_K_M GGUF) against an independent implementation of the same file: llama.cpp, through
// scripts/gemma_reference.py. Teacher forcing: feed llama.cpp's own greedy continuation and compare next-token
// distributions at every position. The two engines quantize activations differently, so near-ties may flip:
// argmax must agree wherever llama.cpp's top-2 margin exceeds 0.1, and the mean KL divergence must stay small.
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "test_util.h"

namespace frugal {
namespace {

constexpr double kMarginForArgmax = 0.1;
constexpr double kMaxMeanKl = 0.01;

const std::string kModel = std::string(FRUGAL_MODELS_DIR) + "/gemma-3-270m-q4_k_m.gguf";

// KL(ref || ours) over the reference's top-K ids plus one bucket for the rest of the vocabulary.
double bucket_kl(const nlohmann::json& pos, const float* logits, int64_t vocab) {
    double max_logit = -INFINITY;
    for (int64_t v = 0; v < vocab; ++v) max_logit = std::max<double>(max_logit, logits[v]);
    double sum = 0;
    for (int64_t v = 0; v < vocab; ++v) sum += std::exp(logits[v] - max_logit);
    const double log_z = max_logit + std::log(sum);
    const auto ids = pos["top_ids"].get<std::vector<int64_t>>();
    const auto ref_logp = pos["top_logprobs"].get<std::vector<double>>();
    double kl = 0, ours_top = 0, ref_top = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
        const double q = logits[ids[i]] - log_z;
        kl += std::exp(ref_logp[i]) * (ref_logp[i] - q);
        ours_top += std::exp(q);
        ref_top += std::exp(ref_logp[i]);
    }
    const double p_rest = std::max(1e-12, 1.0 - ref_top);
    const double q_rest = std::max(1e-12, 1.0 - ours_top);
    return kl + p_rest * (std::log(p_rest) - std::log(q_rest));
}

TEST(Gemma3Reference, TeacherForcedDistributionsMatchLlamaCpp) {
    if (!std::filesystem::exists(kModel)) GTEST_SKIP() << kModel << " not installed (run scripts/install_deps.sh)";
    std::ifstream in(std::string(FRUGAL_TESTS_DIR) + "/model/data/gemma3_270m_reference.json");
    ASSERT_TRUE(in.good());
    const nlohmann::json ref = nlohmann::json::parse(in);
    auto t = testing::make_engine(kModel, "", DType::kF16, 2);
    ASSERT_NE(t.engine, nullptr);
    ASSERT_NE(t.engine->tokenizer(), nullptr);
    const int64_t vocab = t.engine->config().vocab_size;
    ASSERT_EQ(vocab, ref["generator"]["n_vocab"].get<int64_t>());

    ASSERT_GE(ref["prompts"].size(), 3u);
    for (const auto& p : ref["prompts"]) {
        const std::string prompt = p["prompt"].get<std::string>();
        const auto prompt_ids = p["prompt_ids"].get<std::vector<int32_t>>();
        EXPECT_EQ(t.engine->tokenizer()->encode(prompt, true, p["special_tokens"].get<bool>()), prompt_ids) << prompt;
        std::vector<int32_t> ids = prompt_ids;
        for (int32_t id : p["continuation_ids"].get<std::vector<int32_t>>()) ids.push_back(id);
        Result<std::vector<float>> logits = t.engine->evaluate(ids);
        ASSERT_TRUE(logits.ok()) << logits.status().message();

        double kl_sum = 0;
        int checked_argmax = 0;
        const auto& positions = p["positions"];
        for (size_t j = 0; j < positions.size(); ++j) {
            const size_t row = prompt_ids.size() - 1 + j;
            const float* l = logits.value().data() + row * vocab;
            kl_sum += bucket_kl(positions[j], l, vocab);
            if (positions[j]["margin"].get<double>() > kMarginForArgmax) {
                const int64_t ours = std::max_element(l, l + vocab) - l;
                EXPECT_EQ(ours, positions[j]["top_ids"][0].get<int64_t>())
                    << "prompt '" << prompt << "' position " << row << " (llama.cpp margin "
                    << positions[j]["margin"].get<double>() << ")";
                ++checked_argmax;
            }
        }
        const double mean_kl = kl_sum / static_cast<double>(positions.size());
        EXPECT_LT(mean_kl, kMaxMeanKl) << "prompt '" << prompt << "'";
        EXPECT_GT(checked_argmax, 10) << "too few confident positions to check in '" << prompt << "'";
        std::printf("[gemma3] '%s': mean KL %.5f over %zu positions, argmax checked at %d\n", prompt.c_str(), mean_kl,
                    positions.size(), checked_argmax);
    }
}

}  // namespace
}  // namespace frugal
