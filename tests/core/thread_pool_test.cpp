// ThreadPool: parallel_for covers every index exactly once in non-empty, grain-aligned chunks, for many
// (n, grain, threads) combinations; run() calls each thread index exactly once, index 0 on the caller; the pool
// survives many back-to-back regions (the spin/sleep hand-off is where races would hide).
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "core/thread_pool.h"

namespace frugal {
namespace {

TEST(ThreadPoolTest, NumThreadsCountsTheCallerAndIsAtLeastOne) {
    EXPECT_EQ(ThreadPool(1).num_threads(), 1);
    EXPECT_EQ(ThreadPool(4).num_threads(), 4);
    EXPECT_EQ(ThreadPool(0).num_threads(), 1);
    EXPECT_EQ(ThreadPool(-3).num_threads(), 1);
}

TEST(ThreadPoolTest, ParallelForCoversEveryIndexExactlyOnce) {
    for (int threads : {1, 2, 3, 5, 8}) {
        ThreadPool pool(threads);
        for (int64_t n : {0, 1, 2, 3, 7, 64, 100, 1000, 12345}) {
            for (int64_t grain : {1, 2, 3, 16, 64, 1000, 20000}) {
                std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
                std::mutex mu;
                std::vector<std::pair<int64_t, int64_t>> chunks;
                pool.parallel_for(
                    n,
                    [&](int64_t begin, int64_t end) {
                        {
                            std::lock_guard<std::mutex> lock(mu);
                            chunks.emplace_back(begin, end);
                        }
                        for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)].fetch_add(1);
                    },
                    grain);
                const std::string where = "threads=" + std::to_string(threads) + " n=" + std::to_string(n) +
                                          " grain=" + std::to_string(grain);
                for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << where << " i=" << i;
                for (auto [b, e] : chunks) {
                    ASSERT_LT(b, e) << "empty chunk, " << where;
                    ASSERT_GE(b, 0) << where;
                    ASSERT_LE(e, n) << where;
                    ASSERT_EQ(b % grain, 0) << "chunk start not a multiple of the grain, " << where;
                    ASSERT_TRUE(e % grain == 0 || e == n) << "chunk end [" << b << ", " << e << "), " << where;
                }
                if (n == 0) {
                    EXPECT_TRUE(chunks.empty()) << where;
                }
                // Never more chunks than grains.
                EXPECT_LE(static_cast<int64_t>(chunks.size()), std::max<int64_t>(1, (n + grain - 1) / grain)) << where;
            }
        }
    }
}

TEST(ThreadPoolTest, ParallelForWithGrainZeroOrNegativeStillCovers) {
    ThreadPool pool(3);
    for (int64_t grain : {0, -5}) {
        std::vector<std::atomic<int>> hits(100);
        pool.parallel_for(100, [&](int64_t b, int64_t e) { for (int64_t i = b; i < e; ++i) hits[i]++; }, grain);
        for (auto& h : hits) ASSERT_EQ(h.load(), 1);
    }
}

TEST(ThreadPoolTest, RunCallsEachThreadIndexOnceWithZeroOnTheCaller) {
    for (int threads : {1, 2, 3, 6}) {
        ThreadPool pool(threads);
        for (int round = 0; round < 200; ++round) {
            std::vector<std::atomic<int>> calls(static_cast<size_t>(threads));
            std::atomic<int> out_of_range{0};
            std::thread::id index0_thread;
            std::mutex mu;
            std::set<std::thread::id> ids;
            pool.run([&](int index) {
                if (index < 0 || index >= threads) {
                    out_of_range++;
                    return;
                }
                calls[static_cast<size_t>(index)]++;
                std::lock_guard<std::mutex> lock(mu);
                ids.insert(std::this_thread::get_id());
                if (index == 0) index0_thread = std::this_thread::get_id();
            });
            ASSERT_EQ(out_of_range.load(), 0);
            for (int t = 0; t < threads; ++t) ASSERT_EQ(calls[static_cast<size_t>(t)].load(), 1) << "index " << t;
            ASSERT_EQ(index0_thread, std::this_thread::get_id()) << "index 0 must run on the caller";
            ASSERT_EQ(static_cast<int>(ids.size()), threads) << "each index on its own thread";
        }
    }
}

TEST(ThreadPoolTest, RunReturnsOnlyAfterEveryThreadFinished) {
    ThreadPool pool(4);
    for (int round = 0; round < 100; ++round) {
        std::atomic<int> done{0};
        pool.run([&](int index) {
            // Uneven work: later indices take longer.
            volatile int64_t sink = 0;
            for (int64_t i = 0; i < 2000 * (index + 1); ++i) sink = sink + i;
            done++;
        });
        ASSERT_EQ(done.load(), 4) << "round " << round;
    }
}

TEST(ThreadPoolTest, ManyBackToBackRegionsAndSleepingWorkers) {
    ThreadPool pool(3);
    int64_t total = 0;
    for (int round = 0; round < 1000; ++round) {
        std::atomic<int64_t> sum{0};
        const int64_t n = 1 + round % 37;
        pool.parallel_for(n, [&](int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) sum += i;
        });
        ASSERT_EQ(sum.load(), n * (n - 1) / 2) << "round " << round;
        total += sum.load();
        // Now and then let the workers fall asleep on the condition variable before the next region.
        if (round % 250 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_GT(total, 0);
}

TEST(ThreadPoolTest, DestroyingAnIdleOrFreshPoolJoins) {
    for (int i = 0; i < 20; ++i) {
        ThreadPool fresh(4);  // never used
    }
    ThreadPool used(4);
    std::atomic<int> c{0};
    used.run([&](int) { c++; });
    EXPECT_EQ(c.load(), 4);
}

}  // namespace
}  // namespace frugal
