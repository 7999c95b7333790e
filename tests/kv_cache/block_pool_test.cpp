// BlockPool and BlockTable: pure KV bookkeeping. Allocation order, exhaustion (nullopt / "KV cache full" with
// state kept), release, slot mapping, move semantics, and a randomized multi-sequence run that checks after every
// step that no block is owned twice and that the pool's free count matches what the tables hold.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "kv_cache/block_pool.h"
#include "kv_cache/block_table.h"

namespace frugal {
namespace {

TEST(BlockPoolTest, HandsOutLowestIdsFirstUntilExhausted) {
    BlockPool pool(4, 16);
    EXPECT_EQ(pool.num_blocks(), 4);
    EXPECT_EQ(pool.block_size(), 16);
    EXPECT_EQ(pool.num_free_blocks(), 4);
    for (int32_t want = 0; want < 4; ++want) {
        const std::optional<int32_t> id = pool.allocate();
        ASSERT_TRUE(id.has_value());
        EXPECT_EQ(*id, want);
        EXPECT_EQ(pool.num_free_blocks(), 3 - want);
    }
    EXPECT_FALSE(pool.allocate().has_value());
    EXPECT_FALSE(pool.allocate().has_value());  // stays exhausted, no state change
    EXPECT_EQ(pool.num_free_blocks(), 0);
}

TEST(BlockPoolTest, FreedBlocksAreReusedMostRecentFirst) {
    BlockPool pool(5, 4);
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(pool.allocate().has_value());
    pool.free(3);
    pool.free(1);
    EXPECT_EQ(pool.num_free_blocks(), 2);
    EXPECT_EQ(pool.allocate(), 1);
    EXPECT_EQ(pool.allocate(), 3);
    EXPECT_FALSE(pool.allocate().has_value());
}

TEST(BlockPoolDeathTest, DoubleFreeAndForeignIdsAbort) {
    BlockPool pool(2, 4);
    const int32_t id = *pool.allocate();
    pool.free(id);
    EXPECT_DEATH(pool.free(id), "double free");
    EXPECT_DEATH(pool.free(1), "double free");  // never allocated
    EXPECT_DEATH(pool.free(2), "block 2");
    EXPECT_DEATH(pool.free(-1), "block -1");
    EXPECT_DEATH(BlockPool(0, 16), "CHECK failed");
    EXPECT_DEATH(BlockPool(4, 0), "CHECK failed");
}

TEST(BlockTableTest, ReserveGrowsByWholeBlocks) {
    BlockPool pool(8, 4);
    BlockTable t(pool);
    EXPECT_EQ(t.capacity_tokens(), 0);
    ASSERT_TRUE(t.reserve(0).ok());
    EXPECT_TRUE(t.blocks().empty());
    ASSERT_TRUE(t.reserve(1).ok());
    EXPECT_EQ(t.blocks(), (std::vector<int32_t>{0}));
    EXPECT_EQ(t.capacity_tokens(), 4);
    ASSERT_TRUE(t.reserve(4).ok());  // still fits
    EXPECT_EQ(t.blocks().size(), 1u);
    ASSERT_TRUE(t.reserve(5).ok());
    EXPECT_EQ(t.blocks(), (std::vector<int32_t>{0, 1}));
    ASSERT_TRUE(t.reserve(3).ok());  // shrinking requests never release
    EXPECT_EQ(t.blocks().size(), 2u);
    ASSERT_TRUE(t.reserve(17).ok());
    EXPECT_EQ(t.blocks().size(), 5u);
    EXPECT_EQ(pool.num_free_blocks(), 3);
}

TEST(BlockTableTest, FullPoolIsAnErrorThatKeepsState) {
    BlockPool pool(3, 16);
    BlockTable a(pool), b(pool);
    ASSERT_TRUE(a.reserve(32).ok());
    const std::vector<int32_t> before = a.blocks();
    Status s = b.reserve(33);  // needs 3, only 1 free
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("KV cache full"), std::string::npos) << s.message();
    EXPECT_TRUE(b.blocks().empty()) << "a failed reserve must not keep a partial allocation";
    EXPECT_EQ(pool.num_free_blocks(), 1);
    // Growing an existing table past the pool fails the same way and keeps its blocks.
    s = a.reserve(64);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("KV cache full"), std::string::npos);
    EXPECT_EQ(a.blocks(), before);
    EXPECT_EQ(pool.num_free_blocks(), 1);
    // What does fit still works.
    ASSERT_TRUE(b.reserve(16).ok());
    EXPECT_EQ(pool.num_free_blocks(), 0);
}

TEST(BlockTableTest, ReleaseReturnsEveryBlock) {
    BlockPool pool(6, 2);
    {
        BlockTable t(pool);
        ASSERT_TRUE(t.reserve(7).ok());
        EXPECT_EQ(pool.num_free_blocks(), 2);
        t.release();
        EXPECT_TRUE(t.blocks().empty());
        EXPECT_EQ(t.capacity_tokens(), 0);
        EXPECT_EQ(pool.num_free_blocks(), 6);
        t.release();  // idempotent
        EXPECT_EQ(pool.num_free_blocks(), 6);
        ASSERT_TRUE(t.reserve(3).ok());  // reusable after release
    }
    EXPECT_EQ(pool.num_free_blocks(), 6) << "the destructor releases";
}

TEST(BlockTableTest, SlotMapsPositionsThroughTheBlocks) {
    BlockPool pool(6, 4);
    BlockTable filler(pool), t(pool);
    ASSERT_TRUE(filler.reserve(4).ok());  // takes block 0
    ASSERT_TRUE(t.reserve(4).ok());       // block 1
    filler.release();                     // 0 is free again, and comes back next
    ASSERT_TRUE(t.reserve(12).ok());      // blocks 0, 2
    ASSERT_EQ(t.blocks(), (std::vector<int32_t>{1, 0, 2}));
    const int32_t want[12] = {4, 5, 6, 7, 0, 1, 2, 3, 8, 9, 10, 11};
    for (int p = 0; p < 12; ++p) EXPECT_EQ(t.slot(p), want[p]) << p;
}

TEST(BlockTableDeathTest, SlotOutsideCapacityAborts) {
    BlockPool pool(2, 4);
    BlockTable t(pool);
    ASSERT_TRUE(t.reserve(3).ok());
    EXPECT_DEATH(t.slot(4), "position 4");
    EXPECT_DEATH(t.slot(-1), "position -1");
}

TEST(BlockTableTest, MoveTransfersOwnership) {
    BlockPool pool(8, 4);
    BlockTable a(pool);
    ASSERT_TRUE(a.reserve(8).ok());
    const std::vector<int32_t> blocks = a.blocks();
    BlockTable b(std::move(a));
    EXPECT_EQ(b.blocks(), blocks);
    EXPECT_TRUE(a.blocks().empty());  // NOLINT(bugprone-use-after-move): the moved-from state is specified empty
    a.release();                      // must not free b's blocks
    EXPECT_EQ(pool.num_free_blocks(), 6);

    BlockTable c(pool);
    ASSERT_TRUE(c.reserve(4).ok());
    EXPECT_EQ(pool.num_free_blocks(), 5);
    c = std::move(b);  // c's own block is released, b's are taken over
    EXPECT_EQ(c.blocks(), blocks);
    EXPECT_EQ(pool.num_free_blocks(), 6);
    c = std::move(c);  // NOLINT: self-move keeps the blocks
    EXPECT_EQ(c.blocks(), blocks);

    std::vector<BlockTable> tables;
    for (int i = 0; i < 3; ++i) {
        tables.emplace_back(pool);
        ASSERT_TRUE(tables.back().reserve(4).ok());  // vector growth moves tables around
    }
    EXPECT_EQ(pool.num_free_blocks(), 3);
    tables.clear();
    EXPECT_EQ(pool.num_free_blocks(), 6);
}

// Several sequences grow by random amounts, some are released, some are moved; after every step the union of
// blocks held by the tables must be disjoint and their number must equal num_blocks - num_free_blocks.
TEST(BlockTableTest, RandomizedGrowthAndReleaseNeverSharesABlock) {
    const uint32_t seed = std::random_device{}();
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937 rng(seed);
    constexpr int64_t kNumBlocks = 41;  // small enough that eight growing tables hit a full pool
    for (int block_size : {1, 4, 16}) {
        BlockPool pool(kNumBlocks, block_size);
        std::vector<BlockTable> tables;
        std::vector<int64_t> lengths;
        for (int i = 0; i < 8; ++i) {
            tables.emplace_back(pool);
            lengths.push_back(0);
        }
        int full_errors = 0;
        for (int step = 0; step < 4000; ++step) {
            const size_t i = rng() % tables.size();
            const int action = static_cast<int>(rng() % 10);
            if (action < 7) {
                const int64_t want = lengths[i] + static_cast<int64_t>(rng() % (3 * block_size + 1));
                const std::vector<int32_t> before = tables[i].blocks();
                const int64_t free_before = pool.num_free_blocks();
                Status s = tables[i].reserve(want);
                if (s.ok()) {
                    lengths[i] = want;
                    ASSERT_GE(tables[i].capacity_tokens(), want);
                    ASSERT_LT(tables[i].capacity_tokens() - want, block_size) << "over-allocated";
                    ASSERT_TRUE(std::equal(before.begin(), before.end(), tables[i].blocks().begin()))
                        << "existing blocks must stay in place";
                } else {
                    ++full_errors;
                    ASSERT_NE(s.message().find("KV cache full"), std::string::npos);
                    ASSERT_EQ(tables[i].blocks(), before);
                    ASSERT_EQ(pool.num_free_blocks(), free_before);
                }
            } else if (action < 9) {
                tables[i].release();
                lengths[i] = 0;
            } else {
                // Move a table out and back in (as a scheduler's containers do).
                BlockTable moved(std::move(tables[i]));
                tables[i] = std::move(moved);
            }
            std::set<int32_t> owned;
            int64_t held = 0;
            for (size_t j = 0; j < tables.size(); ++j) {
                for (int32_t b : tables[j].blocks()) {
                    ASSERT_GE(b, 0);
                    ASSERT_LT(b, kNumBlocks);
                    ASSERT_TRUE(owned.insert(b).second) << "block " << b << " owned twice at step " << step;
                    ++held;
                }
                // Slots of distinct positions of one table are distinct and inside the cache.
                if (lengths[j] > 0) {
                    const int64_t p = static_cast<int64_t>(rng() % static_cast<uint64_t>(lengths[j]));
                    const int32_t slot = tables[j].slot(p);
                    ASSERT_EQ(slot / block_size, tables[j].blocks()[p / block_size]);
                    ASSERT_EQ(slot % block_size, p % block_size);
                }
            }
            ASSERT_EQ(held, pool.num_blocks() - pool.num_free_blocks()) << "step " << step;
        }
        EXPECT_GT(full_errors, 0) << "the run should have hit a full pool";
        tables.clear();
        EXPECT_EQ(pool.num_free_blocks(), kNumBlocks);
    }
}

}  // namespace
}  // namespace frugal
