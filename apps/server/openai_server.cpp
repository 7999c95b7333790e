#include "server/openai_server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <sys/socket.h>

#include <chrono>

#include "core/logging.h"
#include "server/generation.h"
#include "server/metrics_text.h"
#include "server/openai_protocol.h"

namespace frugal::server {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// Invalid UTF-8 in a token or a prompt must not throw while serializing: it becomes U+FFFD.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void send_error(httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    if (e.status == 429) res.set_header("Retry-After", "1");
    res.set_content(dump(error_body(e)), "application/json");
}

// Compares in time that depends only on the expected key's length, never on where the texts differ.
bool same_key(const std::string& given, const std::string& expected) {
    unsigned diff = given.size() != expected.size();
    for (size_t i = 0; i < expected.size(); ++i) {
        const char g = given.empty() ? '\0' : given[i % given.size()];
        diff |= static_cast<unsigned char>(g ^ expected[i]);
    }
    return diff == 0;
}

}  // namespace

struct OpenAiServer::Impl {
    Impl(AsyncEngine& e, ServerOptions o, std::optional<ChatTemplate> t)
        : engine(e), options(std::move(o)), chat_template(std::move(t)) {}

    void install_routes();
    bool authorized(const httplib::Request& req, httplib::Response& res) const;
    void handle_generation(const httplib::Request& req, httplib::Response& res, Endpoint endpoint);
    // Tokenizes the request's prompts (chat: renders the messages through the template first).
    std::optional<ApiError> prepare_prompts(Endpoint endpoint, GenerationParams& p,
                                            std::vector<std::vector<int32_t>>* ids,
                                            std::vector<std::string>* texts) const;

    AsyncEngine& engine;
    ServerOptions options;
    std::optional<ChatTemplate> chat_template;
    httplib::Server http;
    socket_t listen_fd = -1;
};

bool OpenAiServer::Impl::authorized(const httplib::Request& req, httplib::Response& res) const {
    if (options.api_key.empty()) return true;
    const std::string header = req.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    const std::string given = header.rfind(prefix, 0) == 0 ? header.substr(prefix.size()) : std::string();
    if (same_key(given, options.api_key)) return true;
    send_error(res, ApiError{401,
                             header.empty() ? "no API key given: send 'Authorization: Bearer KEY'"
                                            : "incorrect API key provided",
                             "invalid_request_error", "", "invalid_api_key"});
    return false;
}

std::optional<ApiError> OpenAiServer::Impl::prepare_prompts(Endpoint endpoint, GenerationParams& p,
                                                            std::vector<std::vector<int32_t>>* ids,
                                                            std::vector<std::string>* texts) const {
    const Tokenizer& tok = *engine.tokenizer();
    if (endpoint == Endpoint::kChat) {
        if (!chat_template) {
            return ApiError{400, "this model has no chat template; start the server with --chat-template FILE.jinja",
                            "invalid_request_error", "messages", ""};
        }
        ChatTemplateInput input;
        input.messages = p.messages;
        input.tools = p.tools;
        input.add_generation_prompt = true;
        Result<std::string> text = chat_template->render(input);
        if (!text.ok()) {
            return ApiError{400, "the chat template failed on these messages: " + text.status().message(),
                            "invalid_request_error", "messages", ""};
        }
        // The template writes BOS itself where the model wants it; special-token texts in it are tokens.
        ids->push_back(tok.encode(text.value(), /*add_bos=*/false, /*parse_special=*/true));
        texts->push_back(std::move(text).value());
    } else {
        for (const Prompt& prompt : p.prompts) {
            if (const auto* text = std::get_if<std::string>(&prompt)) {
                ids->push_back(tok.encode(*text, tok.add_bos(), /*parse_special=*/true));
                texts->push_back(*text);
            } else {
                const auto& given = std::get<std::vector<int32_t>>(prompt);
                for (int32_t id : given) {
                    if (id >= engine.vocab_size()) {
                        return ApiError{400, fmt::format("prompt token id {} is outside the vocabulary (0..{})", id,
                                                         engine.vocab_size() - 1),
                                        "invalid_request_error", "prompt", ""};
                    }
                }
                ids->push_back(given);
                texts->push_back(tok.decode(given));
            }
        }
    }
    for (const auto& prompt : *ids) {
        const auto n = static_cast<int64_t>(prompt.size());
        if (n == 0) return ApiError{400, "the prompt is empty", "invalid_request_error", "prompt", ""};
        if (n >= engine.context_length() || (p.max_tokens > 0 && n + p.max_tokens > engine.context_length())) {
            return ApiError{400,
                            fmt::format("this model's maximum context length is {} tokens, but the prompt has {} "
                                        "tokens{}; shorten the prompt or lower max_tokens",
                                        engine.context_length(), n,
                                        p.max_tokens > 0 ? fmt::format(" and {} more were requested", p.max_tokens)
                                                         : std::string()),
                            "invalid_request_error", "messages", "context_length_exceeded"};
        }
    }
    return std::nullopt;
}

void OpenAiServer::Impl::handle_generation(const httplib::Request& req, httplib::Response& res, Endpoint endpoint) {
    if (!authorized(req, res)) return;
    auto parsed = endpoint == Endpoint::kChat ? parse_chat_request(req.body) : parse_completion_request(req.body);
    if (const ApiError* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e);
    GenerationParams params = std::move(std::get<GenerationParams>(parsed));
    if (!params.model.empty() && params.model != options.model_name) {
        return send_error(res, ApiError{404, fmt::format("the model '{}' does not exist (this server has '{}')",
                                                         params.model, options.model_name),
                                        "invalid_request_error", "model", "model_not_found"});
    }
    std::vector<std::vector<int32_t>> ids;
    std::vector<std::string> texts;
    if (std::optional<ApiError> e = prepare_prompts(endpoint, params, &ids, &texts)) return send_error(res, *e);

    const bool stream = params.stream;
    const bool include_usage = params.include_usage;
    auto session = std::make_shared<GenerationSession>(engine, endpoint, std::move(params), std::move(ids),
                                                       std::move(texts), options.model_name);
    if (std::optional<ApiError> e = session->start()) return send_error(res, *e);

    // The response is written by content providers so the server notices a client that goes away: a write fails
    // and the provider's failure cancels the engine requests (the releaser runs with success = false).
    auto released = [session](bool success) {
        if (!success) session->cancel();
    };
    if (stream) {
        auto role_sent = std::make_shared<bool>(endpoint != Endpoint::kChat);
        res.set_chunked_content_provider(
            "text/event-stream",
            [session, role_sent, include_usage](size_t, httplib::DataSink& sink) {
                auto send = [&](const json& j) {
                    const std::string event = "data: " + dump(j) + "\n\n";
                    return sink.write(event.data(), event.size());
                };
                if (!*role_sent) {
                    *role_sent = true;
                    return send(session->role_chunk());
                }
                if (!session->done()) {
                    const auto started = std::chrono::steady_clock::now();
                    std::vector<json> chunks = session->poll(1000ms);
                    for (const json& c : chunks) {
                        if (!send(c)) return false;
                    }
                    // An SSE comment while nothing comes (a long prefill, a full queue) finds a closed connection.
                    if (chunks.empty() && std::chrono::steady_clock::now() - started >= 1000ms) {
                        static const std::string ping = ": ping\n\n";
                        if (!sink.write(ping.data(), ping.size())) return false;
                    }
                    if (!session->done()) return true;
                }
                if (session->failure()) {
                    send(error_body(ApiError{500, *session->failure(), "server_error", "", ""}));
                } else if (include_usage) {
                    send(session->usage_chunk());
                }
                static const std::string done = "data: [DONE]\n\n";
                sink.write(done.data(), done.size());
                sink.done();
                return true;
            },
            released);
        res.set_header("Cache-Control", "no-cache");
        return;
    }
    res.set_chunked_content_provider(
        "application/json",
        [session, last_probe = std::chrono::steady_clock::now()](size_t, httplib::DataSink& sink) mutable {
            while (!session->done()) {
                session->poll(250ms);
                // Leading whitespace is legal JSON: a probe each second that notices a closed connection while the
                // answer is still being generated (a request that takes under a second never gets one).
                const auto now = std::chrono::steady_clock::now();
                if (!session->done() && now - last_probe >= 1000ms) {
                    last_probe = now;
                    return sink.write(" ", 1);
                }
            }
            const std::string body = session->failure()
                                         ? dump(error_body(ApiError{500, *session->failure(), "server_error", "", ""}))
                                         : dump(session->response());
            sink.write(body.data(), body.size());
            sink.done();
            return true;
        },
        released);
}

void OpenAiServer::Impl::install_routes() {
    http.new_task_queue = [n = options.num_http_threads] { return new httplib::ThreadPool(static_cast<size_t>(n)); };
    // httplib's own options (SO_REUSEADDR), plus the listening socket's descriptor, so bind() can widen the
    // accept queue afterwards.
    http.set_socket_options([this](socket_t sock) {
        httplib::default_socket_options(sock);
        listen_fd = sock;
    });
    http.set_payload_max_length(options.max_body_bytes);
    http.set_keep_alive_timeout(5);
    http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
        handle_generation(req, res, Endpoint::kCompletions);
    });
    http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
        handle_generation(req, res, Endpoint::kChat);
    });
    http.Get("/v1/models", [this](const httplib::Request& req, httplib::Response& res) {
        if (!authorized(req, res)) return;
        const json model = {{"id", options.model_name},     {"object", "model"},
                            {"created", 0},                  {"owned_by", "frugal"},
                            {"max_model_len", engine.context_length()}, {"vocab_size", engine.vocab_size()}};
        res.set_content(dump(json{{"object", "list"}, {"data", json::array({model})}}), "application/json");
    });
    http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
        res.set_content(R"({"status":"ok"})", "application/json");
    });
    http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        res.set_content(render_metrics(engine.metrics(), options.gpu_hour_price_usd), "text/plain; version=0.0.4");
    });
    http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
        if (!res.body.empty()) return;  // a handler already wrote an OpenAI error body
        ApiError e{res.status,
                   res.status == 404 ? fmt::format("no route {} {}", req.method, req.path)
                                     : fmt::format("{} {}: HTTP {}", req.method, req.path, res.status),
                   res.status == 404 ? "not_found_error" : "invalid_request_error", "", ""};
        if (res.status == 413) e.message = "the request body is too large";
        res.set_content(dump(error_body(e)), "application/json");
    });
    http.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "internal error";
        try {
            std::rethrow_exception(ep);
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
        }
        LOG_WARN("request failed: {}", what);
        res.status = 500;
        res.set_content(dump(error_body(ApiError{500, what, "server_error", "", ""})), "application/json");
    });
}

OpenAiServer::OpenAiServer(AsyncEngine& engine, ServerOptions options, std::optional<ChatTemplate> chat_template)
    : impl_(std::make_unique<Impl>(engine, std::move(options), std::move(chat_template))) {
    impl_->install_routes();
}

OpenAiServer::~OpenAiServer() = default;

Result<int> OpenAiServer::bind() {
    const ServerOptions& o = impl_->options;
    int port = o.port;
    if (o.port == 0) {
        port = impl_->http.bind_to_any_port(o.host);
        if (port <= 0) return Status::errorf("cannot listen on {} (any port)", o.host);
    } else if (!impl_->http.bind_to_port(o.host, o.port)) {
        return Status::errorf("cannot listen on {}:{} (in use, or not an address of this machine?)", o.host, o.port);
    }
    // The library listens with a backlog of 5 (CPPHTTPLIB_LISTEN_BACKLOG, fixed when Debian compiled it): a burst of
    // clients connecting at once overflows it and their connections die without an answer. Listening again on
    // the same socket only resizes the queue (Linux caps it at net.core.somaxconn).
    if (impl_->listen_fd >= 0 && ::listen(impl_->listen_fd, SOMAXCONN) != 0) {
        return Status::errorf("cannot resize the accept queue of {}:{}", o.host, port);
    }
    return port;
}

void OpenAiServer::run() { impl_->http.listen_after_bind(); }

void OpenAiServer::stop() { impl_->http.stop(); }

}  // namespace frugal::server
