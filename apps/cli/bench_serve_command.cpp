// frugal bench-serve: a load generator for an OpenAI-compatible server (frugal serve, vLLM, llama.cpp's server),
// after vLLM's benchmark_serving. C worker threads each keep one streaming /v1/completions request in flight, with
// random token-id prompts of exactly I ids and exactly O output tokens (ignore_eos), until N requests were sent or
// --duration seconds passed; it reports throughput, TTFT, inter-token latency and TPOT, and $ per 1M output tokens.
// Table on stdout, or JSON with --json; progress on stderr. Exit code 1 when any request failed (429s and the
// cancellations it makes itself are not failures).
#include <fmt/format.h>
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_serve_stats.h"
#include "commands.h"
#include "core/status.h"

namespace frugal::cli {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMaxErrorMessages = 5;
constexpr double kMaxRetryAfterS = 5;
constexpr int64_t kDefaultVocabSize = 256;  // when /v1/models does not say (vocab_size is a frugal extension)

struct BenchServeOptions {
    std::string url;
    std::string model;  // empty: the first model /v1/models lists
    std::string api_key;
    int concurrency = 8;
    int64_t num_requests = 100;
    int64_t input_len = 128;
    int64_t output_len = 128;
    double duration_s = 0;  // > 0: send requests for this long; num_requests is then ignored
    double cancel_rate = 0;
    uint64_t seed = 0;
    double gpu_hour_price = 0;  // dollars per GPU-hour; 0: no cost line
    double request_timeout_s = 600;
    bool json = false;
};

// "http://host:port/prefix" split into what httplib::Client takes and the path every endpoint is appended to.
struct ServerUrl {
    std::string origin;  // scheme://host[:port]
    std::string prefix;  // "" or "/prefix", without a trailing slash
};

Result<ServerUrl> parse_server_url(const std::string& url) {
    const size_t scheme_end = url.find("://");
    if (scheme_end == std::string::npos ||
        (url.substr(0, scheme_end) != "http" && url.substr(0, scheme_end) != "https")) {
        return Status::errorf("--url '{}' must start with http:// or https://", url);
    }
    const size_t path_start = url.find('/', scheme_end + 3);
    ServerUrl s;
    s.origin = url.substr(0, path_start);
    if (path_start != std::string::npos) s.prefix = url.substr(path_start);
    while (!s.prefix.empty() && s.prefix.back() == '/') s.prefix.pop_back();
    if (s.origin.size() == scheme_end + 3) return Status::errorf("--url '{}' has no host", url);
    return s;
}

// httplib names its errors in one word ("Connection", "Read").
std::string describe(httplib::Error error) { return fmt::format("HTTP client error '{}'", httplib::to_string(error)); }

httplib::Headers auth_headers(const BenchServeOptions& o) {
    httplib::Headers h;
    if (!o.api_key.empty()) h.emplace("Authorization", "Bearer " + o.api_key);
    return h;
}

struct ServedModel {
    std::string id;
    int64_t vocab_size = kDefaultVocabSize;
};

// GET /v1/models: the model to ask for (--model, or the first listed) and its vocabulary size.
Result<ServedModel> fetch_model(const BenchServeOptions& o, const ServerUrl& server) {
    httplib::Client client(server.origin);
    client.set_connection_timeout(10);
    client.set_read_timeout(30);
    const std::string path = server.prefix + "/v1/models";
    httplib::Result res = client.Get(path, auth_headers(o));
    if (!res) return Status::errorf("GET {}{}: {}", server.origin, path, describe(res.error()));
    if (res->status != 200) {
        return Status::errorf("GET {}{}: HTTP {}: {}", server.origin, path, res->status, res->body.substr(0, 300));
    }
    const nlohmann::json j = nlohmann::json::parse(res->body, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.contains("data") || !j["data"].is_array()) {
        return Status::errorf("GET {}{}: expected an object with a \"data\" array, got '{}'", server.origin, path,
                              res->body.substr(0, 300));
    }
    const nlohmann::json* entry = nullptr;
    for (const nlohmann::json& m : j["data"]) {
        if (!m.is_object() || !m.contains("id") || !m["id"].is_string()) continue;
        if (entry == nullptr && o.model.empty()) entry = &m;
        if (!o.model.empty() && m["id"] == o.model) entry = &m;
    }
    ServedModel model;
    model.id = o.model;
    if (entry == nullptr && o.model.empty()) {
        return Status::errorf("GET {}{}: the server lists no model", server.origin, path);
    }
    if (entry != nullptr) {
        model.id = (*entry)["id"].get<std::string>();
        if (entry->contains("vocab_size") && (*entry)["vocab_size"].is_number_integer()) {
            model.vocab_size = (*entry)["vocab_size"].get<int64_t>();
        } else if (entry->contains("meta") && (*entry)["meta"].is_object() &&
                   (*entry)["meta"].contains("n_vocab") && (*entry)["meta"]["n_vocab"].is_number_integer()) {
            // llama.cpp's server says it under meta.n_vocab.
            model.vocab_size = (*entry)["meta"]["n_vocab"].get<int64_t>();
        }
    }
    if (model.vocab_size <= 0) return Status::errorf("model '{}' reports vocab_size {}", model.id, model.vocab_size);
    return model;
}

// What request number request_id sends, the same for a given --seed whichever worker sends it.
struct RequestPlan {
    std::vector<int32_t> prompt;  // [input_len] token ids
    int64_t cancel_after = 0;     // close the stream after this many tokens; 0: read it to the end
};

RequestPlan plan_request(const BenchServeOptions& o, int64_t vocab_size, int64_t request_id) {
    std::seed_seq seq{static_cast<uint32_t>(o.seed), static_cast<uint32_t>(o.seed >> 32),
                      static_cast<uint32_t>(request_id), static_cast<uint32_t>(request_id >> 32)};
    std::mt19937_64 rng(seq);
    std::uniform_int_distribution<int64_t> token(0, vocab_size - 1);
    RequestPlan plan;
    plan.prompt.resize(static_cast<size_t>(o.input_len));
    for (int32_t& id : plan.prompt) id = static_cast<int32_t>(token(rng));
    if (o.cancel_rate > 0 && o.output_len > 1 && std::bernoulli_distribution(o.cancel_rate)(rng)) {
        plan.cancel_after = std::uniform_int_distribution<int64_t>(1, o.output_len - 1)(rng);
    }
    return plan;
}

struct RequestResult {
    RequestRecord record;
    std::string error;         // for RequestOutcome::kError
    double retry_after_s = 0;  // from a 429's Retry-After
};

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

// Sends one streaming completion and follows its server-sent events. The client belongs to the calling thread.
RequestResult run_request(httplib::Client& client, const BenchServeOptions& o, const ServerUrl& server,
                          const std::string& model_id, const RequestPlan& plan) {
    const nlohmann::json body = {{"model", model_id},
                                 {"prompt", plan.prompt},
                                 {"max_tokens", o.output_len},
                                 {"temperature", 0.0},
                                 {"stream", true},
                                 {"ignore_eos", true},
                                 {"stream_options", {{"include_usage", true}}}};
    httplib::Request req;
    req.method = "POST";
    req.path = server.prefix + "/v1/completions";
    req.headers = auth_headers(o);
    req.headers.emplace("Content-Type", "application/json");
    req.headers.emplace("Accept", "text/event-stream");
    req.headers.emplace("Accept-Encoding", "identity");  // a compressed stream would arrive in bursts
    req.body = body.dump();

    RequestResult result;
    RequestRecord& rec = result.record;
    int status = 0;
    std::string error_body;  // start of a non-200 body
    SseParser parser;
    bool done = false, cancelled = false;
    std::string stream_error;
    int64_t num_choice_chunks = 0;
    int64_t usage_prompt_tokens = -1, usage_completion_tokens = -1;
    double last_token_s = 0;
    const Clock::time_point start = Clock::now();

    req.response_handler = [&](const httplib::Response& res) {
        status = res.status;
        if (res.has_header("Retry-After")) {
            try {
                result.retry_after_s = std::stod(res.get_header_value("Retry-After"));
            } catch (const std::exception&) {
                result.retry_after_s = 1;  // an HTTP date: wait a little rather than not at all
            }
        }
        return true;
    };
    req.content_receiver = [&](const char* data, size_t num_bytes, uint64_t /*offset*/, uint64_t /*total*/) {
        if (status != 200) {
            if (error_body.size() < 300) error_body.append(data, std::min<size_t>(num_bytes, 300));
            return true;
        }
        const double now_s = seconds_since(start);
        for (const std::string& event : parser.feed(data, num_bytes)) {
            if (event == "[DONE]") {
                done = true;
                continue;
            }
            const nlohmann::json chunk = nlohmann::json::parse(event, nullptr, /*allow_exceptions=*/false);
            if (!chunk.is_object()) {
                stream_error = fmt::format("malformed event '{}'", event.substr(0, 200));
                return false;
            }
            if (chunk.contains("error")) {
                stream_error = fmt::format("error event: {}", chunk["error"].dump().substr(0, 300));
                return false;
            }
            if (chunk.contains("usage") && chunk["usage"].is_object()) {
                const nlohmann::json& usage = chunk["usage"];
                if (usage.value("completion_tokens", nlohmann::json()).is_number_integer()) {
                    usage_completion_tokens = usage["completion_tokens"].get<int64_t>();
                }
                if (usage.value("prompt_tokens", nlohmann::json()).is_number_integer()) {
                    usage_prompt_tokens = usage["prompt_tokens"].get<int64_t>();
                }
            }
            if (!chunk.contains("choices") || !chunk["choices"].is_array() || chunk["choices"].empty()) continue;
            if (++num_choice_chunks == 1) {
                rec.ttft_s = now_s;
            } else {
                rec.itl_s.push_back(now_s - last_token_s);
            }
            last_token_s = now_s;
            if (plan.cancel_after > 0 && num_choice_chunks >= plan.cancel_after) {
                cancelled = true;
                return false;  // httplib closes the connection
            }
        }
        return true;
    };

    httplib::Response res;
    httplib::Error error = httplib::Error::Success;
    const bool sent = client.send(req, res, error);
    rec.latency_s = seconds_since(start);
    if (status == 0 && sent) status = res.status;  // httplib calls no response handler for a 204
    rec.num_prompt_tokens = usage_prompt_tokens >= 0 ? usage_prompt_tokens : o.input_len;
    rec.num_output_tokens = usage_completion_tokens >= 0 ? usage_completion_tokens : num_choice_chunks;
    rec.outcome = RequestOutcome::kError;
    if (cancelled) {
        rec.outcome = RequestOutcome::kCancelled;
        rec.num_output_tokens = num_choice_chunks;
    } else if (status == 0) {
        result.error = fmt::format("no response: {}", describe(error));
    } else if (status == 429) {
        rec.outcome = RequestOutcome::kRejected;
    } else if (status != 200) {
        result.error = fmt::format("HTTP {}: {}", status, error_body.empty() ? res.body.substr(0, 300) : error_body);
    } else if (!stream_error.empty()) {
        result.error = stream_error;
    } else if (!sent) {
        result.error = fmt::format("stream broken after {} tokens: {}", num_choice_chunks, describe(error));
    } else if (!done) {
        result.error = fmt::format("stream ended after {} tokens without data: [DONE]", num_choice_chunks);
    } else {
        rec.outcome = RequestOutcome::kCompleted;
    }
    return result;
}

// Shared by the workers and the progress thread.
struct LoadState {
    std::atomic<int64_t> next_request_id{0};
    std::atomic<int64_t> num_finished{0};
    std::atomic<int64_t> num_failed{0};
    std::mutex mu;
    std::vector<RequestRecord> records;       // guarded by mu
    std::vector<std::string> error_messages;  // guarded by mu; the first kMaxErrorMessages
    std::condition_variable finished_cv;      // with mu: the workers are done
    bool workers_done = false;                // guarded by mu
};

void worker_loop(const BenchServeOptions& o, const ServerUrl& server, const ServedModel& model,
                 Clock::time_point deadline, LoadState& state) {
    httplib::Client client(server.origin);
    client.set_keep_alive(false);
    client.set_connection_timeout(10);
    const auto timeout_us = static_cast<int64_t>(o.request_timeout_s * 1e6);
    client.set_read_timeout(timeout_us / 1000000, timeout_us % 1000000);
    client.set_write_timeout(timeout_us / 1000000, timeout_us % 1000000);
    while (true) {
        if (o.duration_s > 0 && Clock::now() >= deadline) break;
        const int64_t request_id = state.next_request_id.fetch_add(1);
        if (o.duration_s <= 0 && request_id >= o.num_requests) break;
        const RequestPlan plan = plan_request(o, model.vocab_size, request_id);
        RequestResult r = run_request(client, o, server, model.id, plan);
        const RequestOutcome outcome = r.record.outcome;
        {
            std::lock_guard<std::mutex> lock(state.mu);
            state.records.push_back(std::move(r.record));
            if (outcome == RequestOutcome::kError &&
                state.error_messages.size() < static_cast<size_t>(kMaxErrorMessages)) {
                state.error_messages.push_back(std::move(r.error));
            }
        }
        if (outcome == RequestOutcome::kError) state.num_failed.fetch_add(1);
        state.num_finished.fetch_add(1);
        if (outcome == RequestOutcome::kRejected && r.retry_after_s > 0) {
            std::this_thread::sleep_for(std::chrono::duration<double>(std::min(r.retry_after_s, kMaxRetryAfterS)));
        }
    }
}

// One line on stderr, rewritten in place on a terminal and repeated once a second otherwise.
void report_progress(const BenchServeOptions& o, Clock::time_point start, LoadState& state) {
    const bool tty = ::isatty(STDERR_FILENO) != 0;
    std::unique_lock<std::mutex> lock(state.mu);
    while (true) {
        const bool last = state.finished_cv.wait_for(lock, std::chrono::seconds(1), [&] { return state.workers_done; });
        const int64_t finished = state.num_finished.load();
        const double elapsed_s = seconds_since(start);
        const std::string count = o.duration_s > 0 ? fmt::format("{} finished", finished)
                                                   : fmt::format("{}/{} finished", finished, o.num_requests);
        const std::string time = o.duration_s > 0 ? fmt::format("{:.0f}/{:.0f} s", elapsed_s, o.duration_s)
                                                  : fmt::format("{:.0f} s", elapsed_s);
        fmt::print(stderr, "{}frugal bench-serve: {}, {} failed, {}{}", tty ? "\r" : "", count, state.num_failed.load(),
                   time, tty && !last ? "" : "\n");
        if (last) return;
    }
}

nlohmann::ordered_json to_json(const BenchServeOptions& o, const ServedModel& model, int64_t num_sent,
                               const ServeBenchSummary& s, const std::vector<std::string>& errors) {
    nlohmann::ordered_json j = {{"url", o.url},
                                {"model", model.id},
                                {"concurrency", o.concurrency},
                                {"num_requests", num_sent},
                                {"input_len", o.input_len},
                                {"output_len", o.output_len},
                                {"cancel_rate", o.cancel_rate},
                                {"seed", o.seed},
                                {"duration_s", s.duration_s},
                                {"completed", s.num_completed},
                                {"cancelled", s.num_cancelled},
                                {"rejected", s.num_rejected},
                                {"errors", s.num_errors},
                                {"total_input_tokens", s.num_prompt_tokens},
                                {"total_output_tokens", s.num_output_tokens},
                                {"request_throughput", s.request_throughput},
                                {"output_throughput", s.output_throughput},
                                {"total_token_throughput", s.total_token_throughput}};
    const std::pair<const char*, const LatencySummary*> latencies[] = {
        {"ttft", &s.ttft}, {"itl", &s.itl}, {"e2el", &s.e2e_latency}};
    for (const auto& [name, l] : latencies) {
        j[fmt::format("mean_{}_ms", name)] = l->mean_ms;
        j[fmt::format("p50_{}_ms", name)] = l->p50_ms;
        j[fmt::format("p90_{}_ms", name)] = l->p90_ms;
        j[fmt::format("p99_{}_ms", name)] = l->p99_ms;
    }
    j["mean_tpot_ms"] = s.mean_tpot_ms;
    if (o.gpu_hour_price > 0) {
        j["gpu_hour_price"] = o.gpu_hour_price;
        j["usd_per_1m_output_tokens"] = usd_per_million_tokens(o.gpu_hour_price, s.output_throughput);
    }
    j["error_messages"] = errors;
    return j;
}

void print_table(const BenchServeOptions& o, const ServedModel& model, int64_t num_sent, const ServeBenchSummary& s) {
    fmt::print("| measure | value |\n|---|---:|\n");
    fmt::print("| model | {} |\n", model.id);
    fmt::print("| concurrency | {} |\n", o.concurrency);
    fmt::print("| input / output tokens per request | {} / {} |\n", o.input_len, o.output_len);
    fmt::print("| duration | {:.2f} s |\n", s.duration_s);
    fmt::print("| requests sent | {} |\n", num_sent);
    fmt::print("| completed / cancelled / rejected (429) / errors | {} / {} / {} / {} |\n", s.num_completed,
               s.num_cancelled, s.num_rejected, s.num_errors);
    fmt::print("| total input / output tokens | {} / {} |\n", s.num_prompt_tokens, s.num_output_tokens);
    fmt::print("| request throughput | {:.2f} req/s |\n", s.request_throughput);
    fmt::print("| output token throughput | {:.2f} tok/s |\n", s.output_throughput);
    fmt::print("| total token throughput | {:.2f} tok/s |\n", s.total_token_throughput);
    const std::pair<const char*, const LatencySummary*> latencies[] = {
        {"TTFT", &s.ttft}, {"ITL", &s.itl}, {"end-to-end latency", &s.e2e_latency}};
    for (const auto& [name, l] : latencies) {
        fmt::print("| {} mean / p50 / p90 / p99 | {:.2f} / {:.2f} / {:.2f} / {:.2f} ms |\n", name, l->mean_ms,
                   l->p50_ms, l->p90_ms, l->p99_ms);
    }
    fmt::print("| mean TPOT | {:.2f} ms |\n", s.mean_tpot_ms);
    if (o.gpu_hour_price > 0) {
        fmt::print("| $ per 1M output tokens (at ${:.2f}/GPU-hour) | {:.4f} |\n", o.gpu_hour_price,
                   usd_per_million_tokens(o.gpu_hour_price, s.output_throughput));
    }
}

// Returns whether every request succeeded (429s and the client's own cancellations count as success).
Result<bool> bench_serve(const BenchServeOptions& o) {
    ASSIGN_OR_RETURN(const ServerUrl server, parse_server_url(o.url));
    ASSIGN_OR_RETURN(const ServedModel model, fetch_model(o, server));
    fmt::print(stderr,
               "frugal bench-serve: {} model '{}' (vocab {}), concurrency {}, {}, {} prompt + {} output tokens\n",
               server.origin + server.prefix, model.id, model.vocab_size, o.concurrency,
               o.duration_s > 0 ? fmt::format("for {} s", o.duration_s) : fmt::format("{} requests", o.num_requests),
               o.input_len, o.output_len);

    LoadState state;
    const Clock::time_point start = Clock::now();
    const Clock::time_point deadline =
        start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
    std::thread progress([&] { report_progress(o, start, state); });
    std::vector<std::thread> workers;
    for (int i = 0; i < o.concurrency; ++i) {
        workers.emplace_back([&] { worker_loop(o, server, model, deadline, state); });
    }
    for (std::thread& t : workers) t.join();
    const double duration_s = seconds_since(start);
    {
        std::lock_guard<std::mutex> lock(state.mu);
        state.workers_done = true;
    }
    state.finished_cv.notify_all();
    progress.join();

    const ServeBenchSummary s = summarize_requests(state.records, duration_s);
    const auto num_sent = static_cast<int64_t>(state.records.size());
    for (const std::string& e : state.error_messages) fmt::print(stderr, "frugal bench-serve: request failed: {}\n", e);
    if (o.json) {
        fmt::print("{}\n", to_json(o, model, num_sent, s, state.error_messages).dump(1));
    } else {
        print_table(o, model, num_sent, s);
    }
    return s.num_errors == 0;
}

}  // namespace

std::function<int()> add_bench_serve_command(CLI::App& app) {
    auto o = std::make_shared<BenchServeOptions>();
    CLI::App* sub = app.add_subcommand(
        "bench-serve", "Load-test an OpenAI-compatible server: throughput, TTFT, inter-token latency, $/1M tokens");
    sub->add_option("--url", o->url, "Server base URL, e.g. http://127.0.0.1:8080")->required();
    sub->add_option("--model", o->model, "Model id to request (default: the first one /v1/models lists)");
    sub->add_option("--api-key", o->api_key, "Sent as 'Authorization: Bearer KEY'");
    sub->add_option("-c,--concurrency", o->concurrency, "Requests kept in flight")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    sub->add_option("-n,--num-requests", o->num_requests, "Requests to send (ignored with --duration)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    sub->add_option("--input-len", o->input_len, "Prompt length in tokens (random ids)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    sub->add_option("--output-len", o->output_len, "Tokens generated per request (max_tokens, ignore_eos)")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    sub->add_option("--duration", o->duration_s, "Send requests for this many seconds instead of --num-requests")
        ->check(CLI::PositiveNumber);
    sub->add_option("--cancel-rate", o->cancel_rate,
                    "Fraction of requests closed mid-stream, after a uniform [1, output-len) tokens")
        ->check(CLI::Range(0.0, 1.0));
    sub->add_option("--seed", o->seed, "Seed of the prompts and the cancellations")->capture_default_str();
    sub->add_option("--gpu-hour-price", o->gpu_hour_price, "Dollars per GPU-hour, for $ per 1M output tokens")
        ->check(CLI::PositiveNumber);
    sub->add_option("--request-timeout", o->request_timeout_s, "Seconds to wait for a response or the next chunk")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    sub->add_flag("--json", o->json, "Print the results as one JSON object");
    return [o] {
        const Result<bool> all_ok = bench_serve(*o);
        if (!all_ok.ok()) {
            fmt::print(stderr, "error: {}\n", all_ok.status().message());
            return 1;
        }
        return all_ok.value() ? 0 : 1;
    };
}

}  // namespace frugal::cli
