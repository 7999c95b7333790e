// Log-probabilities of a logits row and the KL divergence between two such rows: what perplexity, KL measurement
// and log-likelihood scoring share. Sums run in double; T (float or double) is only the storage.
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace frugal {

// out[i] = log softmax(logits)[i].
template <typename T>
void log_softmax(const float* logits, int64_t n, std::vector<T>& out) {
    out.resize(static_cast<size_t>(n));
    double max = logits[0];
    for (int64_t i = 1; i < n; ++i) max = std::max<double>(max, logits[i]);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += std::exp(logits[i] - max);
    const double log_sum = std::log(sum) + max;
    for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = static_cast<T>(logits[i] - log_sum);
}

// KL(p || q) from log-probabilities: sum_i p_i (log p_i - log q_i).
template <typename T>
double kl_divergence(const std::vector<T>& log_p, const std::vector<T>& log_q) {
    double kl = 0;
    for (size_t i = 0; i < log_p.size(); ++i) {
        const double p = std::exp(static_cast<double>(log_p[i]));
        if (p > 0) kl += p * (static_cast<double>(log_p[i]) - static_cast<double>(log_q[i]));
    }
    return kl;
}

}  // namespace frugal
