// libFuzzer target for the OpenAI request layer of frugal serve (apps/server/openai_protocol): hostile request
// bodies for /v1/completions and /v1/chat/completions, and the stop-string matcher on hostile text.
// Input: a selector byte, then
//   0 / 1: a completions / chat body. Parsing must return params or an error with a message; params must be in
//          the ranges the parser promises, and the error body must serialize.
//   2:     stop strings and text pieces, separated by \x01 (stops first, then \x02, then pieces). The matcher's
//          output must be the text cut at the earliest stop string, and never contain one.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <variant>
#include <vector>

#include "server/openai_protocol.h"

using frugal::server::ApiError;
using frugal::server::GenerationParams;

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out(1);
    for (char c : s) {
        if (c == sep) {
            out.emplace_back();
        } else {
            out.back() += c;
        }
    }
    return out;
}

void check_request(const std::string& body, bool chat) {
    auto r = chat ? frugal::server::parse_chat_request(body) : frugal::server::parse_completion_request(body);
    if (const ApiError* e = std::get_if<ApiError>(&r)) {
        if (e->message.empty() || e->status < 400 || e->status > 499) std::abort();
        (void)frugal::server::error_body(*e).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        return;
    }
    const GenerationParams& p = std::get<GenerationParams>(r);
    if (p.n < 1 || p.n > 128 || p.logprobs < -1 || p.logprobs > 20 || p.max_tokens < -1) std::abort();
    if (p.sampling.temperature < 0 || p.sampling.temperature > 2 || p.sampling.top_p <= 0 || p.sampling.top_p > 1) {
        std::abort();
    }
    if (chat ? !p.messages.is_array() || p.messages.empty() : p.prompts.empty()) std::abort();
    if (!chat && static_cast<int64_t>(p.prompts.size()) * p.n > 128) std::abort();
    for (const std::string& s : p.stop) {
        if (s.empty()) std::abort();
    }
}

void check_stops(const std::string& input) {
    const size_t split_at = input.find('\x02');
    if (split_at == std::string::npos) return;
    std::vector<std::string> stops = split(input.substr(0, split_at), '\x01');
    std::erase_if(stops, [](const std::string& s) { return s.empty(); });
    const std::vector<std::string> pieces = split(input.substr(split_at + 1), '\x01');
    std::string text;
    for (const std::string& p : pieces) text += p;
    size_t cut = std::string::npos;
    for (const std::string& s : stops) cut = std::min(cut, text.find(s));
    const std::string want = cut == std::string::npos ? text : text.substr(0, cut);

    frugal::server::StopMatcher m(stops);
    std::string got;
    for (const std::string& p : pieces) got += m.push(p);
    got += m.flush();
    if (got != want || m.stopped() != (cut != std::string::npos)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const std::string rest(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 3) {
        case 0: check_request(rest, false); break;
        case 1: check_request(rest, true); break;
        default: check_stops(rest); break;
    }
    return 0;
}
