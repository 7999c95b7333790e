// The OpenAI API as frugal serves it: request bodies of /v1/completions and /v1/chat/completions parsed and
// checked into GenerationParams (every field's type and range; an ApiError naming the field otherwise), error
// bodies in OpenAI's shape, and the stop-string matcher that decides how much generated text may be sent yet.
// Pure functions over JSON and text: no HTTP, no engine.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "sampling/sampling_params.h"

namespace frugal::server {

struct ApiError {
    int status = 400;
    std::string message;
    std::string type = "invalid_request_error";
    std::string param;  // the offending field, when there is one
    std::string code;
};

// {"error": {"message", "type", "param", "code"}}, OpenAI's error body.
nlohmann::json error_body(const ApiError& error);

// A prompt as the request gave it: text to tokenize, or token ids.
using Prompt = std::variant<std::string, std::vector<int32_t>>;

struct GenerationParams {
    std::string model;             // empty: the request named none
    std::vector<Prompt> prompts;   // completions: one or more; chat: filled by the server from the messages
    nlohmann::ordered_json messages;  // chat only
    nlohmann::ordered_json tools;     // chat only; null when absent
    int n = 1;                     // choices per prompt
    int64_t max_tokens = -1;       // -1: until a stop or the context is full
    SamplingParams sampling;
    bool has_seed = false;
    std::vector<std::string> stop;  // stop strings, not included in the output
    std::vector<int32_t> stop_token_ids;
    bool ignore_eos = false;
    bool stream = false;
    bool include_usage = false;    // stream_options.include_usage
    int logprobs = -1;             // -1: none; k: the sampled token's log-probability and the top k
    bool echo = false;             // completions: the prompt's text before the completion
};

// Parses a /v1/completions body (`max_tokens` defaults to 16 as in OpenAI's API).
std::variant<GenerationParams, ApiError> parse_completion_request(const std::string& body);
// Parses a /v1/chat/completions body (no default token limit).
std::variant<GenerationParams, ApiError> parse_chat_request(const std::string& body);

// Holds back generated text that might still become a stop string. push() takes the next complete piece of
// text and returns what may be sent now; once a stop string appears, the text before it is returned, stopped()
// turns true and everything after is dropped. flush() returns what is still held (at the end of generation).
class StopMatcher {
public:
    explicit StopMatcher(std::vector<std::string> stops);
    std::string push(const std::string& piece);
    std::string flush();
    bool stopped() const { return stopped_; }

private:
    std::vector<std::string> stops_;
    std::string pending_;
    bool stopped_ = false;
};

}  // namespace frugal::server
