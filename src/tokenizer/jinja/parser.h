// Jinja2 parser: tokens -> statement tree, following Jinja's grammar and operator precedence (filters and tests
// bind tighter than arithmetic; `~` tighter than + and -; `a if c else b` lowest). Nesting is bounded so that a
// hostile template gets an error instead of exhausting the stack.
#pragma once

#include <vector>

#include "core/status.h"
#include "tokenizer/jinja/ast.h"
#include "tokenizer/jinja/lexer.h"

namespace frugal::jinja {

inline constexpr int kMaxNesting = 256;

Result<Body> parse_template(const std::vector<Token>& tokens);

}  // namespace frugal::jinja
