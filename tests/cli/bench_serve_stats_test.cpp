// The arithmetic of frugal bench-serve (apps/cli/bench_serve_stats.h) on hand-made request records: numpy-style
// percentiles, which outcomes feed which statistic, TPOT, throughput, $ per 1M tokens, and the server-sent event
// parser fed in awkward pieces. No server is started.
#include <gtest/gtest.h>

#include <string>
#include <vector>

// The header lives with the CLI sources; tests/CMakeLists.txt gives the test binaries no include path into apps/.
#include "cli/bench_serve_stats.h"

namespace frugal::cli {
namespace {

TEST(BenchServeStatsTest, PercentileInterpolatesBetweenClosestRanksLikeNumpy) {
    const std::vector<double> v = {4, 1, 3, 2};  // unsorted on purpose
    EXPECT_DOUBLE_EQ(percentile(v, 0), 1);
    EXPECT_DOUBLE_EQ(percentile(v, 50), 2.5);
    EXPECT_DOUBLE_EQ(percentile(v, 90), 3.7);  // numpy.percentile([1,2,3,4], 90)
    EXPECT_DOUBLE_EQ(percentile(v, 99), 3.97);
    EXPECT_DOUBLE_EQ(percentile(v, 100), 4);
    EXPECT_DOUBLE_EQ(percentile({7}, 99), 7);
    EXPECT_DOUBLE_EQ(percentile({}, 50), 0);
}

TEST(BenchServeStatsTest, LatencySummaryIsInMilliseconds) {
    const LatencySummary s = summarize_latency({0.010, 0.020, 0.030});
    EXPECT_DOUBLE_EQ(s.mean_ms, 20);
    EXPECT_DOUBLE_EQ(s.p50_ms, 20);
    EXPECT_NEAR(s.p90_ms, 28, 1e-9);
    EXPECT_NEAR(s.p99_ms, 29.8, 1e-9);
}

RequestRecord completed(double ttft_s, std::vector<double> itl_s, int64_t num_output_tokens) {
    RequestRecord r;
    r.outcome = RequestOutcome::kCompleted;
    r.ttft_s = ttft_s;
    r.latency_s = ttft_s;
    for (double g : itl_s) r.latency_s += g;
    r.itl_s = std::move(itl_s);
    r.num_prompt_tokens = 10;
    r.num_output_tokens = num_output_tokens;
    return r;
}

TEST(BenchServeStatsTest, SummaryCountsEachOutcomeAndFeedsOnlyTheRightStatistics) {
    std::vector<RequestRecord> records;
    records.push_back(completed(0.100, {0.010, 0.030}, 3));  // TPOT (0.04 / 2) = 20 ms
    records.push_back(completed(0.300, {0.020}, 2));         // TPOT 20 ms
    RequestRecord cancelled;
    cancelled.outcome = RequestOutcome::kCancelled;
    cancelled.ttft_s = 0.200;
    cancelled.latency_s = 5;       // must not reach the end-to-end latency
    cancelled.itl_s = {1.0, 1.0};  // must not reach the ITL pool
    cancelled.num_prompt_tokens = 10;
    cancelled.num_output_tokens = 3;
    records.push_back(cancelled);
    RequestRecord rejected;
    rejected.outcome = RequestOutcome::kRejected;
    rejected.num_prompt_tokens = 10;
    records.push_back(rejected);
    RequestRecord error;
    error.outcome = RequestOutcome::kError;
    error.ttft_s = 9;
    error.num_output_tokens = 100;
    records.push_back(error);
    records.push_back(error);

    const ServeBenchSummary s = summarize_requests(records, /*duration_s=*/2.0);
    EXPECT_EQ(s.num_completed, 2);
    EXPECT_EQ(s.num_cancelled, 1);
    EXPECT_EQ(s.num_rejected, 1);
    EXPECT_EQ(s.num_errors, 2);
    EXPECT_EQ(s.num_prompt_tokens, 30);  // completed and cancelled
    EXPECT_EQ(s.num_output_tokens, 8);
    EXPECT_DOUBLE_EQ(s.request_throughput, 1.0);
    EXPECT_DOUBLE_EQ(s.output_throughput, 4.0);
    EXPECT_DOUBLE_EQ(s.total_token_throughput, 19.0);
    // TTFT of the completed and the cancelled requests: 100, 300, 200 ms.
    EXPECT_NEAR(s.ttft.mean_ms, 200, 1e-9);
    EXPECT_NEAR(s.ttft.p50_ms, 200, 1e-9);
    EXPECT_NEAR(s.ttft.p99_ms, 298, 1e-9);
    // ITL pooled over the completed requests: 10, 30, 20 ms.
    EXPECT_NEAR(s.itl.mean_ms, 20, 1e-9);
    EXPECT_NEAR(s.itl.p90_ms, 28, 1e-9);
    EXPECT_NEAR(s.e2e_latency.mean_ms, (140 + 320) / 2.0, 1e-9);
    EXPECT_NEAR(s.mean_tpot_ms, 20, 1e-9);
}

TEST(BenchServeStatsTest, TpotIsUndefinedBelowTwoTokens) {
    EXPECT_LT(tpot_s(completed(0.1, {}, 1)), 0);
    EXPECT_DOUBLE_EQ(tpot_s(completed(0.1, {0.5}, 2)), 0.5);
    const ServeBenchSummary s = summarize_requests({completed(0.1, {}, 1)}, 1.0);
    EXPECT_DOUBLE_EQ(s.mean_tpot_ms, 0);
    EXPECT_NEAR(s.ttft.mean_ms, 100, 1e-9);
}

TEST(BenchServeStatsTest, NothingCompletedGivesZerosNotNaNs) {
    const ServeBenchSummary s = summarize_requests({}, 0.0);
    EXPECT_EQ(s.num_completed, 0);
    EXPECT_DOUBLE_EQ(s.output_throughput, 0);
    EXPECT_DOUBLE_EQ(s.ttft.p99_ms, 0);
    EXPECT_DOUBLE_EQ(usd_per_million_tokens(2.0, s.output_throughput), 0);
}

TEST(BenchServeStatsTest, DollarsPerMillionTokens) {
    // $3.60 an hour is $0.001 a second; at 1000 tok/s a million tokens take 1000 s: $1.
    EXPECT_DOUBLE_EQ(usd_per_million_tokens(3.6, 1000), 1.0);
    EXPECT_NEAR(usd_per_million_tokens(2.0, 500), 2.0 / 3600 / 500 * 1e6, 1e-12);
}

std::vector<std::string> feed_all(SseParser& p, const std::string& text, size_t piece) {
    std::vector<std::string> events;
    for (size_t i = 0; i < text.size(); i += piece) {
        const std::string part = text.substr(i, piece);
        for (std::string& e : p.feed(part.data(), part.size())) events.push_back(std::move(e));
    }
    return events;
}

TEST(BenchServeStatsTest, SseParserSplitsEventsWhateverThePieces) {
    const std::string stream =
        "data: {\"a\":1}\n\n"
        ": a comment\r\n"
        "event: message\r\n"
        "data:{\"b\":2}\r\n\r\n"
        "data: line one\n"
        "data: line two\n\n"
        "\n"  // a blank line with no data is no event
        "data: [DONE]\n\n"
        "data: unterminated";
    const std::vector<std::string> want = {"{\"a\":1}", "{\"b\":2}", "line one\nline two", "[DONE]"};
    for (size_t piece : {size_t{1}, size_t{2}, size_t{7}, stream.size()}) {
        SseParser p;
        EXPECT_EQ(feed_all(p, stream, piece), want) << "pieces of " << piece << " bytes";
    }
}

}  // namespace
}  // namespace frugal::cli
