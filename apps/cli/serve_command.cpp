// frugal serve: the OpenAI-compatible server (apps/server) over one model.
#include <fmt/format.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <memory>
#include <pthread.h>
#include <thread>

#include "cli_common.h"
#include "commands.h"
#include "engine/async_engine.h"
#include "server/openai_server.h"

namespace frugal::cli {
namespace {

struct ServeOptions {
    ModelOptions model;
    server::ServerOptions server;
    std::string chat_template_path;
    int64_t max_queue = 256;
};

int serve(ServeOptions o) {
    // SIGINT/SIGTERM are taken by one thread (sigwait) that stops the server; no other thread sees them. A client
    // that hangs up must not kill the process through SIGPIPE.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);

    Result<LoadedEngine> loaded = load_engine(o.model);
    if (!loaded.ok()) {
        fmt::print(stderr, "error: {}\n", loaded.status().message());
        return 1;
    }
    Engine& engine = *loaded->engine;
    if (engine.tokenizer() == nullptr) {
        fmt::print(stderr, "error: the model has no tokenizer (pass --tokenizer for a llama2.c checkpoint)\n");
        return 1;
    }
    std::optional<ChatTemplate> chat_template;
    Result<ChatTemplate> t = open_chat_template(o.chat_template_path, *loaded->source, "--chat-template");
    if (t.ok()) {
        chat_template = std::move(t).value();
    } else if (!o.chat_template_path.empty()) {
        fmt::print(stderr, "error: {}\n", t.status().message());
        return 1;
    }
    if (o.server.num_http_threads == 0) {
        // Every running or waiting request holds a thread while it streams; a few more answer /metrics, /health
        // and requests that are refused.
        o.server.num_http_threads = static_cast<int>(std::min<int64_t>(o.model.max_num_seqs + o.max_queue + 16, 4096));
    }
    if (o.server.model_name.empty()) o.server.model_name = std::filesystem::path(o.model.model_path).stem().string();
    const ModelConfig& c = engine.config();
    const int64_t context = engine.context_length();
    const int64_t num_blocks = engine.block_pool().num_blocks();
    const int block_size = engine.block_pool().block_size();
    const double kv_mib = static_cast<double>(engine.kv_cache_bytes()) / 1048576.0;

    AsyncEngineOptions async_options;
    async_options.max_waiting = o.max_queue;
    AsyncEngine async_engine(std::move(loaded->engine), async_options);
    server::OpenAiServer http(async_engine, o.server, std::move(chat_template));
    Result<int> port = http.bind();
    if (!port.ok()) {
        fmt::print(stderr, "error: {}\n", port.status().message());
        return 1;
    }
    std::thread signal_thread([&] {
        int sig = 0;
        sigwait(&signals, &sig);
        if (sig == SIGINT || sig == SIGTERM) http.stop();
    });
    fmt::print(stderr,
               "frugal serve: {} ({}) as '{}': context {} tokens, KV cache {} blocks of {} ({:.1f} MiB), up to {} "
               "sequences, queue {}{}\n",
               c.name, c.arch, o.server.model_name, context, num_blocks, block_size, kv_mib, o.model.max_num_seqs,
               o.max_queue, o.server.api_key.empty() ? "" : ", API key required");
    fmt::print(stderr, "frugal serve: listening on http://{}:{}\n", o.server.host, port.value());
    std::fflush(stderr);
    http.run();
    // Wake the signal thread if the server stopped some other way.
    pthread_kill(signal_thread.native_handle(), SIGTERM);
    signal_thread.join();
    fmt::print(stderr, "frugal serve: stopped\n");
    return 0;
}

}  // namespace

std::function<int()> add_serve_command(CLI::App& app) {
    auto o = std::make_shared<ServeOptions>();
    o->model.kv_cache_bytes = int64_t{1} << 30;
    CLI::App* sub = app.add_subcommand("serve", "Serve the model over an OpenAI-compatible HTTP API");
    add_model_options(sub, o->model);
    sub->add_option("--host", o->server.host, "Address to listen on")->capture_default_str();
    sub->add_option("--port", o->server.port, "Port to listen on (0: any free port; the log says which)")
        ->capture_default_str();
    sub->add_option("--api-key", o->server.api_key, "Require 'Authorization: Bearer KEY' on /v1 requests")
        ->envname("FRUGAL_API_KEY");
    sub->add_option("--served-model-name", o->server.model_name, "Model id in the API (default: the file's name)");
    sub->add_option("--max-num-seqs", o->model.max_num_seqs, "Sequences in the running batch at most")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    sub->add_option("--max-queue", o->max_queue, "Waiting requests beyond this are refused with 429")
        ->capture_default_str()
        ->check(CLI::PositiveNumber);
    sub->add_option("--kv-cache-bytes", o->model.kv_cache_bytes,
                    "KV-cache size in bytes, shared by all sequences (at most what max-num-seqs full contexts use)")
        ->capture_default_str();
    sub->add_option("--gpu-hour-price", o->server.gpu_hour_price_usd,
                    "USD per hour of this machine: /metrics then reports dollars per million tokens");
    sub->add_option("--chat-template", o->chat_template_path, "Chat template (.jinja) instead of the model's")
        ->check(CLI::ExistingFile);
    o->server.num_http_threads = 0;
    sub->add_option("--http-threads", o->server.num_http_threads,
                    "HTTP worker threads, each open request holds one (default: max-num-seqs + max-queue + 16)")
        ->check(CLI::NonNegativeNumber);
    return [o] { return serve(*o); };
}

}  // namespace frugal::cli
