// AsyncEngine: runs an Engine's step loop on its own thread so many callers (HTTP handler threads) can submit and
// cancel requests concurrently. Each submitted request gets a RequestStream its caller drains; the loop pushes
// every output into it as the step produces it, and timestamps them for the latency metrics. The Engine is only
// ever touched by the loop thread; everything else here is guarded by one mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "engine/engine.h"
#include "engine/serving_metrics.h"

namespace frugal {

// The outputs of one request, produced by the loop thread and consumed by one caller thread.
class RequestStream {
public:
    explicit RequestStream(int64_t request_id) : request_id_(request_id) {}

    int64_t request_id() const { return request_id_; }
    // Moves the outputs produced so far into *out (appending), waiting up to `timeout` for at least one. Returns
    // false once the stream is finished and drained; error() then says whether it failed.
    bool next(std::vector<RequestOutput>* out, std::chrono::milliseconds timeout);
    Status error() const;

private:
    friend class AsyncEngine;
    void push(RequestOutput output);
    void fail(Status status);

    const int64_t request_id_;
    mutable std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<RequestOutput> outputs_;
    bool finished_ = false;
    Status error_ = ok_status();
};

struct AsyncEngineOptions {
    int64_t max_waiting = 256;  // submissions beyond this many waiting requests are refused (the server's 429)
};

class AsyncEngine {
public:
    AsyncEngine(std::unique_ptr<Engine> engine, const AsyncEngineOptions& options);
    ~AsyncEngine();  // stops the loop; unfinished streams end with an error
    AsyncEngine(const AsyncEngine&) = delete;
    AsyncEngine& operator=(const AsyncEngine&) = delete;

    // Immutable after construction, so safe from any thread.
    const Tokenizer* tokenizer() const { return tokenizer_; }
    int64_t context_length() const { return context_length_; }
    int64_t vocab_size() const { return vocab_size_; }

    // Validates and queues a request (its request_id is assigned here). kUnavailable-style refusal when the
    // queue is full: *overloaded is set and the status says so. Other errors: the request is invalid.
    Result<std::shared_ptr<RequestStream>> submit(Request request, bool* overloaded);
    // Cancels a request: it leaves the engine and frees its KV blocks at the loop's next turn. Its stream ends.
    void abort(int64_t request_id);
    ServingMetrics metrics() const;

private:
    struct Tracked {
        std::shared_ptr<RequestStream> stream;
        std::chrono::steady_clock::time_point arrival;
        std::chrono::steady_clock::time_point last_token;
        bool has_token = false;
    };

    void loop();
    void finish_tracked(int64_t request_id, FinishReason reason, std::chrono::steady_clock::time_point now);

    std::unique_ptr<Engine> engine_;  // loop thread only
    AsyncEngineOptions options_;
    const Tokenizer* tokenizer_;
    int64_t context_length_;
    int64_t vocab_size_;
    std::chrono::steady_clock::time_point start_;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stop_ = false;
    std::vector<std::pair<Request, std::shared_ptr<RequestStream>>> incoming_;
    std::vector<int64_t> aborts_;
    int64_t next_request_id_ = 1;
    int64_t scheduler_waiting_ = 0;  // as of the last step
    ServingMetrics metrics_;
    std::unordered_map<int64_t, Tracked> tracked_;  // loop thread only
    std::thread thread_;
};

}  // namespace frugal
