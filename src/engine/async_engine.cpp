#include "engine/async_engine.h"

#include "core/logging.h"

namespace frugal {

bool RequestStream::next(std::vector<RequestOutput>* out, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    ready_.wait_for(lock, timeout, [&] { return !outputs_.empty() || finished_; });
    const bool had = !outputs_.empty();
    while (!outputs_.empty()) {
        out->push_back(std::move(outputs_.front()));
        outputs_.pop_front();
    }
    return had || !finished_;
}

Status RequestStream::error() const {
    std::lock_guard lock(mutex_);
    return error_;
}

void RequestStream::push(RequestOutput output) {
    {
        std::lock_guard lock(mutex_);
        if (output.finish_reason != FinishReason::kNone) finished_ = true;
        outputs_.push_back(std::move(output));
    }
    ready_.notify_all();
}

void RequestStream::fail(Status status) {
    {
        std::lock_guard lock(mutex_);
        finished_ = true;
        error_ = std::move(status);
    }
    ready_.notify_all();
}

AsyncEngine::AsyncEngine(std::unique_ptr<Engine> engine, const AsyncEngineOptions& options)
    : engine_(std::move(engine)), options_(options), tokenizer_(engine_->tokenizer()),
      context_length_(engine_->context_length()), vocab_size_(engine_->config().vocab_size),
      start_(std::chrono::steady_clock::now()) {
    metrics_.kv_blocks_total = engine_->block_pool().num_blocks();
    thread_ = std::thread([this] { loop(); });
}

AsyncEngine::~AsyncEngine() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
    for (auto& [id, t] : tracked_) t.stream->fail(Status::error("the server is shutting down"));
    for (auto& [r, stream] : incoming_) stream->fail(Status::error("the server is shutting down"));
}

Result<std::shared_ptr<RequestStream>> AsyncEngine::submit(Request request, bool* overloaded) {
    *overloaded = false;
    RETURN_IF_ERROR(engine_->validate(request));
    std::shared_ptr<RequestStream> stream;
    {
        std::lock_guard lock(mutex_);
        if (stop_) return Status::error("the server is shutting down");
        const int64_t waiting = scheduler_waiting_ + static_cast<int64_t>(incoming_.size());
        if (waiting >= options_.max_waiting) {
            *overloaded = true;
            ++metrics_.requests_rejected;
            return Status::errorf("the server is busy: {} requests are waiting (the limit is {}); retry later",
                                  waiting, options_.max_waiting);
        }
        request.request_id = next_request_id_++;
        stream = std::make_shared<RequestStream>(request.request_id);
        incoming_.emplace_back(std::move(request), stream);
    }
    wake_.notify_all();
    return stream;
}

void AsyncEngine::abort(int64_t request_id) {
    {
        std::lock_guard lock(mutex_);
        aborts_.push_back(request_id);
    }
    wake_.notify_all();
}

ServingMetrics AsyncEngine::metrics() const {
    std::lock_guard lock(mutex_);
    ServingMetrics m = metrics_;
    m.num_waiting = scheduler_waiting_ + static_cast<int64_t>(incoming_.size());
    m.uptime_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    return m;
}

void AsyncEngine::finish_tracked(int64_t request_id, FinishReason reason,
                                 std::chrono::steady_clock::time_point now) {
    const auto it = tracked_.find(request_id);
    if (it == tracked_.end()) return;
    std::lock_guard lock(mutex_);
    switch (reason) {
        case FinishReason::kStop: ++metrics_.requests_finished_stop; break;
        case FinishReason::kLength: ++metrics_.requests_finished_length; break;
        case FinishReason::kAborted: ++metrics_.requests_aborted; break;
        case FinishReason::kNone: break;
    }
    metrics_.e2e_request_latency.observe(std::chrono::duration<double>(now - it->second.arrival).count());
    tracked_.erase(it);
}

void AsyncEngine::loop() {
    using Clock = std::chrono::steady_clock;
    for (;;) {
        std::vector<std::pair<Request, std::shared_ptr<RequestStream>>> incoming;
        std::vector<int64_t> aborts;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] {
                return stop_ || !incoming_.empty() || !aborts_.empty() || engine_->has_unfinished();
            });
            if (stop_) return;
            incoming.swap(incoming_);
            aborts.swap(aborts_);
        }
        const auto now = Clock::now();
        for (auto& [request, stream] : incoming) {
            const int64_t id = request.request_id;
            const auto num_prompt = static_cast<int64_t>(request.prompt_ids.size());
            if (Status s = engine_->add_request(request); !s.ok()) {
                stream->fail(s);
                continue;
            }
            tracked_[id] = Tracked{stream, now, now, false};
            std::lock_guard lock(mutex_);
            metrics_.prompt_tokens += num_prompt;
        }
        for (int64_t id : aborts) {
            if (!engine_->abort_request(id)) continue;
            const auto it = tracked_.find(id);
            if (it != tracked_.end()) {
                RequestOutput out;
                out.request_id = id;
                out.finish_reason = FinishReason::kAborted;
                it->second.stream->push(std::move(out));
            }
            finish_tracked(id, FinishReason::kAborted, now);
        }

        if (engine_->has_unfinished()) {
            const auto step_start = Clock::now();
            Result<std::vector<RequestOutput>> outputs = engine_->step();
            const auto step_end = Clock::now();
            if (!outputs.ok()) {
                // A failed forward pass leaves no trustworthy state for the requests in it: fail them all, keep
                // serving new ones.
                LOG_WARN("engine step failed: {}", outputs.status().message());
                for (auto& [id, t] : tracked_) {
                    engine_->abort_request(id);
                    t.stream->fail(outputs.status());
                }
                std::lock_guard lock(mutex_);
                metrics_.requests_failed += static_cast<int64_t>(tracked_.size());
                tracked_.clear();
                continue;
            }
            int64_t sampled = 0;
            for (RequestOutput& out : outputs.value()) {
                const auto it = tracked_.find(out.request_id);
                if (it == tracked_.end()) continue;
                Tracked& t = it->second;
                if (out.token_id >= 0) {
                    ++sampled;
                    std::lock_guard lock(mutex_);
                    if (!t.has_token) {
                        metrics_.time_to_first_token.observe(std::chrono::duration<double>(step_end - t.arrival).count());
                    } else {
                        metrics_.inter_token_latency.observe(
                            std::chrono::duration<double>(step_end - t.last_token).count());
                    }
                    t.has_token = true;
                    t.last_token = step_end;
                }
                const FinishReason reason = out.finish_reason;
                const int64_t id = out.request_id;
                t.stream->push(std::move(out));
                if (reason != FinishReason::kNone) finish_tracked(id, reason, step_end);
            }
            std::lock_guard lock(mutex_);
            metrics_.generation_tokens += sampled;
            metrics_.busy_seconds += std::chrono::duration<double>(step_end - step_start).count();
        }
        std::lock_guard lock(mutex_);
        const Scheduler& s = engine_->scheduler();
        scheduler_waiting_ = s.num_waiting();
        metrics_.num_running = s.num_running();
        metrics_.kv_blocks_used = engine_->block_pool().num_used_blocks();
        metrics_.prefix_cache_queries = s.stats().prefix_cache_queries;
        metrics_.prefix_cache_hits = s.stats().prefix_cache_hits;
        metrics_.num_preemptions = s.stats().num_preemptions;
    }
}

}  // namespace frugal
