// Sampling on the GPU (Backend::sample) against the host Sampler: for the same logits and the same seed, the GPU
// must pick exactly the token the Sampler picks, for greedy rows and for the top-k -> top-p -> min-p ->
// temperature chain, across vocabulary sizes, softcaps and many draws. End to end, a seeded sampled generation of
// stories260K on the GPU engine (device sampling) must equal the CPU engine's. Skipped without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cuda/cuda_backend.h"
#include "model/stories260k_golden.h"
#include "model/test_util.h"
#include "sampling/sampler.h"

namespace frugal {
namespace {

struct Chain {
    float temperature;
    int top_k;
    float top_p;
    float min_p;
};

// Greedy, llama.cpp's defaults, and chains where each stage binds.
const std::vector<Chain> kChains = {
    {0.0f, 40, 0.95f, 0.05f},  {0.8f, 40, 0.95f, 0.05f}, {1.5f, 1024, 1.0f, 0.0f},
    {0.5f, 1, 1.0f, 0.0f},     {1.0f, 300, 0.5f, 0.1f},  {2.0f, 200, 0.99f, 0.0f},
    {1.0f, 64, 1.0f, 0.3f},
};

SamplingParams params_of(const Chain& c, uint64_t seed) {
    SamplingParams p;
    p.temperature = c.temperature;
    p.top_k = c.top_k;
    p.top_p = c.top_p;
    p.min_p = c.min_p;
    p.seed = seed;
    return p;
}

void check_against_sampler(Backend& be, int64_t vocab, float softcap, std::mt19937& rng) {
    const auto n = static_cast<int64_t>(kChains.size());
    std::normal_distribution<float> dist(0.0f, 3.0f);
    std::vector<float> logits(static_cast<size_t>(n * vocab));
    for (float& v : logits) v = dist(rng);
    // A tie for the maximum in the greedy row: the first one wins.
    const auto top = std::max_element(logits.begin(), logits.begin() + vocab) - logits.begin();
    logits[static_cast<size_t>(vocab - 1)] = logits[static_cast<size_t>(top)];
    auto lbuf = be.allocate(logits.size() * 4);
    auto ibuf = be.allocate(static_cast<size_t>(n) * 4);
    const Tensor lt(lbuf->data(), DType::kF32, {vocab, n});
    const Tensor it(ibuf->data(), DType::kI32, {n});
    be.copy_to_device(lt, logits.data(), logits.size() * 4);
    std::vector<float> host = logits;  // what the host samples from: softcapped as the model does
    if (softcap > 0) {
        for (float& v : host) v = softcap * std::tanh(v / softcap);
    }
    for (uint64_t seed = 1; seed <= 25; ++seed) {
        std::vector<SamplingRow> rows;
        std::vector<int32_t> expected;
        for (int64_t r = 0; r < n; ++r) {
            const SamplingParams p = params_of(kChains[r], seed * 7919 + static_cast<uint64_t>(r));
            Sampler for_uniform(p);
            std::optional<SamplingRow> row = for_uniform.device_row();
            ASSERT_TRUE(row.has_value());
            ASSERT_TRUE(be.can_sample(*row));
            if (row->temperature > 0) row->uniform = for_uniform.draw_uniform();
            rows.push_back(*row);
            Sampler reference(p);
            expected.push_back(reference.sample(
                std::span<const float>(host.data() + r * vocab, static_cast<size_t>(vocab)), {}));
        }
        be.sample(lt, rows.data(), n, softcap, it);
        std::vector<int32_t> got(static_cast<size_t>(n));
        be.copy_to_host(got.data(), it, got.size() * 4);
        for (int64_t r = 0; r < n; ++r) {
            EXPECT_EQ(got[r], expected[r]) << "vocab " << vocab << " softcap " << softcap << " seed " << seed
                                           << " chain " << r << " (temperature " << kChains[r].temperature
                                           << ", top_k " << kChains[r].top_k << ", top_p " << kChains[r].top_p
                                           << ", min_p " << kChains[r].min_p << ")";
        }
        if (seed == 1) {
            EXPECT_EQ(got[0], static_cast<int32_t>(top)) << "greedy takes the first maximum";
        }
    }
}

TEST(CudaSampleTest, MatchesHostSampler) {
    std::string why;
    if (!cuda_device_available(&why)) GTEST_SKIP() << why;
    Result<std::unique_ptr<Backend>> be = create_cuda_backend(CudaBackendOptions{});
    ASSERT_TRUE(be.ok()) << be.status().message();
    std::mt19937 rng(1234);
    for (int64_t vocab : {512, 50257, 128256}) {
        for (float softcap : {0.0f, 30.0f}) check_against_sampler(**be, vocab, softcap, rng);
    }
}

// Rows that are all greedy take a many-block argmax: it must return each row's first maximum for any vocabulary size
// (one logit, sizes around its chunk of 4096, Llama 3's, one past 256K) with ties across chunks.
TEST(CudaSampleTest, GreedyRowsTakeTheFirstMaximum) {
    std::string why;
    if (!cuda_device_available(&why)) GTEST_SKIP() << why;
    Result<std::unique_ptr<Backend>> be = create_cuda_backend(CudaBackendOptions{});
    ASSERT_TRUE(be.ok()) << be.status().message();
    std::mt19937 rng(99);
    std::normal_distribution<float> dist(0.0f, 3.0f);
    for (int64_t vocab : {1, 7, 4095, 4096, 4097, 50257, 128256, 262145}) {
        for (int64_t n : {1, 3}) {
            std::vector<float> logits(static_cast<size_t>(n * vocab));
            for (float& v : logits) v = dist(rng);
            std::vector<int32_t> expected;
            for (int64_t r = 0; r < n; ++r) {
                float* row = logits.data() + r * vocab;
                std::uniform_int_distribution<int64_t> pick(0, vocab - 1);
                const int64_t a = pick(rng), b = pick(rng);
                // Row 1 ties two positions at the top (likely in different chunks); row 2 is all -inf but one.
                if (r == 1) row[a] = row[b] = 100.0f;
                if (r == 2) {
                    std::fill(row, row + vocab, -INFINITY);
                    row[b] = -1e30f;
                }
                expected.push_back(static_cast<int32_t>(std::max_element(row, row + vocab) - row));
            }
            auto lbuf = (*be)->allocate(logits.size() * 4);
            auto ibuf = (*be)->allocate(static_cast<size_t>(n) * 4);
            const Tensor lt(lbuf->data(), DType::kF32, {vocab, n});
            const Tensor it(ibuf->data(), DType::kI32, {n});
            (*be)->copy_to_device(lt, logits.data(), logits.size() * 4);
            SamplingParams greedy;
            greedy.temperature = 0.0f;
            const std::vector<SamplingRow> rows(static_cast<size_t>(n), *Sampler(greedy).device_row());
            ASSERT_LE(rows[0].temperature, 0.0f);
            (*be)->sample(lt, rows.data(), n, 0.0f, it);
            std::vector<int32_t> got(static_cast<size_t>(n));
            (*be)->copy_to_host(got.data(), it, got.size() * 4);
            EXPECT_EQ(got, expected) << "vocab " << vocab << ", " << n << " rows";
        }
    }
}

TEST(CudaSampleTest, DeclinesChainsItCannotRun) {
    std::string why;
    if (!cuda_device_available(&why)) GTEST_SKIP() << why;
    Result<std::unique_ptr<Backend>> be = create_cuda_backend(CudaBackendOptions{});
    ASSERT_TRUE(be.ok()) << be.status().message();
    SamplingRow row;
    row.temperature = 0.8f;
    row.top_k = 0;  // the whole vocabulary: left to the host
    EXPECT_FALSE((*be)->can_sample(row));
    row.top_k = 1025;
    EXPECT_FALSE((*be)->can_sample(row));
    row.top_k = 1024;
    EXPECT_TRUE((*be)->can_sample(row));
    SamplingParams penalized;
    penalized.repeat_penalty = 1.1f;
    EXPECT_FALSE(Sampler(penalized).device_row().has_value()) << "penalties need the history: host sampling";
}

// Seeded sampling through the engine: the GPU samples on the device, the CPU from host logits; both draw from
// the same seeded generator, so the generations agree (the logits differ only by float rounding, ~1e-4, far
// from moving a draw across a probability boundary for these prompts).
TEST(CudaSampleTest, SeededGenerationMatchesCpuEngine) {
    std::string why;
    if (!cuda_device_available(&why)) GTEST_SKIP() << why;
    auto generate = [](std::unique_ptr<Backend> backend, const std::vector<int32_t>& prompt, uint64_t seed) {
        std::vector<int32_t> ids;
        Result<std::unique_ptr<ModelSource>> source =
            ModelSource::open(testing::stories260k_model(), testing::stories260k_tokenizer());
        EXPECT_TRUE(source.ok());
        if (!source.ok()) return ids;
        EngineOptions eo;
        eo.context_length = 512;
        Result<std::unique_ptr<Engine>> engine = Engine::create(**source, std::move(backend), eo);
        EXPECT_TRUE(engine.ok());
        if (!engine.ok()) return ids;
        Request r;
        r.request_id = 1;
        r.prompt_ids = prompt;
        r.max_new_tokens = 60;
        r.ignore_eos = true;
        r.sampling.temperature = 0.9f;
        r.sampling.seed = seed;
        EXPECT_TRUE((*engine)->add_request(r).ok());
        while ((*engine)->has_unfinished()) {
            Result<std::vector<RequestOutput>> out = (*engine)->step();
            EXPECT_TRUE(out.ok());
            if (!out.ok()) break;
            for (const RequestOutput& o : *out) ids.push_back(o.token_id);
        }
        return ids;
    };
    for (uint64_t seed : {7u, 42u, 1234u}) {
        const std::vector<int32_t> prompt = {1, 403, 407};
        Result<std::unique_ptr<Backend>> gpu = create_cuda_backend(CudaBackendOptions{});
        ASSERT_TRUE(gpu.ok());
        const std::vector<int32_t> on_gpu = generate(std::move(gpu).value(), prompt, seed);
        const std::vector<int32_t> on_cpu = generate(std::make_unique<CpuBackend>(CpuBackendOptions{}), prompt, seed);
        ASSERT_EQ(on_gpu.size(), 60u);
        EXPECT_EQ(on_gpu, on_cpu) << "seed " << seed;
    }
}

}  // namespace
}  // namespace frugal
