// OpenAiServer: frugal's OpenAI-compatible HTTP API over an AsyncEngine, on cpp-httplib.
//   POST /v1/completions, POST /v1/chat/completions (streamed as server-sent events or not), GET /v1/models,
//   GET /health, GET /metrics (Prometheus text).
// Every handler thread turns a request into engine requests (one per choice), then drains their streams,
// detokenizing and applying stop strings as tokens arrive. A client that goes away (a failed write; while a
// non-streamed answer is pending, the server probes with JSON-legal whitespace) cancels its engine requests at
// once, which frees their KV blocks.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "engine/async_engine.h"
#include "tokenizer/chat_template.h"

namespace httplib {
class Server;
}

namespace frugal::server {

struct ServerOptions {
    std::string host = "127.0.0.1";
    int port = 8080;                 // 0: any free port (port() says which)
    std::string api_key;             // empty: no authentication
    std::string model_name;          // the id /v1/models lists and requests may name
    double gpu_hour_price_usd = 0;   // > 0: /metrics reports dollars per million tokens at this price
    int num_http_threads = 512;      // a streamed response holds its thread until it ends
    size_t max_body_bytes = 16u << 20;
};

class OpenAiServer {
public:
    // engine must outlive the server. chat_template: nullopt when the model has none (chat requests get a 400).
    OpenAiServer(AsyncEngine& engine, ServerOptions options, std::optional<ChatTemplate> chat_template);
    ~OpenAiServer();

    // Binds the listening socket; returns the port.
    Result<int> bind();
    // Serves until stop() (from another thread or a signal handler's thread).
    void run();
    void stop();

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace frugal::server
