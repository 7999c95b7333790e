#include "sampling/sampler.h"

#include <algorithm>
#include <cmath>

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
    if (params_.temperature <= 0 && !has_penalties()) {
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
    // Inverse CDF over the survivors in their order (descending once any processor sorted them), as SamplingRow says.
    const std::vector<float> probs = candidates_.probabilities();
    const double u = draw_uniform();
    double cum = 0;
    for (size_t i = 0; i < probs.size(); ++i) {
        cum += probs[i];
        if (cum > u) return candidates_.items[i].id;
    }
    return candidates_.items.back().id;
}

bool Sampler::has_penalties() const {
    return params_.repeat_last_n != 0 &&
           (params_.repeat_penalty != 1.0f || params_.presence_penalty != 0.0f || params_.frequency_penalty != 0.0f);
}

std::optional<SamplingRow> Sampler::device_row() const {
    if (has_penalties()) return std::nullopt;
    SamplingRow row;
    row.temperature = params_.temperature;
    row.top_k = params_.top_k;
    row.top_p = params_.top_p;
    row.min_p = params_.min_p;
    return row;
}

double Sampler::draw_uniform() {
    const double u = std::generate_canonical<double, 64>(rng_);
    return u < 1.0 ? u : std::nextafter(1.0, 0.0);  // generate_canonical may round up to 1
}

}  // namespace frugal
