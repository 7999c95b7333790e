// Llama (3-style), Qwen2 and Qwen3 against Hugging Face transformers. scripts/make_arch_fixtures.py builds a tiny
// random model per architecture (GQA 4:2; Qwen3 with head size 32 != dim / heads; tied embeddings for the Qwens),
// converts it to an F32 GGUF with llama.cpp's convert_hf_to_gguf.py and records transformers' float64 logits for
// two prompts plus the greedy continuation from its KV-cached decoding. Every CPU ISA variant must reproduce the
// teacher-forced logits and the greedy chain.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_util.h"

namespace frugal {
namespace {

// F32 weights keep F32 activations (vec_dot_type F32), so the only differences from the float64 reference are
// float32 rounding in ~10 chained dot products of length <= 128, the polynomial exp/SiLU of the SIMD paths
// (~1e-7 relative) and the 6-digit rounding of the fixture (5e-7 at |logit| ~ 1). Logits are O(1), so those
// sum to ~1e-5; 1e-4 leaves a margin of ~10x while a wrong RoPE pairing, a missing bias or norm moves logits by
// 1e-2 or more.
constexpr double kMaxAbsLogitError = 1e-4;
constexpr int64_t kGreedyTokens = 8;

const CpuIsa kIsas[] = {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512};

std::string fixture(const std::string& name) { return std::string(FRUGAL_TESTS_DIR) + "/model/data/arch/" + name; }

class ArchReference : public ::testing::TestWithParam<std::string> {};

TEST_P(ArchReference, LogitsAndGreedyMatchTransformers) {
    const std::string arch = GetParam();
    std::ifstream in(fixture(arch + ".json"));
    ASSERT_TRUE(in.good()) << fixture(arch + ".json");
    const nlohmann::json ref = nlohmann::json::parse(in);
    ASSERT_EQ(ref["arch"].get<std::string>(), arch);
    ASSERT_EQ(ref["prompts"].size(), 2u);

    int checked_isas = 0;
    for (CpuIsa isa : kIsas) {
        if (!cpu_isa_supported(isa)) continue;
        ++checked_isas;
        SCOPED_TRACE(std::string(cpu_isa_name(isa)));
        auto t = testing::make_engine(fixture(arch + ".gguf"), "", DType::kF32, 2, 512, isa);
        ASSERT_NE(t.engine, nullptr);
        EXPECT_EQ(t.engine->tokenizer(), nullptr) << "the fixture carries no vocabulary";
        ASSERT_EQ(t.engine->config().arch, arch);
        const int64_t vocab = t.engine->config().vocab_size;
        ASSERT_EQ(vocab, ref["config"]["vocab_size"].get<int64_t>());
        const nlohmann::json& cfg = ref["config"];
        const int64_t head_dim = cfg.contains("head_dim")
                                     ? cfg["head_dim"].get<int64_t>()
                                     : cfg["hidden_size"].get<int64_t>() / cfg["num_attention_heads"].get<int64_t>();
        ASSERT_EQ(t.engine->config().head_dim, head_dim);
        ASSERT_EQ(t.engine->config().num_kv_heads, cfg["num_key_value_heads"].get<int64_t>());

        for (size_t p = 0; p < ref["prompts"].size(); ++p) {
            const auto& prompt = ref["prompts"][p];
            const auto ids = prompt["ids"].get<std::vector<int32_t>>();
            const auto want = prompt["logits"].get<std::vector<std::vector<double>>>();
            ASSERT_EQ(want.size(), ids.size());

            Result<std::vector<float>> logits = t.engine->evaluate(ids);
            ASSERT_TRUE(logits.ok()) << logits.status().message();
            ASSERT_EQ(logits.value().size(), ids.size() * static_cast<size_t>(vocab));
            double max_err = 0;
            size_t worst_row = 0, worst_col = 0;
            for (size_t row = 0; row < ids.size(); ++row) {
                ASSERT_EQ(want[row].size(), static_cast<size_t>(vocab));
                for (int64_t v = 0; v < vocab; ++v) {
                    const double got = logits.value()[row * vocab + v];
                    const double err = std::isfinite(got) ? std::abs(got - want[row][v]) : INFINITY;
                    if (err > max_err || std::isnan(err)) {
                        max_err = err;
                        worst_row = row;
                        worst_col = static_cast<size_t>(v);
                    }
                }
            }
            EXPECT_LE(max_err, kMaxAbsLogitError)
                << arch << " prompt " << p << ": worst at position " << worst_row << ", token " << worst_col << ": "
                << logits.value()[worst_row * vocab + worst_col] << " vs " << want[worst_row][worst_col];

            const auto greedy = testing::greedy(*t.engine, ids, kGreedyTokens, true);
            EXPECT_EQ(greedy, prompt["greedy"].get<std::vector<int32_t>>())
                << arch << " prompt " << p << " (reference's smallest top-2 margin "
                << prompt["greedy_min_margin"].get<double>() << ")";
            std::printf("[%s/%s] prompt %zu: max |logit error| %.2e over %zu x %lld\n", arch.c_str(),
                        std::string(cpu_isa_name(isa)).c_str(), p, max_err, ids.size(), static_cast<long long>(vocab));
        }
    }
    EXPECT_GE(checked_isas, 1);
}

INSTANTIATE_TEST_SUITE_P(Arch, ArchReference, ::testing::Values("llama", "qwen2", "qwen3"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

}  // namespace
}  // namespace frugal
