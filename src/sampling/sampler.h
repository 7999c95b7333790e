// Sampler: a chain of logits processors (penalties, top-k, top-p, min-p, temperature, in llama.cpp's default
// order) followed by a seeded draw, or argmax when the temperature is zero. One per sequence; not thread-safe.
#pragma once

#include <memory>
#include <random>
#include <span>
#include <vector>

#include "sampling/logits_processor.h"
#include "sampling/sampling_params.h"

namespace frugal {

class Sampler {
public:
    explicit Sampler(const SamplingParams& params);
    // Picks the next token from full-vocabulary logits. history: prompt and generated tokens so far.
    int32_t sample(std::span<const float> logits, std::span<const int32_t> history);

private:
    SamplingParams params_;
    std::vector<std::unique_ptr<LogitsProcessor>> chain_;
    std::mt19937_64 rng_;
    Candidates candidates_;
};

}  // namespace frugal
