#include "sampling/sampler.h"

#include <algorithm>

namespace frugal {

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {
    chain_.push_back(make_penalties(params.repeat_penalty, params.presence_penalty, params.frequency_penalty,
                                    params.repeat_last_n));
    if (params.temperature > 0) {
        chain_.push_back(make_top_k(params.top_k));
        chain_.push_back(make_top_p(params.top_p));
        chain_.push_back(make_min_p(params.min_p));
        chain_.push_back(make_temperature(params.temperature));
    }
}

int32_t Sampler::sample(std::span<const float> logits, std::span<const int32_t> history) {
    const bool penalties = params_.repeat_last_n != 0 &&
                           (params_.repeat_penalty != 1.0f || params_.presence_penalty != 0.0f ||
                            params_.frequency_penalty != 0.0f);
    if (params_.temperature <= 0 && !penalties) {
        // Plain greedy: the first maximum, without building the candidate list.
        return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    }
    candidates_.items.resize(logits.size());
    for (size_t i = 0; i < logits.size(); ++i) candidates_.items[i] = {static_cast<int32_t>(i), logits[i]};
    candidates_.sorted = false;
    for (const auto& p : chain_) p->apply(candidates_, history);
    if (params_.temperature <= 0) {
        // Greedy: the first maximum, as argmax in llama2.c and llama.cpp.
        const TokenCandidate* best = &candidates_.items[0];
        for (const TokenCandidate& t : candidates_.items) {
            if (t.logit > best->logit) best = &t;
        }
        return best->id;
    }
    const std::vector<float> probs = candidates_.probabilities();
    std::discrete_distribution<size_t> dist(probs.begin(), probs.end());
    return candidates_.items[dist(rng_)].id;
}

}  // namespace frugal
