// Logits processors and the Sampler: each processor keeps exactly the expected candidates on hand-made
// distributions; penalties touch only tokens seen within repeat_last_n; greedy is the first argmax; top-k = 1 is
// greedy at any temperature; seeding is reproducible; and draws follow the (processed) distribution, checked with
// a chi-square bound over 10,000 draws.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <vector>

#include "sampling/logits_processor.h"
#include "sampling/sampler.h"
#include "sampling/sampling_params.h"

namespace frugal {
namespace {

// Chi-square critical value for 1 to 9 degrees of freedom at p = 1e-6: a correct sampler fails about once in a
// million runs, a wrong distribution (a few percent off over 10,000 draws) fails always.
constexpr double kChiSquare1e6[] = {0, 23.93, 27.63, 30.66, 33.38, 35.89, 38.26, 40.52, 42.70, 44.81};

Candidates make_candidates(const std::vector<float>& logits, bool shuffle = false) {
    Candidates c;
    for (size_t i = 0; i < logits.size(); ++i) c.items.push_back({static_cast<int32_t>(i), logits[i]});
    if (shuffle) {
        std::mt19937 rng(7);
        std::shuffle(c.items.begin(), c.items.end(), rng);
    }
    return c;
}

std::set<int32_t> ids(const Candidates& c) {
    std::set<int32_t> s;
    for (const TokenCandidate& t : c.items) s.insert(t.id);
    return s;
}

float logit_of(const Candidates& c, int32_t id) {
    for (const TokenCandidate& t : c.items) {
        if (t.id == id) return t.logit;
    }
    ADD_FAILURE() << "id " << id << " missing";
    return NAN;
}

// Logits whose softmax is exactly proportional to p.
std::vector<float> logits_for(const std::vector<double>& p) {
    std::vector<float> l;
    for (double v : p) l.push_back(static_cast<float>(std::log(v)));
    return l;
}

// p = {0.5, 0.25, 0.125, 0.0625, 0.0625}
const std::vector<double> kHalving = {0.5, 0.25, 0.125, 0.0625, 0.0625};

SamplingParams plain(float temperature, uint64_t seed) {
    SamplingParams p;
    p.temperature = temperature;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.seed = seed;
    return p;
}

TEST(LogitsProcessorTest, ProbabilitiesAreASoftmax) {
    Candidates c = make_candidates(logits_for(kHalving));
    const std::vector<float> p = c.probabilities();
    ASSERT_EQ(p.size(), kHalving.size());
    for (size_t i = 0; i < p.size(); ++i) EXPECT_NEAR(p[i], kHalving[i], 1e-6);
    // Large logits do not overflow.
    Candidates big = make_candidates({1000.0f, 999.0f});
    const std::vector<float> pb = big.probabilities();
    EXPECT_NEAR(pb[0], 1.0 / (1.0 + std::exp(-1.0)), 1e-6);
    EXPECT_TRUE(Candidates{}.probabilities().empty());
}

TEST(LogitsProcessorTest, TopKKeepsTheKLargest) {
    for (bool shuffle : {false, true}) {
        Candidates c = make_candidates({0.1f, 3.0f, -1.0f, 2.0f, 5.0f, 0.0f}, shuffle);
        make_top_k(3)->apply(c, {});
        EXPECT_EQ(ids(c), (std::set<int32_t>{1, 3, 4}));
        ASSERT_EQ(c.items.size(), 3u);
        EXPECT_TRUE(c.sorted);
        EXPECT_EQ(c.items[0].id, 4);  // sorted descending
        EXPECT_EQ(c.items[2].id, 3);
    }
    Candidates all = make_candidates({1, 2, 3});
    make_top_k(10)->apply(all, {});
    EXPECT_EQ(all.items.size(), 3u);
    Candidates off = make_candidates({1, 2, 3});
    make_top_k(0)->apply(off, {});
    EXPECT_EQ(off.items.size(), 3u);
}

TEST(LogitsProcessorTest, TopPKeepsTheSmallestPrefixReachingP) {
    struct Case {
        float p;
        std::set<int32_t> keep;
    };
    // Cumulative: 0.5, 0.75, 0.875, 0.9375, 1.0
    const Case cases[] = {{0.3f, {0}},       {0.6f, {0, 1}},          {0.8f, {0, 1, 2}},
                          {0.9f, {0, 1, 2, 3}}, {0.99f, {0, 1, 2, 3, 4}}, {1.0f, {0, 1, 2, 3, 4}},
                          {0.0f, {0}}};
    for (const Case& k : cases) {
        for (bool shuffle : {false, true}) {
            Candidates c = make_candidates(logits_for(kHalving), shuffle);
            make_top_p(k.p)->apply(c, {});
            EXPECT_EQ(ids(c), k.keep) << "top_p " << k.p << (shuffle ? " shuffled" : "");
        }
    }
}

TEST(LogitsProcessorTest, MinPKeepsTokensAboveAFractionOfTheMax) {
    struct Case {
        float p;
        std::set<int32_t> keep;
    };
    // p / p_max: 1, 0.5, 0.25, 0.125, 0.125
    const Case cases[] = {{0.9f, {0}}, {0.4f, {0, 1}}, {0.2f, {0, 1, 2}}, {0.1f, {0, 1, 2, 3, 4}},
                          {0.0f, {0, 1, 2, 3, 4}}, {1.0f, {0}}};
    for (const Case& k : cases) {
        for (bool shuffle : {false, true}) {
            Candidates c = make_candidates(logits_for(kHalving), shuffle);
            make_min_p(k.p)->apply(c, {});
            EXPECT_EQ(ids(c), k.keep) << "min_p " << k.p;
        }
    }
}

TEST(LogitsProcessorTest, TemperatureDividesLogitsAndSharpens) {
    Candidates c = make_candidates({2.0f, 1.0f, -1.0f});
    make_temperature(0.5f)->apply(c, {});
    EXPECT_FLOAT_EQ(logit_of(c, 0), 4.0f);
    EXPECT_FLOAT_EQ(logit_of(c, 1), 2.0f);
    EXPECT_FLOAT_EQ(logit_of(c, 2), -2.0f);
    const std::vector<float> sharp = c.probabilities();
    const std::vector<float> base = make_candidates({2.0f, 1.0f, -1.0f}).probabilities();
    EXPECT_GT(sharp[0], base[0]);
    EXPECT_LT(sharp[2], base[2]);
    // p^(1/T) renormalized.
    const std::vector<float> flat = [] {
        Candidates h = make_candidates(logits_for(kHalving));
        make_temperature(2.0f)->apply(h, {});
        return h.probabilities();
    }();
    double z = 0;
    for (double p : kHalving) z += std::sqrt(p);
    for (size_t i = 0; i < kHalving.size(); ++i) EXPECT_NEAR(flat[i], std::sqrt(kHalving[i]) / z, 1e-6);
}

TEST(LogitsProcessorTest, RepetitionPenaltyDividesPositiveAndMultipliesNegativeWithinLastN) {
    // Token 5 was seen, but before the last 3 tokens of history; 1, 2 and 3 are in the window.
    const std::vector<int32_t> history = {5, 1, 2, 2, 3};
    Candidates c = make_candidates({1.0f, 4.0f, -2.0f, 0.0f, 3.0f, 6.0f});
    make_penalties(2.0f, 0.0f, 0.0f, 4)->apply(c, history);
    EXPECT_FLOAT_EQ(logit_of(c, 0), 1.0f);   // never seen
    EXPECT_FLOAT_EQ(logit_of(c, 1), 2.0f);   // positive: divided
    EXPECT_FLOAT_EQ(logit_of(c, 2), -4.0f);  // negative: multiplied, once however often it was seen
    EXPECT_FLOAT_EQ(logit_of(c, 3), 0.0f);
    EXPECT_FLOAT_EQ(logit_of(c, 4), 3.0f);
    EXPECT_FLOAT_EQ(logit_of(c, 5), 6.0f);   // outside the window
    EXPECT_FALSE(c.sorted);

    Candidates all = make_candidates({1.0f, 4.0f, -2.0f, 0.0f, 3.0f, 6.0f});
    make_penalties(2.0f, 0.0f, 0.0f, -1)->apply(all, history);  // -1: the whole history
    EXPECT_FLOAT_EQ(logit_of(all, 5), 3.0f);

    Candidates off = make_candidates({1.0f, 4.0f});
    make_penalties(2.0f, 0.0f, 0.0f, 0)->apply(off, history);  // 0: off
    EXPECT_FLOAT_EQ(logit_of(off, 1), 4.0f);

    Candidates longer = make_candidates({1.0f, 4.0f});
    make_penalties(2.0f, 0.0f, 0.0f, 100)->apply(longer, history);  // window longer than history
    EXPECT_FLOAT_EQ(logit_of(longer, 1), 2.0f);

    Candidates empty = make_candidates({1.0f, 4.0f});
    make_penalties(2.0f, 0.5f, 0.5f, 64)->apply(empty, {});
    EXPECT_FLOAT_EQ(logit_of(empty, 1), 4.0f);
}

TEST(LogitsProcessorTest, PresenceAndFrequencyPenalties) {
    const std::vector<int32_t> history = {7, 7, 2, 7, 9};
    Candidates c = make_candidates(std::vector<float>(10, 1.0f));
    make_penalties(1.0f, 0.5f, 0.25f, 64)->apply(c, history);
    EXPECT_FLOAT_EQ(logit_of(c, 7), 1.0f - 0.5f - 3 * 0.25f);
    EXPECT_FLOAT_EQ(logit_of(c, 2), 1.0f - 0.5f - 0.25f);
    EXPECT_FLOAT_EQ(logit_of(c, 9), 1.0f - 0.5f - 0.25f);
    EXPECT_FLOAT_EQ(logit_of(c, 0), 1.0f);
    // Only the last 2 tokens (7, 9) count: one occurrence of 7.
    Candidates w = make_candidates(std::vector<float>(10, 1.0f));
    make_penalties(1.0f, 0.5f, 0.25f, 2)->apply(w, history);
    EXPECT_FLOAT_EQ(logit_of(w, 7), 1.0f - 0.5f - 0.25f);
    EXPECT_FLOAT_EQ(logit_of(w, 2), 1.0f);
    // Negative penalties encourage repetition.
    Candidates neg = make_candidates(std::vector<float>(10, 1.0f));
    make_penalties(1.0f, -1.0f, 0.0f, 64)->apply(neg, history);
    EXPECT_FLOAT_EQ(logit_of(neg, 7), 2.0f);
}

TEST(SamplerTest, GreedyIsTheFirstArgmax) {
    Sampler s(plain(0.0f, 1));
    EXPECT_EQ(s.sample(std::vector<float>{1, 5, 3, 5, -2}, {}), 1);
    EXPECT_EQ(s.sample(std::vector<float>{-3, -3, -3}, {}), 0);
    EXPECT_EQ(s.sample(std::vector<float>{-INFINITY, -1e30f, 2}, {}), 2);
    EXPECT_EQ(s.sample(std::vector<float>{7}, {}), 0);
    // Negative temperatures mean greedy too.
    Sampler neg(plain(-1.0f, 1));
    EXPECT_EQ(neg.sample(std::vector<float>{0, 9, 9}, {}), 1);
}

TEST(SamplerTest, GreedyAppliesPenalties) {
    SamplingParams p = plain(0.0f, 1);
    p.repeat_penalty = 4.0f;
    p.repeat_last_n = 64;
    Sampler s(p);
    // Token 0 wins unpenalized; seen, 8 / 4 = 2 < 3.
    EXPECT_EQ(s.sample(std::vector<float>{8, 3, 1}, std::vector<int32_t>{0}), 1);
    EXPECT_EQ(s.sample(std::vector<float>{8, 3, 1}, std::vector<int32_t>{2}), 0);
}

TEST(SamplerTest, TopKOneIsGreedyAtAnyTemperature) {
    const uint32_t seed = std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, 3.0f);
    for (float temperature : {0.05f, 0.7f, 1.0f, 5.0f, 1000.0f}) {
        SamplingParams p = plain(temperature, rng());
        p.top_k = 1;
        Sampler topk(p);
        Sampler greedy(plain(0.0f, 0));
        for (int i = 0; i < 200; ++i) {
            std::vector<float> logits(50);
            for (float& l : logits) l = dist(rng);
            if (i % 4 == 0) logits[rng() % 50] = logits[rng() % 50] = 100.0f;  // a tie for the maximum
            ASSERT_EQ(topk.sample(logits, {}), greedy.sample(logits, {})) << "temperature " << temperature;
        }
    }
}

std::vector<int32_t> draw(Sampler& s, const std::vector<float>& logits, int n) {
    std::vector<int32_t> out;
    for (int i = 0; i < n; ++i) out.push_back(s.sample(logits, {}));
    return out;
}

TEST(SamplerTest, SameSeedSameSequenceDifferentSeedsDiffer) {
    const std::vector<float> logits(100, 0.0f);  // uniform: the sequence is all randomness
    SamplingParams p = plain(1.0f, 12345);
    Sampler a(p), b(p);
    EXPECT_EQ(draw(a, logits, 64), draw(b, logits, 64));
    p.seed = 12346;
    Sampler c(p);
    Sampler d(plain(1.0f, 12345));
    EXPECT_NE(draw(c, logits, 64), draw(d, logits, 64));
}

// Counts of `draws` samples vs expected probabilities: the chi-square statistic is below the 1e-6 critical value.
void expect_distribution(Sampler& s, const std::vector<float>& logits, const std::vector<double>& want, int draws) {
    std::vector<int> counts(logits.size(), 0);
    for (int i = 0; i < draws; ++i) {
        const int32_t id = s.sample(logits, {});
        ASSERT_GE(id, 0);
        ASSERT_LT(id, static_cast<int32_t>(logits.size()));
        ++counts[static_cast<size_t>(id)];
    }
    double chi2 = 0;
    int dof = -1;
    for (size_t i = 0; i < want.size(); ++i) {
        if (want[i] == 0) {
            EXPECT_EQ(counts[i], 0) << "token " << i << " should never be drawn";
            continue;
        }
        const double e = want[i] * draws;
        chi2 += (counts[i] - e) * (counts[i] - e) / e;
        ++dof;
    }
    ASSERT_GE(dof, 1);
    std::string got;
    for (int c : counts) got += std::to_string(c) + " ";
    EXPECT_LT(chi2, kChiSquare1e6[dof]) << "counts " << got;
}

TEST(SamplerTest, DrawsFollowTheDistribution) {
    const uint64_t seed = std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::vector<double> p = {0.4, 0.3, 0.2, 0.1};
    Sampler s(plain(1.0f, seed));
    expect_distribution(s, logits_for(p), p, 10000);
}

TEST(SamplerTest, TemperatureReshapesTheDistribution) {
    const uint64_t seed = std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    const std::vector<double> p = {0.4, 0.3, 0.2, 0.1};
    // T = 0.5: p^2 renormalized = {16, 9, 4, 1} / 30.
    Sampler s(plain(0.5f, seed));
    expect_distribution(s, logits_for(p), {16.0 / 30, 9.0 / 30, 4.0 / 30, 1.0 / 30}, 10000);
}

TEST(SamplerTest, TruncationRenormalizesOverTheKeptTokens) {
    const uint64_t seed = std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    // top_p 0.8 over the halving distribution keeps {0, 1, 2} = {0.5, 0.25, 0.125} / 0.875.
    SamplingParams tp = plain(1.0f, seed);
    tp.top_p = 0.8f;
    Sampler a(tp);
    expect_distribution(a, logits_for(kHalving), {4.0 / 7, 2.0 / 7, 1.0 / 7, 0, 0}, 10000);
    // min_p 0.4 keeps {0, 1} = {2/3, 1/3}.
    SamplingParams mp = plain(1.0f, seed + 1);
    mp.min_p = 0.4f;
    Sampler b(mp);
    expect_distribution(b, logits_for(kHalving), {2.0 / 3, 1.0 / 3, 0, 0, 0}, 10000);
    // top_k 2 likewise.
    SamplingParams tk = plain(1.0f, seed + 2);
    tk.top_k = 2;
    Sampler c(tk);
    expect_distribution(c, logits_for(kHalving), {2.0 / 3, 1.0 / 3, 0, 0, 0}, 10000);
}

TEST(SamplerTest, DefaultParamsNeverDrawOutsideTopK) {
    SamplingParams p;  // llama.cpp defaults: top_k 40, top_p 0.95, min_p 0.05, temperature 0.8
    p.seed = 99;
    Sampler s(p);
    std::vector<float> logits(1000, 0.0f);
    for (int i = 0; i < 40; ++i) logits[static_cast<size_t>(i * 25)] = 0.01f;  // 40 slightly preferred tokens
    for (int i = 0; i < 2000; ++i) {
        const int32_t id = s.sample(logits, {});
        ASSERT_EQ(id % 25, 0) << id;
    }
}

}  // namespace
}  // namespace frugal
