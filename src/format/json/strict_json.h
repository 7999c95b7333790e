// JSON from hostile files (safetensors headers, index files, config.json): nlohmann-json with the checks it lacks.
#pragma once

#include <nlohmann/json.hpp>
#include <string_view>

#include "core/status.h"

namespace frugal {

// Parses text into *out. Malformed JSON, ill-formed UTF-8, a duplicate key in any object (nlohmann would keep the
// last one silently) and nesting deeper than max_depth are errors with a message a user can act on. A duplicate
// among the top-level object's keys is named as a duplicate `top_level_noun` ("tensor name" for a safetensors
// header), elsewhere as a duplicate key.
Status parse_strict_json(std::string_view text, int max_depth, nlohmann::json* out,
                         std::string_view top_level_noun = "key");

}  // namespace frugal
