// Sampler: a chain of logits processors (penalties, top-k, top-p, min-p, temperature, in llama.cpp's default
// order) followed by a seeded draw, or argmax when the temperature is zero. One per sequence; not thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <random>
#include <span>
#include <vector>

#include "backend/backend.h"
#include "sampling/logits_processor.h"
#include "sampling/sampling_params.h"

namespace frugal {

class Sampler {
public:
    explicit Sampler(const SamplingParams& params);
    // Picks the next token from full-vocabulary logits. history: prompt and generated tokens so far.
    int32_t sample(std::span<const float> logits, std::span<const int32_t> history);

    // The chain as one Backend::sample row (its uniform still to draw), when it needs no history (no penalties);
    // nullopt otherwise. A device draw and sample() pick the same token from the same logits and uniform.
    std::optional<SamplingRow> device_row() const;
    // The uniform in [0, 1) of one sampling step (greedy steps draw none), from the generator sample() draws from,
    // so a seed gives one sequence of draws whichever side samples.
    double draw_uniform();

private:
    bool has_penalties() const;

    SamplingParams params_;
    std::vector<std::unique_ptr<LogitsProcessor>> chain_;
    std::mt19937_64 rng_;
    Candidates candidates_;
};

}  // namespace frugal
