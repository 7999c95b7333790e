#include "sampling/logits_processor.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace frugal {

void Candidates::sort_descending(size_t keep) {
    auto by_logit = [](const TokenCandidate& a, const TokenCandidate& b) { return a.logit > b.logit; };
    if (keep < items.size()) {
        std::partial_sort(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(keep), items.end(), by_logit);
        items.resize(keep);
    } else if (!sorted) {
        std::sort(items.begin(), items.end(), by_logit);
    }
    sorted = true;
}

std::vector<float> Candidates::probabilities() const {
    std::vector<float> p(items.size());
    if (items.empty()) return p;
    float max_logit = -INFINITY;
    for (const auto& c : items) max_logit = std::max(max_logit, c.logit);
    double sum = 0;
    for (size_t i = 0; i < items.size(); ++i) {
        p[i] = std::exp(items[i].logit - max_logit);
        sum += p[i];
    }
    for (float& v : p) v = static_cast<float>(v / sum);
    return p;
}

namespace {

class Penalties final : public LogitsProcessor {
public:
    Penalties(float repeat, float presence, float frequency, int last_n)
        : repeat_(repeat), presence_(presence), frequency_(frequency), last_n_(last_n) {}
    void apply(Candidates& c, std::span<const int32_t> history) const override {
        if (last_n_ == 0 || (repeat_ == 1.0f && presence_ == 0.0f && frequency_ == 0.0f)) return;
        const size_t n = last_n_ < 0 ? history.size() : std::min(history.size(), static_cast<size_t>(last_n_));
        std::unordered_map<int32_t, int> counts;
        for (size_t i = history.size() - n; i < history.size(); ++i) ++counts[history[i]];
        if (counts.empty()) return;
        for (TokenCandidate& t : c.items) {
            auto it = counts.find(t.id);
            if (it == counts.end()) continue;
            t.logit = t.logit <= 0 ? t.logit * repeat_ : t.logit / repeat_;
            t.logit -= static_cast<float>(it->second) * frequency_ + presence_;
        }
        c.sorted = false;
    }

private:
    float repeat_, presence_, frequency_;
    int last_n_;
};

class TopK final : public LogitsProcessor {
public:
    explicit TopK(int k) : k_(k) {}
    void apply(Candidates& c, std::span<const int32_t>) const override {
        if (k_ <= 0) return;
        c.sort_descending(static_cast<size_t>(k_));
    }

private:
    int k_;
};

class TopP final : public LogitsProcessor {
public:
    explicit TopP(float p) : p_(p) {}
    void apply(Candidates& c, std::span<const int32_t>) const override {
        if (p_ >= 1.0f || c.items.empty()) return;
        c.sort_descending();
        const std::vector<float> probs = c.probabilities();
        double cum = 0;
        size_t keep = probs.size();
        for (size_t i = 0; i < probs.size(); ++i) {
            cum += probs[i];
            if (cum >= p_) {
                keep = i + 1;
                break;
            }
        }
        c.items.resize(std::max<size_t>(keep, 1));
    }

private:
    float p_;
};

class MinP final : public LogitsProcessor {
public:
    explicit MinP(float p) : p_(p) {}
    void apply(Candidates& c, std::span<const int32_t>) const override {
        if (p_ <= 0.0f || c.items.empty()) return;
        float max_logit = -INFINITY;
        for (const auto& t : c.items) max_logit = std::max(max_logit, t.logit);
        // p_i >= p * p_max  <=>  logit_i >= logit_max + log(p)
        const float threshold = max_logit + std::log(p_);
        std::erase_if(c.items, [&](const TokenCandidate& t) { return t.logit < threshold; });
    }

private:
    float p_;
};

class Temperature final : public LogitsProcessor {
public:
    explicit Temperature(float t) : t_(t) {}
    void apply(Candidates& c, std::span<const int32_t>) const override {
        for (TokenCandidate& t : c.items) t.logit /= t_;
    }

private:
    float t_;
};

}  // namespace

std::unique_ptr<LogitsProcessor> make_penalties(float repeat, float presence, float frequency, int last_n) {
    return std::make_unique<Penalties>(repeat, presence, frequency, last_n);
}
std::unique_ptr<LogitsProcessor> make_top_k(int k) { return std::make_unique<TopK>(k); }
std::unique_ptr<LogitsProcessor> make_top_p(float p) { return std::make_unique<TopP>(p); }
std::unique_ptr<LogitsProcessor> make_min_p(float p) { return std::make_unique<MinP>(p); }
std::unique_ptr<LogitsProcessor> make_temperature(float t) { return std::make_unique<Temperature>(t); }

}  // namespace frugal
