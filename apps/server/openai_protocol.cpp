#include "server/openai_protocol.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>

namespace frugal::server {
namespace {

using json = nlohmann::json;

constexpr int kMaxChoices = 128;
constexpr int kMaxStopStrings = 16;
constexpr int kMaxLogprobs = 20;

// Reads typed, range-checked fields of a request object; the first problem becomes the error.
class FieldReader {
public:
    explicit FieldReader(const json& body) : body_(body) {}

    bool failed() const { return error_.has_value(); }
    ApiError error() const { return *error_; }
    void fail(const std::string& param, const std::string& message) {
        if (!error_) error_ = ApiError{400, message, "invalid_request_error", param, ""};
    }
    // The field, or nullptr when it is absent or null.
    const json* find(const char* key) const {
        const auto it = body_.find(key);
        return it == body_.end() || it->is_null() ? nullptr : &*it;
    }

    void number(const char* key, double lo, double hi, float* out) {
        if (const json* v = find(key)) {
            if (!v->is_number()) return fail(key, fmt::format("'{}' must be a number", key));
            const double x = v->get<double>();
            if (!(x >= lo && x <= hi)) return fail(key, fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, x));
            *out = static_cast<float>(x);
        }
    }
    template <typename T>
    void integer(const char* key, int64_t lo, int64_t hi, T* out) {
        if (const json* v = find(key)) {
            // 3.0 is accepted as 3, as Python clients may send it; 3.5 is not.
            const bool integral = v->is_number_integer() ||
                                  (v->is_number_float() && v->get<double>() == static_cast<double>(
                                                                                   static_cast<int64_t>(v->get<double>())));
            if (!v->is_number() || !integral) return fail(key, fmt::format("'{}' must be an integer", key));
            if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(hi)) {
                return fail(key, fmt::format("'{}' must be between {} and {}", key, lo, hi));
            }
            const auto x = v->is_number_float() ? static_cast<int64_t>(v->get<double>()) : v->get<int64_t>();
            if (x < lo || x > hi) return fail(key, fmt::format("'{}' must be between {} and {}, got {}", key, lo, hi, x));
            *out = static_cast<T>(x);
        }
    }
    void boolean(const char* key, bool* out) {
        if (const json* v = find(key)) {
            if (!v->is_boolean()) return fail(key, fmt::format("'{}' must be a boolean", key));
            *out = v->get<bool>();
        }
    }

private:
    const json& body_;
    std::optional<ApiError> error_;
};

std::optional<std::vector<int32_t>> token_array(const json& v) {
    if (!v.is_array() || v.empty()) return std::nullopt;
    std::vector<int32_t> ids;
    ids.reserve(v.size());
    for (const json& t : v) {
        if (!t.is_number_integer()) return std::nullopt;
        const int64_t id = t.is_number_unsigned() && t.get<uint64_t>() > INT32_MAX ? -1 : t.get<int64_t>();
        if (id < 0 || id > INT32_MAX) return std::nullopt;
        ids.push_back(static_cast<int32_t>(id));
    }
    return ids;
}

// Fields both endpoints share: model, sampling, n, stop, stream, seed and frugal's (vLLM's) extensions.
void read_common(FieldReader& r, GenerationParams* p) {
    if (const json* v = r.find("model")) {
        if (!v->is_string()) return r.fail("model", "'model' must be a string");
        p->model = v->get<std::string>();
    }
    // OpenAI's defaults (not llama.cpp's): plain sampling at temperature 1 with every filter off.
    p->sampling = SamplingParams{};
    p->sampling.temperature = 1.0f;
    p->sampling.top_p = 1.0f;
    p->sampling.top_k = 0;
    p->sampling.min_p = 0.0f;
    p->sampling.repeat_last_n = -1;
    r.number("temperature", 0, 2, &p->sampling.temperature);
    r.number("top_p", 0, 1, &p->sampling.top_p);
    if (const json* v = r.find("top_p"); v && v->is_number() && v->get<double>() <= 0) {
        r.fail("top_p", "'top_p' must be greater than 0");
    }
    r.integer("top_k", -1, std::numeric_limits<int32_t>::max(), &p->sampling.top_k);
    r.number("min_p", 0, 1, &p->sampling.min_p);
    r.number("presence_penalty", -2, 2, &p->sampling.presence_penalty);
    r.number("frequency_penalty", -2, 2, &p->sampling.frequency_penalty);
    r.number("repetition_penalty", 0.01, 10, &p->sampling.repeat_penalty);
    r.integer("n", 1, kMaxChoices, &p->n);
    if (const json* v = r.find("best_of")) {
        int64_t best_of = 0;
        r.integer("best_of", 1, kMaxChoices, &best_of);
        if (!r.failed() && v->is_number() && best_of != p->n) r.fail("best_of", "'best_of' other than 'n' is not supported");
    }
    if (const json* v = r.find("seed")) {
        if (!v->is_number_integer()) return r.fail("seed", "'seed' must be an integer");
        p->sampling.seed = v->is_number_unsigned() ? v->get<uint64_t>() : static_cast<uint64_t>(v->get<int64_t>());
        p->has_seed = true;
    }
    if (const json* v = r.find("stop")) {
        if (v->is_string()) {
            p->stop.push_back(v->get<std::string>());
        } else if (v->is_array() && v->size() <= kMaxStopStrings) {
            for (const json& s : *v) {
                if (!s.is_string()) return r.fail("stop", "'stop' must be a string or an array of strings");
                p->stop.push_back(s.get<std::string>());
            }
        } else {
            return r.fail("stop", fmt::format("'stop' must be a string or an array of at most {} strings",
                                              kMaxStopStrings));
        }
        std::erase_if(p->stop, [](const std::string& s) { return s.empty(); });
    }
    if (const json* v = r.find("stop_token_ids")) {
        std::optional<std::vector<int32_t>> ids = token_array(*v);
        if (!ids && !(v->is_array() && v->empty())) {
            return r.fail("stop_token_ids", "'stop_token_ids' must be an array of token ids");
        }
        if (ids) p->stop_token_ids = *ids;
    }
    r.boolean("ignore_eos", &p->ignore_eos);
    r.boolean("stream", &p->stream);
    if (const json* v = r.find("stream_options")) {
        if (!v->is_object()) return r.fail("stream_options", "'stream_options' must be an object");
        FieldReader so(*v);
        so.boolean("include_usage", &p->include_usage);
        if (so.failed()) return r.fail("stream_options", so.error().message);
        if (!p->stream) return r.fail("stream_options", "'stream_options' is only allowed with 'stream': true");
    }
    if (const json* v = r.find("logit_bias"); v && !(v->is_object() && v->empty())) {
        r.fail("logit_bias", "'logit_bias' is not supported");
    }
}

// The body as a JSON object, or the error to answer with.
std::optional<ApiError> parse_body(const std::string& body, json* out) {
    *out = json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (out->is_discarded()) {
        return ApiError{400, "the request body is not valid JSON", "invalid_request_error", "", ""};
    }
    if (!out->is_object()) return ApiError{400, "the request body must be a JSON object", "invalid_request_error", "", ""};
    return std::nullopt;
}

}  // namespace

json error_body(const ApiError& e) {
    return {{"error",
             {{"message", e.message},
              {"type", e.type},
              {"param", e.param.empty() ? json(nullptr) : json(e.param)},
              {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}

std::variant<GenerationParams, ApiError> parse_completion_request(const std::string& text) {
    json body;
    if (std::optional<ApiError> e = parse_body(text, &body)) return *e;
    GenerationParams p;
    FieldReader r(body);
    read_common(r, &p);
    p.max_tokens = 16;
    r.integer("max_tokens", 0, std::numeric_limits<int32_t>::max(), &p.max_tokens);
    if (const json* v = r.find("logprobs")) {
        if (v->is_boolean()) {
            if (v->get<bool>()) p.logprobs = 0;
        } else {
            r.integer("logprobs", 0, kMaxLogprobs, &p.logprobs);
        }
    }
    r.boolean("echo", &p.echo);
    if (const json* v = r.find("suffix"); v && !(v->is_string() && v->get<std::string>().empty())) {
        r.fail("suffix", "'suffix' is not supported");
    }
    const json* prompt = r.find("prompt");
    if (prompt == nullptr) {
        r.fail("prompt", "'prompt' is required");
    } else if (prompt->is_string()) {
        p.prompts.emplace_back(prompt->get<std::string>());
    } else if (std::optional<std::vector<int32_t>> ids = token_array(*prompt)) {
        p.prompts.emplace_back(std::move(*ids));
    } else if (prompt->is_array() && !prompt->empty()) {
        for (const json& item : *prompt) {
            if (item.is_string()) {
                p.prompts.emplace_back(item.get<std::string>());
            } else if (std::optional<std::vector<int32_t>> ids = token_array(item)) {
                p.prompts.emplace_back(std::move(*ids));
            } else {
                r.fail("prompt", "'prompt' must be a string, an array of strings, an array of token ids or an "
                                 "array of such arrays");
                break;
            }
        }
    } else {
        r.fail("prompt", "'prompt' must be a string, an array of strings, an array of token ids or an array of such "
                         "arrays (and not empty)");
    }
    if (!r.failed() && static_cast<int64_t>(p.prompts.size()) * p.n > kMaxChoices) {
        r.fail("n", fmt::format("at most {} choices per request (prompts times n)", kMaxChoices));
    }
    if (r.failed()) return r.error();
    return p;
}

std::variant<GenerationParams, ApiError> parse_chat_request(const std::string& text) {
    json body;
    if (std::optional<ApiError> e = parse_body(text, &body)) return *e;
    GenerationParams p;
    FieldReader r(body);
    read_common(r, &p);
    r.integer("max_tokens", 0, std::numeric_limits<int32_t>::max(), &p.max_tokens);
    r.integer("max_completion_tokens", 0, std::numeric_limits<int32_t>::max(), &p.max_tokens);
    bool logprobs = false;
    r.boolean("logprobs", &logprobs);
    int top_logprobs = 0;
    r.integer("top_logprobs", 0, kMaxLogprobs, &top_logprobs);
    if (r.find("top_logprobs") && !logprobs) r.fail("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    if (logprobs) p.logprobs = top_logprobs;
    if (const json* v = r.find("response_format")) {
        if (!v->is_object() || v->value("type", "") != "text") {
            r.fail("response_format", "only {\"type\": \"text\"} is supported as 'response_format'");
        }
    }
    const json* messages = r.find("messages");
    if (messages == nullptr) {
        r.fail("messages", "'messages' is required");
    } else if (!messages->is_array() || messages->empty()) {
        r.fail("messages", "'messages' must be a non-empty array");
    } else {
        p.messages = nlohmann::ordered_json::array();
        for (size_t i = 0; i < messages->size() && !r.failed(); ++i) {
            const json& m = (*messages)[i];
            const std::string where = fmt::format("messages[{}]", i);
            if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
                r.fail(where, fmt::format("'{}' must be an object with a string 'role'", where));
                break;
            }
            nlohmann::ordered_json out = nlohmann::ordered_json::parse(m.dump());
            // Content given as parts: the text parts joined, as a template expecting a string needs.
            if (m.contains("content") && m["content"].is_array()) {
                std::string joined;
                for (const json& part : m["content"]) {
                    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
                        !part["text"].is_string()) {
                        r.fail(where + ".content", "only text content parts are supported");
                        break;
                    }
                    joined += part["text"].get<std::string>();
                }
                out["content"] = joined;
            } else if (m.contains("content") && !m["content"].is_string() && !m["content"].is_null()) {
                r.fail(where + ".content", fmt::format("'{}.content' must be a string or an array of parts", where));
            }
            p.messages.push_back(std::move(out));
        }
    }
    if (const json* v = r.find("tools")) {
        if (!v->is_array()) {
            r.fail("tools", "'tools' must be an array");
        } else {
            p.tools = nlohmann::ordered_json::parse(v->dump());
        }
    }
    if (r.failed()) return r.error();
    return p;
}

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}

std::string StopMatcher::push(const std::string& piece) {
    if (stopped_) return {};
    pending_ += piece;
    size_t first = std::string::npos;
    for (const std::string& s : stops_) first = std::min(first, pending_.find(s));
    if (first != std::string::npos) {
        stopped_ = true;
        std::string out = pending_.substr(0, first);
        pending_.clear();
        return out;
    }
    // Hold back the longest end of the text that begins some stop string.
    size_t hold = 0;
    for (const std::string& s : stops_) {
        for (size_t len = std::min(s.size() - 1, pending_.size()); len > hold; --len) {
            if (pending_.compare(pending_.size() - len, len, s, 0, len) == 0) {
                hold = len;
                break;
            }
        }
    }
    std::string out = pending_.substr(0, pending_.size() - hold);
    pending_.erase(0, pending_.size() - hold);
    return out;
}

std::string StopMatcher::flush() {
    std::string out;
    if (!stopped_) out.swap(pending_);
    pending_.clear();
    return out;
}

}  // namespace frugal::server
