// Scheduler and prefix-cached BlockPool with fake requests and a fake model (next token = a hash of the history):
// token budgets and chunked prefill, admission order, prefix-cache adoption, preemption under a full cache (that
// must not change any sequence's tokens), aborts, the lone-sequence limit, and a randomized run that checks every
// bookkeeping invariant after each step and that no block leaks at the end.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "kv_cache/block_pool.h"
#include "scheduler/scheduler.h"

namespace frugal {
namespace {

int32_t fake_next_token(const std::vector<int32_t>& history) {
    uint64_t h = 1469598103934665603ull;
    for (int32_t t : history) h = (h ^ static_cast<uint32_t>(t)) * 1099511628211ull;
    return static_cast<int32_t>(h % 97);
}

std::unique_ptr<Sequence> make_seq(BlockPool& pool, int64_t id, std::vector<int32_t> prompt, int64_t max_new,
                                   int64_t max_tokens = 1 << 20) {
    auto seq = std::make_unique<Sequence>(id, std::move(prompt), pool);
    seq->max_new_tokens = max_new;
    seq->max_tokens = max_tokens;
    return seq;
}

std::vector<int32_t> iota_prompt(int n, int start = 100) {
    std::vector<int32_t> p(static_cast<size_t>(n));
    std::iota(p.begin(), p.end(), start);
    return p;
}

// One step of a fake model: samples for every scheduled sequence at the end of its tokens.
std::vector<SequenceOutput> run_step(Scheduler& s, SchedulerOutput* out_copy = nullptr) {
    SchedulerOutput out = s.schedule();
    std::vector<int32_t> sampled;
    for (const ScheduledSequence& e : out.scheduled) {
        if (e.sample) sampled.push_back(fake_next_token(e.seq->token_ids));
    }
    std::vector<SequenceOutput> results = s.update(out, sampled);
    results.insert(results.end(), out.finished.begin(), out.finished.end());
    if (out_copy != nullptr) *out_copy = out;
    s.check_invariants();
    return results;
}

// Runs until everything finished; returns each request's output tokens and how it finished.
std::map<int64_t, std::pair<std::vector<int32_t>, FinishReason>> run_all(Scheduler& s, int max_steps = 100000) {
    std::map<int64_t, std::pair<std::vector<int32_t>, FinishReason>> got;
    for (int i = 0; i < max_steps && s.has_unfinished(); ++i) {
        for (const SequenceOutput& o : run_step(s)) {
            if (o.token_id >= 0) got[o.request_id].first.push_back(o.token_id);
            got[o.request_id].second = o.finish_reason;
        }
    }
    EXPECT_FALSE(s.has_unfinished());
    return got;
}

TEST(SchedulerTest, ChunkedPrefillSharesTheTokenBudgetWithDecodes) {
    BlockPool pool(64, 4);
    SchedulerOptions o;
    o.max_num_batched_tokens = 16;
    Scheduler s(pool, o);
    s.add(make_seq(pool, 1, iota_prompt(10), 5));
    s.add(make_seq(pool, 2, iota_prompt(20, 200), 5));
    s.add(make_seq(pool, 3, iota_prompt(5, 300), 5));

    SchedulerOutput out;
    run_step(s, &out);
    ASSERT_EQ(out.scheduled.size(), 2u);
    EXPECT_EQ(out.scheduled[0].seq->request_id, 1);
    EXPECT_EQ(out.scheduled[0].num_tokens, 10);
    EXPECT_TRUE(out.scheduled[0].sample);
    EXPECT_EQ(out.scheduled[1].seq->request_id, 2);
    EXPECT_EQ(out.scheduled[1].num_tokens, 6);  // a chunk: no token sampled yet
    EXPECT_FALSE(out.scheduled[1].sample);
    EXPECT_EQ(out.num_batched_tokens, 16);

    run_step(s, &out);  // 1 decodes, 2 finishes its prompt (14), 3 gets the one token left
    ASSERT_EQ(out.scheduled.size(), 3u);
    EXPECT_EQ(out.scheduled[0].num_tokens, 1);
    EXPECT_EQ(out.scheduled[1].num_tokens, 14);
    EXPECT_TRUE(out.scheduled[1].sample);
    EXPECT_EQ(out.scheduled[2].seq->request_id, 3);
    EXPECT_EQ(out.scheduled[2].num_tokens, 1);
    EXPECT_FALSE(out.scheduled[2].sample);

    const auto got = run_all(s);
    for (int64_t id : {1, 2, 3}) {
        EXPECT_EQ(got.at(id).first.size(), id == 1 ? 3u : id == 2 ? 4u : 5u) << id;  // the steps above sampled 2, 1, 0
        EXPECT_EQ(got.at(id).second, FinishReason::kLength);
    }
    EXPECT_EQ(pool.num_used_blocks(), 0);
}

TEST(SchedulerTest, StopTokensMaxNewTokensAndMaxTokensFinishSequences) {
    BlockPool pool(64, 4);
    Scheduler s(pool, {});
    const std::vector<int32_t> prompt = iota_prompt(6);
    std::vector<int32_t> history = prompt;
    const int32_t first = fake_next_token(history);
    auto stops = make_seq(pool, 1, prompt, 50);
    stops->stop_token_ids = {first};
    s.add(std::move(stops));
    s.add(make_seq(pool, 2, iota_prompt(6, 7), 3));
    s.add(make_seq(pool, 3, iota_prompt(6, 9), -1, 8));  // prompt 6 + 2 outputs reach max_tokens
    const auto got = run_all(s);
    EXPECT_EQ(got.at(1).first, std::vector<int32_t>{first});
    EXPECT_EQ(got.at(1).second, FinishReason::kStop);
    EXPECT_EQ(got.at(2).first.size(), 3u);
    EXPECT_EQ(got.at(2).second, FinishReason::kLength);
    EXPECT_EQ(got.at(3).first.size(), 2u);
    EXPECT_EQ(got.at(3).second, FinishReason::kLength);
}

TEST(SchedulerTest, MaxNumSeqsLimitsRunningSequences) {
    BlockPool pool(64, 4);
    SchedulerOptions o;
    o.max_num_seqs = 2;
    Scheduler s(pool, o);
    for (int id = 0; id < 5; ++id) s.add(make_seq(pool, id, iota_prompt(3, id * 10), 4));
    SchedulerOutput out;
    run_step(s, &out);
    EXPECT_EQ(out.scheduled.size(), 2u);
    EXPECT_EQ(s.num_running(), 2);
    EXPECT_EQ(s.num_waiting(), 3);
    const auto got = run_all(s);
    EXPECT_EQ(got.size(), 5u);
}

TEST(SchedulerTest, SharedPromptPrefixIsComputedOnce) {
    BlockPool pool(64, 4);
    Scheduler s(pool, {});
    std::vector<int32_t> prompt = iota_prompt(10);
    s.add(make_seq(pool, 1, prompt, 2));
    run_all(s);
    EXPECT_EQ(pool.num_used_blocks(), 0);
    EXPECT_GE(pool.num_cached_blocks(), 2);  // [0,4) and [4,8) of the prompt, at least

    // Same first 8 tokens, different rest: adopts two blocks and computes only the other 3 tokens.
    std::vector<int32_t> other = prompt;
    other.resize(8);
    other.insert(other.end(), {1, 2, 3});
    s.add(make_seq(pool, 2, other, 1));
    SchedulerOutput out;
    run_step(s, &out);
    ASSERT_EQ(out.scheduled.size(), 1u);
    EXPECT_EQ(out.scheduled[0].num_tokens, 3);
    EXPECT_EQ(s.stats().prefix_cache_hits, 8);

    // The identical prompt: every full block but the one holding the last token is adopted (8 of 10 tokens here).
    s.add(make_seq(pool, 3, prompt, 1));
    run_step(s, &out);
    ASSERT_EQ(out.scheduled.size(), 1u);
    EXPECT_EQ(out.scheduled[0].num_tokens, 2);
    // A prompt of exactly two blocks adopts only the first: its last token must be computed to sample from.
    std::vector<int32_t> eight(prompt.begin(), prompt.begin() + 8);
    s.add(make_seq(pool, 4, eight, 1));
    run_step(s, &out);
    ASSERT_EQ(out.scheduled.size(), 1u);
    EXPECT_EQ(out.scheduled[0].num_tokens, 4);
    EXPECT_FALSE(s.has_unfinished());
    EXPECT_EQ(pool.num_used_blocks(), 0);

    // A different first block shares nothing, even with the same second block.
    std::vector<int32_t> shifted = prompt;
    shifted[0] = 999;
    s.add(make_seq(pool, 5, shifted, 1));
    run_step(s, &out);
    EXPECT_EQ(out.scheduled[0].num_tokens, 10);
}

TEST(SchedulerTest, CachedBlocksAreSharedWhileBothSequencesRun) {
    BlockPool pool(64, 4);
    Scheduler s(pool, {});
    const std::vector<int32_t> prompt = iota_prompt(9);
    s.add(make_seq(pool, 1, prompt, 20));
    run_step(s);  // computes the prompt, caches its two full blocks
    s.add(make_seq(pool, 2, prompt, 20));
    SchedulerOutput out;
    run_step(s, &out);
    ASSERT_EQ(out.scheduled.size(), 2u);
    const Sequence& a = *out.scheduled[0].seq;
    const Sequence& b = *out.scheduled[1].seq;
    EXPECT_EQ(a.blocks.blocks()[0], b.blocks.blocks()[0]);
    EXPECT_EQ(a.blocks.blocks()[1], b.blocks.blocks()[1]);
    EXPECT_NE(a.blocks.blocks()[2], b.blocks.blocks()[2]);
    EXPECT_EQ(pool.ref_count(a.blocks.blocks()[0]), 2);
    // Both produce the same tokens as without sharing.
    const auto got = run_all(s);
    EXPECT_EQ(got.at(1).first.size(), 18u);  // the two steps above sampled 2 and 1 tokens
    EXPECT_EQ(got.at(2).first.size(), 19u);
}

// Preemption under a full cache must never lose a request or change its tokens.
TEST(SchedulerTest, PreemptionRecomputesAndKeepsResults) {
    auto run = [](int64_t num_blocks, int64_t* preemptions) {
        BlockPool pool(num_blocks, 4);
        SchedulerOptions o;
        o.max_num_batched_tokens = 32;
        Scheduler s(pool, o);
        for (int id = 0; id < 6; ++id) s.add(make_seq(pool, id, iota_prompt(5 + id, id * 3), 18, 64));
        auto got = run_all(s);
        *preemptions = s.stats().num_preemptions;
        EXPECT_EQ(pool.num_used_blocks(), 0);
        return got;
    };
    int64_t roomy_preemptions = 0, tight_preemptions = 0;
    const auto roomy = run(256, &roomy_preemptions);
    const auto tight = run(12, &tight_preemptions);  // 48 slots for six sequences of up to 28 tokens
    EXPECT_EQ(roomy_preemptions, 0);
    EXPECT_GT(tight_preemptions, 0);
    ASSERT_EQ(tight.size(), 6u);
    for (const auto& [id, result] : roomy) {
        EXPECT_EQ(tight.at(id).first, result.first) << "request " << id;
        EXPECT_EQ(tight.at(id).second, FinishReason::kLength);
        EXPECT_EQ(result.first.size(), 18u);
    }
}

TEST(SchedulerTest, AbortFreesBlocksAtOnce) {
    BlockPool pool(16, 4);
    Scheduler s(pool, {});
    s.add(make_seq(pool, 1, iota_prompt(9), 100));
    s.add(make_seq(pool, 2, iota_prompt(5, 50), 100));
    run_step(s);
    EXPECT_EQ(pool.num_used_blocks(), 3 + 2);
    EXPECT_TRUE(s.abort(1));
    EXPECT_FALSE(s.abort(1));
    EXPECT_FALSE(s.abort(77));
    s.check_invariants();
    EXPECT_EQ(pool.num_used_blocks(), 2);
    s.add(make_seq(pool, 3, iota_prompt(4), 100));  // still waiting
    EXPECT_TRUE(s.abort(3));
    EXPECT_TRUE(s.abort(2));
    EXPECT_FALSE(s.has_unfinished());
    EXPECT_EQ(pool.num_used_blocks(), 0);
}

TEST(SchedulerTest, SequenceLargerThanTheCacheStopsInsteadOfCrashing) {
    BlockPool pool(3, 4);  // 12 slots
    Scheduler s(pool, {});
    s.add(make_seq(pool, 1, iota_prompt(6), 100));
    const auto got = run_all(s);
    EXPECT_EQ(got.at(1).second, FinishReason::kLength);
    EXPECT_EQ(got.at(1).first.size(), 7u);  // tokens 7..12 computed, the 13th would need a 4th block
    EXPECT_EQ(pool.num_used_blocks(), 0);
}

TEST(SchedulerTest, RandomizedRunKeepsInvariantsAndLeaksNothing) {
    std::mt19937 rng(12345);
    BlockPool pool(40, 4);
    SchedulerOptions o;
    o.max_num_seqs = 8;
    o.max_num_batched_tokens = 24;
    Scheduler s(pool, o);
    const std::vector<int32_t> shared = iota_prompt(12, 300);
    std::set<int64_t> live;
    int64_t next_id = 0;
    int finished = 0, aborted = 0;
    for (int step = 0; step < 3000; ++step) {
        if (next_id < 400 && rng() % 3 == 0) {
            std::vector<int32_t> prompt;
            if (rng() % 2) prompt.assign(shared.begin(), shared.begin() + 1 + rng() % shared.size());
            const int extra = 1 + static_cast<int>(rng() % 20);
            for (int i = 0; i < extra; ++i) prompt.push_back(static_cast<int32_t>(rng() % 50));
            s.add(make_seq(pool, next_id, prompt, 1 + rng() % 30, 120));
            live.insert(next_id++);
        }
        if (!live.empty() && rng() % 10 == 0) {
            auto it = live.begin();
            std::advance(it, rng() % live.size());
            EXPECT_TRUE(s.abort(*it));
            live.erase(it);
            ++aborted;
        }
        for (const SequenceOutput& out : run_step(s)) {
            ASSERT_TRUE(live.contains(out.request_id));
            if (out.finish_reason != FinishReason::kNone) {
                live.erase(out.request_id);
                ++finished;
            }
        }
        if (next_id >= 400 && live.empty()) break;
    }
    EXPECT_TRUE(live.empty());
    EXPECT_FALSE(s.has_unfinished());
    EXPECT_EQ(finished + aborted, 400);
    EXPECT_EQ(pool.num_used_blocks(), 0);
    EXPECT_GT(s.stats().prefix_cache_hits, 0);
    EXPECT_GT(s.stats().num_preemptions, 0);
}

TEST(BlockPoolPrefixCacheTest, EvictsLeastRecentlyFreedCachedBlockLast) {
    BlockPool pool(3, 2);
    const int32_t a = *pool.allocate(), b = *pool.allocate(), c = *pool.allocate();
    const std::vector<int32_t> ta{1, 2}, tb{3, 4};
    const BlockHash ha = hash_block_tokens(kRootBlockHash, ta), hb = hash_block_tokens(ha, tb);
    pool.cache_block(a, ha, ta);
    pool.cache_block(b, hb, tb);
    pool.free(a);  // cached, freed first: evicted first among cached blocks
    pool.free(b);
    pool.free(c);  // uncached: handed out before any cached block
    EXPECT_EQ(pool.num_free_blocks(), 3);
    EXPECT_EQ(pool.allocate(), c);
    EXPECT_EQ(pool.find_cached(hb, tb), b);  // a hit takes b out of the free queue
    EXPECT_EQ(pool.num_free_blocks(), 1);
    EXPECT_FALSE(pool.find_cached(hb, ta).has_value());  // same key, other tokens: no hit
    EXPECT_EQ(pool.allocate(), a);                       // evicts a's prefix
    EXPECT_FALSE(pool.find_cached(ha, ta).has_value());
    EXPECT_EQ(pool.num_cached_blocks(), 1);
    EXPECT_FALSE(pool.allocate().has_value());
}

}  // namespace
}  // namespace frugal
