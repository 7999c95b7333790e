// Jinja2 lexer: template source -> tokens, with Jinja's whitespace control as transformers configures it
// (trim_blocks and lstrip_blocks on; `{%-`/`-%}` strip, `{%+`/`+%}` keep). Comments are dropped here.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"

namespace frugal::jinja {

enum class TokenKind {
    kText,        // literal template text
    kVarBegin,    // {{
    kVarEnd,      // }}
    kBlockBegin,  // {%
    kBlockEnd,    // %}
    kName,
    kString,      // text holds the unescaped value
    kInteger,
    kFloat,
    kOperator,    // text holds the operator: + - * / // % ** ~ == != < > <= >= = ( ) [ ] { } , . : |
    kEnd,
};

struct Token {
    TokenKind kind;
    std::string text;
    int line;
};

struct LexerOptions {
    bool trim_blocks = true;
    bool lstrip_blocks = true;
};

Result<std::vector<Token>> tokenize_template(const std::string& source, const LexerOptions& options = {});

}  // namespace frugal::jinja
