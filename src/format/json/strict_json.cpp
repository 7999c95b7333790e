#include "format/json/strict_json.h"

#include <fmt/format.h>

#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

namespace frugal {
namespace {

// Thrown by the parser callback to stop parsing; caught in parse_strict_json, never crosses the library API.
struct JsonRejected : std::runtime_error {
    using std::runtime_error::runtime_error;
};

}  // namespace

Status parse_strict_json(std::string_view text, int max_depth, nlohmann::json* out, std::string_view top_level_noun) {
    using nlohmann::json;
    std::vector<std::unordered_set<std::string>> keys;  // one set per open object
    auto callback = [&](int depth, json::parse_event_t event, json& parsed) {
        switch (event) {
            case json::parse_event_t::object_start:
            case json::parse_event_t::array_start:
                if (depth >= max_depth) throw JsonRejected(fmt::format("JSON nests deeper than {} levels", max_depth));
                if (event == json::parse_event_t::object_start) keys.emplace_back();
                break;
            case json::parse_event_t::object_end:
                keys.pop_back();
                break;
            case json::parse_event_t::key: {
                std::string key = parsed.get<std::string>();
                if (!keys.back().insert(key).second) {
                    throw JsonRejected(fmt::format("duplicate {} '{}'", depth == 1 ? top_level_noun : "key", key));
                }
                break;
            }
            default:
                break;
        }
        return true;
    };
    try {
        *out = json::parse(text.begin(), text.end(), callback);
    } catch (const JsonRejected& e) {
        return Status::error(e.what());
    } catch (const json::exception& e) {
        // what() starts with "[json.exception.parse_error.101] ", which tells a user nothing.
        std::string_view what = e.what();
        if (what.starts_with("[json.exception.") && what.find("] ") != std::string_view::npos) {
            what.remove_prefix(what.find("] ") + 2);
        }
        return Status::errorf("not valid JSON: {}", what);
    }
    return ok_status();
}

}  // namespace frugal
