// GenerationSession: one API request's choices in flight. It submits one engine request per choice (prompts
// times n), drains their streams, detokenizes, applies stop strings, gathers log-probabilities, and builds the
// OpenAI response objects: stream chunks as text arrives, or the whole answer at the end. Used by one handler
// thread; the engine requests it still has are cancelled when it is destroyed.
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/async_engine.h"
#include "server/openai_protocol.h"
#include "tokenizer/tokenizer.h"

namespace frugal::server {

enum class Endpoint { kCompletions, kChat };

class GenerationSession {
public:
    GenerationSession(AsyncEngine& engine, Endpoint endpoint, GenerationParams params,
                      std::vector<std::vector<int32_t>> prompt_ids, std::vector<std::string> prompt_texts,
                      std::string model);
    ~GenerationSession();
    GenerationSession(const GenerationSession&) = delete;
    GenerationSession& operator=(const GenerationSession&) = delete;

    // Submits every choice. On error nothing stays submitted; status 429 means the queue was full.
    std::optional<ApiError> start();
    // Waits up to `timeout` for new tokens and returns the stream chunks they make (possibly none). done() turns
    // true once every choice has finished.
    std::vector<nlohmann::json> poll(std::chrono::milliseconds timeout);
    bool done() const;
    // Set when the engine failed a request (the answer is then an error).
    const std::optional<std::string>& failure() const { return failure_; }
    // Cancels every unfinished choice now (the client went away).
    void cancel();

    // The first chunk of a chat stream (the assistant role), the usage chunk, and the whole non-streamed answer.
    nlohmann::json role_chunk() const;
    nlohmann::json usage_chunk() const;
    nlohmann::json response() const;

private:
    struct Choice;

    nlohmann::json usage() const;
    nlohmann::json chunk(nlohmann::json choices) const;
    // Applies one engine output to a choice; returns the choice's stream delta (null when there is nothing new).
    nlohmann::json apply(Choice& choice, const RequestOutput& out);
    nlohmann::json logprob_entry(Choice& choice, const RequestOutput& out, const std::string& piece);

    AsyncEngine& engine_;
    const Tokenizer& tokenizer_;
    Endpoint endpoint_;
    GenerationParams params_;
    std::vector<std::vector<int32_t>> prompt_ids_;
    std::vector<std::string> prompt_texts_;
    std::string model_;
    std::string id_;
    int64_t created_;
    std::vector<std::unique_ptr<Choice>> choices_;
    std::optional<std::string> failure_;
};

}  // namespace frugal::server
