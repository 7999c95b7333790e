#include "server/generation.h"

#include <fmt/format.h>

#include <random>

namespace frugal::server {
namespace {

using json = nlohmann::json;

std::string random_id(const char* prefix) {
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    return fmt::format("{}{:016x}{:08x}", prefix, rng(), static_cast<uint32_t>(rng()));
}

const char* finish_name(FinishReason r) {
    switch (r) {
        case FinishReason::kStop: return "stop";
        case FinishReason::kLength: return "length";
        case FinishReason::kAborted: return "abort";
        case FinishReason::kNone: break;
    }
    return nullptr;
}

json bytes_of(const std::string& s) {
    json b = json::array();
    for (unsigned char c : s) b.push_back(static_cast<int>(c));
    return b;
}

}  // namespace

struct GenerationSession::Choice {
    Choice(int i, int p, const Tokenizer& tok, std::vector<std::string> stops)
        : index(i), prompt_index(p), detok(tok), stop(std::move(stops)) {}

    int index;
    int prompt_index;
    std::shared_ptr<RequestStream> stream;
    StreamingDetokenizer detok;
    StopMatcher stop;
    std::string text;          // sent so far (echoed prompt included)
    std::string echo;          // prompt text still to send first
    int64_t num_tokens = 0;    // tokens generated
    const char* finish = nullptr;  // set once the choice is over
    json logprobs;             // completions: {tokens, token_logprobs, top_logprobs, text_offset}; chat: [entries]
};

GenerationSession::GenerationSession(AsyncEngine& engine, Endpoint endpoint, GenerationParams params,
                                     std::vector<std::vector<int32_t>> prompt_ids,
                                     std::vector<std::string> prompt_texts, std::string model)
    : engine_(engine), tokenizer_(*engine.tokenizer()), endpoint_(endpoint), params_(std::move(params)),
      prompt_ids_(std::move(prompt_ids)), prompt_texts_(std::move(prompt_texts)), model_(std::move(model)),
      id_(random_id(endpoint == Endpoint::kChat ? "chatcmpl-" : "cmpl-")),
      created_(std::chrono::duration_cast<std::chrono::seconds>(
                   std::chrono::system_clock::now().time_since_epoch()).count()) {
    int index = 0;
    for (size_t p = 0; p < prompt_ids_.size(); ++p) {
        for (int i = 0; i < params_.n; ++i) {
            auto c = std::make_unique<Choice>(index++, static_cast<int>(p), tokenizer_, params_.stop);
            if (params_.echo && p < prompt_texts_.size()) c->echo = prompt_texts_[p];
            // The detokenizer sees the prompt first, so the completion is the text that follows it (a leading space
            // of its first word is kept, as it would not be at the start of a text).
            for (int32_t id : prompt_ids_[p]) c->detok.push(id);
            if (endpoint_ == Endpoint::kChat) {
                c->logprobs = json::array();
            } else {
                c->logprobs = {{"tokens", json::array()}, {"token_logprobs", json::array()},
                               {"top_logprobs", json::array()}, {"text_offset", json::array()}};
            }
            choices_.push_back(std::move(c));
        }
    }
}

GenerationSession::~GenerationSession() { cancel(); }

std::optional<ApiError> GenerationSession::start() {
    std::random_device entropy;
    for (auto& c : choices_) {
        if (params_.max_tokens == 0) {  // nothing to generate: the (echoed) prompt alone
            c->finish = "length";
            continue;
        }
        Request r;
        r.prompt_ids = prompt_ids_[static_cast<size_t>(c->prompt_index)];
        r.max_new_tokens = params_.max_tokens;
        r.sampling = params_.sampling;
        // With a seed, choice i draws from seed + i: reproducible, yet the n choices differ.
        r.sampling.seed = params_.has_seed ? params_.sampling.seed + static_cast<uint64_t>(c->index)
                                           : (static_cast<uint64_t>(entropy()) << 32) | entropy();
        r.ignore_eos = params_.ignore_eos;
        r.stop_token_ids = params_.stop_token_ids;
        r.num_logprobs = params_.logprobs;
        bool overloaded = false;
        Result<std::shared_ptr<RequestStream>> stream = engine_.submit(std::move(r), &overloaded);
        if (!stream.ok()) {
            cancel();
            if (overloaded) return ApiError{429, stream.status().message(), "server_overloaded", "", "rate_limit_exceeded"};
            return ApiError{400, stream.status().message(), "invalid_request_error", "", ""};
        }
        c->stream = std::move(stream).value();
    }
    return std::nullopt;
}

void GenerationSession::cancel() {
    for (auto& c : choices_) {
        if (c->finish != nullptr) continue;
        c->finish = "abort";
        if (c->stream) engine_.abort(c->stream->request_id());
    }
}

bool GenerationSession::done() const {
    for (const auto& c : choices_) {
        if (c->finish == nullptr) return false;
    }
    return true;
}

std::vector<json> GenerationSession::poll(std::chrono::milliseconds timeout) {
    std::vector<json> chunks;
    bool waited = false;
    for (auto& c : choices_) {
        if (c->finish != nullptr) continue;
        std::vector<RequestOutput> outs;
        const bool alive = c->stream->next(&outs, waited ? std::chrono::milliseconds(0) : timeout);
        waited = true;
        for (const RequestOutput& out : outs) {
            if (c->finish != nullptr) break;
            json delta = apply(*c, out);
            if (!delta.is_null()) chunks.push_back(chunk(json::array({std::move(delta)})));
        }
        if (!alive && c->finish == nullptr) {
            const Status error = c->stream->error();
            failure_ = error.ok() ? "the request ended without a result" : error.message();
            c->finish = "error";
        }
    }
    return chunks;
}

json GenerationSession::logprob_entry(Choice& c, const RequestOutput& out, const std::string& piece) {
    auto top_has = [&](int32_t id) {
        for (const TokenLogprob& t : out.top_logprobs) {
            if (t.token_id == id) return true;
        }
        return false;
    };
    if (endpoint_ == Endpoint::kChat) {
        json top = json::array();
        for (const TokenLogprob& t : out.top_logprobs) {
            const std::string s = tokenizer_.token_to_piece(t.token_id, true);
            top.push_back({{"token", s}, {"logprob", t.logprob}, {"bytes", bytes_of(s)}});
        }
        json entry = {{"token", piece}, {"logprob", out.logprob}, {"bytes", bytes_of(piece)}, {"top_logprobs", top}};
        c.logprobs.push_back(entry);
        return json{{"content", json::array({entry})}};
    }
    // The legacy completions shape; top_logprobs always holds the sampled token too, as OpenAI's does.
    json top = json::object();
    for (const TokenLogprob& t : out.top_logprobs) top[tokenizer_.token_to_piece(t.token_id, true)] = t.logprob;
    if (!top_has(out.token_id)) top[piece] = out.logprob;
    const auto offset = static_cast<int64_t>(c.text.size());
    c.logprobs["tokens"].push_back(piece);
    c.logprobs["token_logprobs"].push_back(out.logprob);
    c.logprobs["top_logprobs"].push_back(top);
    c.logprobs["text_offset"].push_back(offset);
    return json{{"tokens", {piece}}, {"token_logprobs", {out.logprob}}, {"top_logprobs", {top}},
                {"text_offset", {offset}}};
}

json GenerationSession::apply(Choice& c, const RequestOutput& out) {
    std::string text;
    if (!c.echo.empty()) text.swap(c.echo);
    json logprobs;
    if (out.token_id >= 0) {
        ++c.num_tokens;
        // A stop token (end of generation or a stop_token_ids entry) ends the text without appearing in it.
        const std::string piece = out.finish_reason == FinishReason::kStop ? std::string() : c.detok.push(out.token_id);
        text += c.stop.push(piece);
        if (params_.logprobs >= 0) {
            logprobs = logprob_entry(c, out, tokenizer_.token_to_piece(out.token_id, true));
        }
        if (c.stop.stopped()) {
            c.finish = "stop";
            engine_.abort(c.stream->request_id());
        }
    }
    if (c.finish == nullptr && out.finish_reason != FinishReason::kNone) {
        text += c.stop.push(c.detok.flush());
        text += c.stop.flush();
        c.finish = finish_name(out.finish_reason);
    }
    c.text += text;
    if (text.empty() && logprobs.is_null() && c.finish == nullptr) return nullptr;
    json finish = c.finish != nullptr ? json(c.finish) : json(nullptr);
    if (endpoint_ == Endpoint::kChat) {
        json delta = json::object();
        if (!text.empty() || c.finish == nullptr) delta["content"] = text;
        return {{"index", c.index}, {"delta", delta}, {"logprobs", logprobs}, {"finish_reason", finish}};
    }
    return {{"index", c.index}, {"text", text}, {"logprobs", logprobs}, {"finish_reason", finish}};
}

json GenerationSession::chunk(json choices) const {
    return {{"id", id_},
            {"object", endpoint_ == Endpoint::kChat ? "chat.completion.chunk" : "text_completion"},
            {"created", created_},
            {"model", model_},
            {"choices", std::move(choices)}};
}

json GenerationSession::role_chunk() const {
    json choices = json::array();
    for (const auto& c : choices_) {
        choices.push_back({{"index", c->index},
                           {"delta", {{"role", "assistant"}, {"content", ""}}},
                           {"logprobs", nullptr},
                           {"finish_reason", nullptr}});
    }
    return chunk(std::move(choices));
}

json GenerationSession::usage() const {
    int64_t prompt = 0, completion = 0;
    for (const auto& ids : prompt_ids_) prompt += static_cast<int64_t>(ids.size());
    for (const auto& c : choices_) completion += c->num_tokens;
    return {{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

json GenerationSession::usage_chunk() const {
    json c = chunk(json::array());
    c["usage"] = usage();
    return c;
}

json GenerationSession::response() const {
    json choices = json::array();
    for (const auto& c : choices_) {
        const bool want = params_.logprobs >= 0;
        json finish = c->finish != nullptr ? json(c->finish) : json(nullptr);
        if (endpoint_ == Endpoint::kChat) {
            choices.push_back({{"index", c->index},
                               {"message", {{"role", "assistant"}, {"content", c->text}}},
                               {"logprobs", want ? json{{"content", c->logprobs}} : json(nullptr)},
                               {"finish_reason", finish}});
        } else {
            choices.push_back({{"index", c->index},
                               {"text", c->echo + c->text},
                               {"logprobs", want ? c->logprobs : json(nullptr)},
                               {"finish_reason", finish}});
        }
    }
    return {{"id", id_},
            {"object", endpoint_ == Endpoint::kChat ? "chat.completion" : "text_completion"},
            {"created", created_},
            {"model", model_},
            {"choices", std::move(choices)},
            {"usage", usage()}};
}

}  // namespace frugal::server
