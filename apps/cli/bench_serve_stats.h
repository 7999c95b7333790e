// The numbers frugal bench-serve reports, computed from one record per request the way vLLM's benchmark_serving
// does: TTFT per request, inter-token latencies pooled over all requests, TPOT per request, throughput over the wall
// time of the whole run. Header-only and free of I/O so tests/cli can check the arithmetic without a server.
#pragma once

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

namespace frugal::cli {

enum class RequestOutcome {
    kCompleted,  // 200 and the stream reached [DONE]
    kCancelled,  // the client closed the stream on purpose (--cancel-rate)
    kRejected,   // 429
    kError,      // any other status, a connection error, or a malformed stream
};

// One request as the client saw it. Times are seconds on the client's steady clock, relative to the request's send.
struct RequestRecord {
    RequestOutcome outcome = RequestOutcome::kError;
    double ttft_s = -1;         // first chunk carrying a choice; < 0: none arrived
    double latency_s = 0;       // send to the end of the stream
    std::vector<double> itl_s;  // gaps between successive choice chunks (one token each)
    int64_t num_prompt_tokens = 0;
    int64_t num_output_tokens = 0;  // usage.completion_tokens when the server sent it, else the choice chunks seen
};

struct LatencySummary {
    double mean_ms = 0, p50_ms = 0, p90_ms = 0, p99_ms = 0;
};

struct ServeBenchSummary {
    double duration_s = 0;
    int64_t num_completed = 0, num_cancelled = 0, num_rejected = 0, num_errors = 0;
    int64_t num_prompt_tokens = 0;      // completed and cancelled requests (a cancelled prompt was prefilled too)
    int64_t num_output_tokens = 0;      // completed and cancelled requests: every token the server streamed
    double request_throughput = 0;      // completed requests per second
    double output_throughput = 0;       // output tokens per second
    double total_token_throughput = 0;  // prompt + output tokens per second
    LatencySummary ttft;                // completed and cancelled requests that received a token
    LatencySummary itl;                 // completed requests, pooled gaps
    LatencySummary e2e_latency;         // completed requests
    double mean_tpot_ms = 0;            // completed requests with more than one token: (latency - ttft) / (tokens - 1)
};

// Linear interpolation between closest ranks (numpy.percentile's default); p in [0, 100]; 0 for an empty set.
inline double percentile(std::vector<double> values, double p) {
    if (values.empty()) return 0;
    std::sort(values.begin(), values.end());
    const double pos = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(values.size() - 1);
    const auto lo = static_cast<size_t>(pos);
    const size_t hi = std::min(lo + 1, values.size() - 1);
    return values[lo] + (values[hi] - values[lo]) * (pos - static_cast<double>(lo));
}

// Mean and percentiles of seconds, reported in milliseconds.
inline LatencySummary summarize_latency(const std::vector<double>& seconds) {
    LatencySummary s;
    if (seconds.empty()) return s;
    s.mean_ms = 1e3 * std::accumulate(seconds.begin(), seconds.end(), 0.0) / static_cast<double>(seconds.size());
    s.p50_ms = 1e3 * percentile(seconds, 50);
    s.p90_ms = 1e3 * percentile(seconds, 90);
    s.p99_ms = 1e3 * percentile(seconds, 99);
    return s;
}

// Time per output token after the first, of one request; < 0 when it is undefined (fewer than two tokens).
inline double tpot_s(const RequestRecord& r) {
    if (r.num_output_tokens < 2 || r.ttft_s < 0) return -1;
    return (r.latency_s - r.ttft_s) / static_cast<double>(r.num_output_tokens - 1);
}

inline ServeBenchSummary summarize_requests(const std::vector<RequestRecord>& records, double duration_s) {
    ServeBenchSummary s;
    s.duration_s = duration_s;
    std::vector<double> ttfts, itls, latencies, tpots;
    for (const RequestRecord& r : records) {
        switch (r.outcome) {
            case RequestOutcome::kCompleted:
                ++s.num_completed;
                itls.insert(itls.end(), r.itl_s.begin(), r.itl_s.end());
                latencies.push_back(r.latency_s);
                if (const double t = tpot_s(r); t >= 0) tpots.push_back(t);
                break;
            case RequestOutcome::kCancelled:
                ++s.num_cancelled;
                break;
            case RequestOutcome::kRejected:
                ++s.num_rejected;
                continue;
            case RequestOutcome::kError:
                ++s.num_errors;
                continue;
        }
        s.num_prompt_tokens += r.num_prompt_tokens;
        s.num_output_tokens += r.num_output_tokens;
        if (r.ttft_s >= 0) ttfts.push_back(r.ttft_s);
    }
    if (duration_s > 0) {
        s.request_throughput = static_cast<double>(s.num_completed) / duration_s;
        s.output_throughput = static_cast<double>(s.num_output_tokens) / duration_s;
        s.total_token_throughput = static_cast<double>(s.num_prompt_tokens + s.num_output_tokens) / duration_s;
    }
    s.ttft = summarize_latency(ttfts);
    s.itl = summarize_latency(itls);
    s.e2e_latency = summarize_latency(latencies);
    if (!tpots.empty()) {
        s.mean_tpot_ms = 1e3 * std::accumulate(tpots.begin(), tpots.end(), 0.0) / static_cast<double>(tpots.size());
    }
    return s;
}

// Dollars per million output tokens for a machine rented at gpu_hour_usd that streams tokens_per_s; 0 when nothing
// was generated (the cost is then undefined, not infinite, in the report).
inline double usd_per_million_tokens(double gpu_hour_usd, double tokens_per_s) {
    if (tokens_per_s <= 0) return 0;
    return gpu_hour_usd / 3600.0 / tokens_per_s * 1e6;
}

// Splits a server-sent event stream, fed in arbitrary pieces, into the data of each event: the `data:` lines of an
// event (one optional space after the colon removed) joined by '\n', delivered at the blank line that ends it.
// Other fields (event:, id:, comments) are ignored. Lines may end in "\n" or "\r\n".
class SseParser {
  public:
    // Appends bytes; returns the data of every event completed by them, in order.
    std::vector<std::string> feed(const char* data, size_t num_bytes) {
        std::vector<std::string> events;
        buffer_.append(data, num_bytes);
        size_t start = 0;
        for (size_t nl; (nl = buffer_.find('\n', start)) != std::string::npos; start = nl + 1) {
            size_t end = nl;
            if (end > start && buffer_[end - 1] == '\r') --end;
            const std::string_view line(buffer_.data() + start, end - start);
            if (line.empty()) {
                if (has_data_) events.push_back(std::move(data_));
                data_.clear();
                has_data_ = false;
            } else if (line.starts_with("data:")) {
                std::string_view value = line.substr(5);
                if (value.starts_with(' ')) value.remove_prefix(1);
                if (has_data_) data_ += '\n';
                data_.append(value);
                has_data_ = true;
            }
        }
        buffer_.erase(0, start);
        return events;
    }

  private:
    std::string buffer_;  // bytes after the last complete line
    std::string data_;    // data of the event being read
    bool has_data_ = false;
};

}  // namespace frugal::cli
