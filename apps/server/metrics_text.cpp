#include "server/metrics_text.h"

#include <fmt/format.h>

namespace frugal::server {
namespace {

void metric(std::string& out, const char* name, const char* type, const char* help, double value) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} {2}\n{0} {3}\n", name, help, type, value);
}

void histogram(std::string& out, const char* name, const char* help, const LatencyHistogram& h) {
    out += fmt::format("# HELP {0} {1}\n# TYPE {0} histogram\n", name, help);
    for (size_t i = 0; i < LatencyHistogram::kBounds.size(); ++i) {
        out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, LatencyHistogram::kBounds[i], h.buckets[i]);
    }
    out += fmt::format("{0}_bucket{{le=\"+Inf\"}} {1}\n{0}_sum {2}\n{0}_count {1}\n", name, h.count, h.sum);
}

}  // namespace

std::string render_metrics(const ServingMetrics& m, double price) {
    std::string out;
    metric(out, "frugal_requests_running", "gauge", "Requests in the running batch.", static_cast<double>(m.num_running));
    metric(out, "frugal_requests_waiting", "gauge", "Requests waiting to be scheduled.", static_cast<double>(m.num_waiting));
    metric(out, "frugal_kv_cache_blocks_used", "gauge", "KV-cache blocks held by requests.",
           static_cast<double>(m.kv_blocks_used));
    metric(out, "frugal_kv_cache_blocks_total", "gauge", "KV-cache blocks in the pool.",
           static_cast<double>(m.kv_blocks_total));
    metric(out, "frugal_kv_cache_usage_ratio", "gauge", "Fraction of KV-cache blocks held by requests.",
           m.kv_blocks_total > 0 ? static_cast<double>(m.kv_blocks_used) / static_cast<double>(m.kv_blocks_total) : 0);
    metric(out, "frugal_prefix_cache_queries_total", "counter", "Prompt tokens looked up in the prefix cache.",
           static_cast<double>(m.prefix_cache_queries));
    metric(out, "frugal_prefix_cache_hits_total", "counter", "Prompt tokens the prefix cache supplied.",
           static_cast<double>(m.prefix_cache_hits));
    metric(out, "frugal_prefix_cache_hit_rate", "gauge", "Prefix-cache hits over queries since start.",
           m.prefix_cache_queries > 0
               ? static_cast<double>(m.prefix_cache_hits) / static_cast<double>(m.prefix_cache_queries)
               : 0);
    metric(out, "frugal_preemptions_total", "counter", "Running requests preempted for lack of KV blocks.",
           static_cast<double>(m.num_preemptions));
    metric(out, "frugal_prompt_tokens_total", "counter", "Prompt tokens of admitted requests.",
           static_cast<double>(m.prompt_tokens));
    metric(out, "frugal_generation_tokens_total", "counter", "Tokens generated.",
           static_cast<double>(m.generation_tokens));
    out += "# HELP frugal_requests_finished_total Requests finished, by reason.\n"
           "# TYPE frugal_requests_finished_total counter\n";
    out += fmt::format("frugal_requests_finished_total{{reason=\"stop\"}} {}\n", m.requests_finished_stop);
    out += fmt::format("frugal_requests_finished_total{{reason=\"length\"}} {}\n", m.requests_finished_length);
    out += fmt::format("frugal_requests_finished_total{{reason=\"abort\"}} {}\n", m.requests_aborted);
    out += fmt::format("frugal_requests_finished_total{{reason=\"error\"}} {}\n", m.requests_failed);
    metric(out, "frugal_requests_rejected_total", "counter", "Requests refused with 429 because the queue was full.",
           static_cast<double>(m.requests_rejected));
    metric(out, "frugal_engine_busy_seconds_total", "counter", "Time spent in engine steps.", m.busy_seconds);
    metric(out, "frugal_uptime_seconds", "gauge", "Seconds since the server started.", m.uptime_seconds);
    histogram(out, "frugal_time_to_first_token_seconds", "Time from arrival to the first generated token.",
              m.time_to_first_token);
    histogram(out, "frugal_inter_token_latency_seconds", "Time between successive tokens of a request.",
              m.inter_token_latency);
    histogram(out, "frugal_e2e_request_latency_seconds", "Time from arrival to the end of a request.",
              m.e2e_request_latency);
    if (price > 0) {
        metric(out, "frugal_gpu_hour_price_usd", "gauge", "The configured price of one hour of this machine.", price);
        const double tokens = static_cast<double>(m.generation_tokens);
        metric(out, "frugal_usd_per_million_output_tokens", "gauge",
               "Cost of a million generated tokens at the configured price over the whole uptime (idle time "
               "included; 0 until a token is generated).",
               tokens > 0 ? price * m.uptime_seconds / 3600.0 / tokens * 1e6 : 0);
        metric(out, "frugal_usd_per_million_output_tokens_busy", "gauge",
               "Cost of a million generated tokens at the configured price counting only time the engine was busy.",
               tokens > 0 ? price * m.busy_seconds / 3600.0 / tokens * 1e6 : 0);
    }
    return out;
}

}  // namespace frugal::server
