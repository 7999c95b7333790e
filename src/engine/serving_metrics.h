// Counters and latency histograms a serving loop keeps (Prometheus-style cumulative buckets), and a snapshot of
// them the server renders. Plain data: the owner (AsyncEngine) guards it with its mutex.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace frugal {

struct LatencyHistogram {
    // Upper bounds in seconds (le); the last bucket (+Inf) is implicit: it is `count`.
    static constexpr std::array<double, 16> kBounds = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                       0.5,   1.0,    2.5,   5.0,  10.0,  20.0, 40.0, 80.0};
    std::array<int64_t, kBounds.size()> buckets{};  // buckets[i]: observations <= kBounds[i] (cumulative)
    int64_t count = 0;
    double sum = 0;

    void observe(double seconds) {
        for (size_t i = 0; i < kBounds.size(); ++i) buckets[i] += seconds <= kBounds[i];
        ++count;
        sum += seconds;
    }
};

struct ServingMetrics {
    // Gauges, as of the last engine step.
    int64_t num_running = 0;
    int64_t num_waiting = 0;  // in the scheduler's queue plus submitted and not yet taken in
    int64_t kv_blocks_used = 0;
    int64_t kv_blocks_total = 0;
    // Counters since start.
    int64_t prefix_cache_queries = 0;  // prompt tokens looked up
    int64_t prefix_cache_hits = 0;
    int64_t num_preemptions = 0;
    int64_t prompt_tokens = 0;      // prompt tokens of admitted requests
    int64_t generation_tokens = 0;  // tokens sampled
    int64_t requests_finished_stop = 0;
    int64_t requests_finished_length = 0;
    int64_t requests_aborted = 0;
    int64_t requests_failed = 0;    // engine errors
    int64_t requests_rejected = 0;  // refused because the queue was full
    double busy_seconds = 0;        // time spent in engine steps
    double uptime_seconds = 0;
    LatencyHistogram time_to_first_token;
    LatencyHistogram inter_token_latency;
    LatencyHistogram e2e_request_latency;
};

}  // namespace frugal
