// Logits processors: each one narrows or reshapes the candidate set in place. A Sampler runs a chain of them
// and then draws a token. Candidates may arrive unsorted; processors that need order sort them and say so.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace frugal {

struct TokenCandidate {
    int32_t id;
    float logit;
};

struct Candidates {
    std::vector<TokenCandidate> items;
    bool sorted = false;  // descending by logit

    void sort_descending(size_t keep = SIZE_MAX);
    // Softmax probabilities of the current items (in their current order).
    std::vector<float> probabilities() const;
};

class LogitsProcessor {
public:
    virtual ~LogitsProcessor() = default;
    // history: previously generated and prompt tokens, oldest first.
    virtual void apply(Candidates& c, std::span<const int32_t> history) const = 0;
};

// Repetition (multiplicative, llama.cpp / CTRL style), presence and frequency (OpenAI style) penalties over the
// last `last_n` tokens of history.
std::unique_ptr<LogitsProcessor> make_penalties(float repeat, float presence, float frequency, int last_n);
std::unique_ptr<LogitsProcessor> make_top_k(int k);
std::unique_ptr<LogitsProcessor> make_top_p(float p);
std::unique_ptr<LogitsProcessor> make_min_p(float p);
std::unique_ptr<LogitsProcessor> make_temperature(float t);

}  // namespace frugal
