// A compiled Jinja2 template, configured as transformers configures chat templates: trim_blocks, lstrip_blocks,
// loop controls, the {% generation %} tag, tojson without HTML escaping, and the globals raise_exception,
// strftime_now, namespace, dict and range. Rendering returns the text or the template's error; it never throws.
#pragma once

#include <nlohmann/json.hpp>

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/status.h"
#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/interpreter.h"
#include "tokenizer/jinja/value.h"

namespace frugal::jinja {

struct RenderOptions {
    std::optional<std::tm> now;  // what strftime_now formats; unset: the local time at render
    RenderLimits limits;
};

class Template {
public:
    // Parses source; unknown filters and tests outside `if` bodies are errors here, as in Jinja.
    static Result<Template> parse(const std::string& source);

    // Renders with the given variables (they shadow the globals of the same name).
    Result<std::string> render(const std::vector<std::pair<std::string, Value>>& variables,
                               const RenderOptions& options = {}) const;

private:
    std::shared_ptr<const Body> body_;
};

// JSON -> template value, keeping object key order (messages and tools come from JSON).
Value value_from_json(const nlohmann::ordered_json& j);

}  // namespace frugal::jinja
