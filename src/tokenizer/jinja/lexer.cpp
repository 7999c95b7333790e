#include "tokenizer/jinja/lexer.h"

#include <fmt/format.h>

#include <cstring>

#include "tokenizer/jinja/text.h"

namespace frugal::jinja {
namespace {

bool is_space_byte(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool all_space(const std::string& s, size_t from) {
    if (from >= s.size()) return false;  // Jinja matches \s+: there must be something to strip
    for (const int32_t cp : decode_utf8(s.substr(from))) {
        if (!is_python_space(cp)) return false;
    }
    return true;
}

std::string rstrip_space(const std::string& s) { return py_strip(s, std::nullopt, false, true); }

class Lexer {
public:
    Lexer(const std::string& src, const LexerOptions& options) : src_(src), options_(options) {}

    Result<std::vector<Token>> run() {
        size_t pos = 0;
        while (pos < src_.size()) {
            const size_t start = find_tag(pos);
            std::string text = src_.substr(pos, (start == std::string::npos ? src_.size() : start) - pos);
            if (start == std::string::npos) {
                emit_text(text, pos);
                break;
            }
            const char kind = src_[start + 1];
            const char sign = start + 2 < src_.size() ? src_[start + 2] : '\0';
            if (sign == '-') {
                text = rstrip_space(text);
            } else if (sign != '+' && options_.lstrip_blocks && kind != '{') {
                const size_t newline = text.rfind('\n');
                const size_t l_pos = newline == std::string::npos ? 0 : newline + 1;
                const bool line_starting = pos == 0 || src_[pos - 1] == '\n';
                if ((l_pos > 0 || line_starting) && all_space(text, l_pos)) text.resize(l_pos);
            }
            emit_text(text, pos);
            line_ += count_lines(pos, start);
            size_t body = start + 2 + (sign == '-' || sign == '+' ? 1 : 0);
            Status st;
            if (kind == '#') {
                st = comment(body, &pos);
            } else if (kind == '%' && is_raw(body)) {
                st = raw(body, &pos);
            } else {
                st = tag(kind == '{' ? TokenKind::kVarBegin : TokenKind::kBlockBegin, body, &pos);
            }
            if (!st.ok()) return st;
        }
        tokens_.push_back({TokenKind::kEnd, "", line_});
        return std::move(tokens_);
    }

private:
    size_t find_tag(size_t pos) const {
        for (size_t i = src_.find('{', pos); i != std::string::npos && i + 1 < src_.size(); i = src_.find('{', i + 1)) {
            const char c = src_[i + 1];
            if (c == '{' || c == '%' || c == '#') return i;
        }
        return std::string::npos;
    }

    int count_lines(size_t from, size_t to) const {
        int n = 0;
        for (size_t i = from; i < to && i < src_.size(); ++i) n += src_[i] == '\n';
        return n;
    }

    void emit_text(const std::string& text, size_t) {
        if (!text.empty()) tokens_.push_back({TokenKind::kText, text, line_});
    }

    // After a tag end at `end` with the given sign: where the next text starts.
    size_t after_end(size_t end, char sign, bool trim) const {
        if (sign == '-') {
            while (end < src_.size() && is_space_byte(src_[end])) ++end;
        } else if (sign != '+' && trim && end < src_.size() && src_[end] == '\n') {
            ++end;
        }
        return end;
    }

    Status comment(size_t body, size_t* pos) {
        const size_t close = src_.find("#}", body);
        if (close == std::string::npos) return Status::errorf("template line {}: missing end of comment tag", line_);
        const char sign = close > body && (src_[close - 1] == '-' || src_[close - 1] == '+') ? src_[close - 1] : '\0';
        line_ += count_lines(body, close);
        *pos = after_end(close + 2, sign, options_.trim_blocks);
        line_ += count_lines(close, *pos);
        return ok_status();
    }

    // `{% raw %}` (body points after "{%" and its sign).
    bool is_raw(size_t body) const {
        size_t i = body;
        while (i < src_.size() && is_space_byte(src_[i])) ++i;
        if (src_.compare(i, 3, "raw") != 0 || (i + 3 < src_.size() && is_name_char(src_[i + 3]))) return false;
        i += 3;
        while (i < src_.size() && is_space_byte(src_[i])) ++i;
        if (i < src_.size() && src_[i] == '-') ++i;
        return src_.compare(i, 2, "%}") == 0;
    }

    Status raw(size_t body, size_t* pos) {
        size_t i = src_.find("%}", body);
        const bool strip_after = src_[i - 1] == '-';
        i += 2;
        if (strip_after) {
            while (i < src_.size() && is_space_byte(src_[i])) ++i;
        }
        for (size_t j = src_.find("{%", i); j != std::string::npos; j = src_.find("{%", j + 2)) {
            size_t k = j + 2;
            const char sign = k < src_.size() && (src_[k] == '-' || src_[k] == '+') ? src_[k++] : '\0';
            while (k < src_.size() && is_space_byte(src_[k])) ++k;
            if (src_.compare(k, 6, "endraw") != 0) continue;
            k += 6;
            while (k < src_.size() && is_space_byte(src_[k])) ++k;
            const char end_sign = k < src_.size() && (src_[k] == '-' || src_[k] == '+') ? src_[k++] : '\0';
            if (src_.compare(k, 2, "%}") != 0) continue;
            std::string text = src_.substr(i, j - i);
            if (sign == '-') text = rstrip_space(text);
            emit_text(text, i);
            line_ += count_lines(body, k);
            *pos = after_end(k + 2, end_sign, options_.trim_blocks);
            line_ += count_lines(k, *pos);
            return ok_status();
        }
        return Status::errorf("template line {}: missing {{% endraw %}}", line_);
    }

    Status tag(TokenKind begin, size_t i, size_t* pos) {
        const bool block = begin == TokenKind::kBlockBegin;
        tokens_.push_back({begin, "", line_});
        int depth = 0;
        while (true) {
            while (i < src_.size() && is_space_byte(src_[i])) line_ += src_[i++] == '\n';
            if (i >= src_.size()) {
                return Status::errorf("template line {}: unexpected end of template, expected '{}'", line_,
                                      block ? "%}" : "}}");
            }
            if (depth == 0) {
                const char* close = block ? "%}" : "}}";
                char sign = '\0';
                size_t at = i;
                if ((src_[i] == '-' || (block && src_[i] == '+')) && src_.compare(i + 1, 2, close) == 0) {
                    sign = src_[i];
                    at = i + 1;
                }
                if (src_.compare(at, 2, close) == 0) {
                    tokens_.push_back({block ? TokenKind::kBlockEnd : TokenKind::kVarEnd, "", line_});
                    *pos = after_end(at + 2, sign, block && options_.trim_blocks);
                    line_ += count_lines(at, *pos);
                    return ok_status();
                }
            }
            const char c = src_[i];
            if (is_name_start(c)) {
                size_t j = i;
                while (j < src_.size() && is_name_char(src_[j])) ++j;
                tokens_.push_back({TokenKind::kName, src_.substr(i, j - i), line_});
                i = j;
            } else if (is_digit(c)) {
                Status st = number(&i);
                if (!st.ok()) return st;
            } else if (c == '\'' || c == '"') {
                Status st = string_literal(&i);
                if (!st.ok()) return st;
            } else {
                static const char* kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<",
                                             ">",  "=",  "(",  ")",  "[",  "]",  "{", "}", ",", ".", ":", "|"};
                const char* op = nullptr;
                for (const char* candidate : kOps) {
                    if (src_.compare(i, std::strlen(candidate), candidate) == 0) {
                        op = candidate;
                        break;
                    }
                }
                if (!op) return Status::errorf("template line {}: unexpected character '{}'", line_, c);
                if (c == '(' || c == '[' || c == '{') ++depth;
                if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
                tokens_.push_back({TokenKind::kOperator, op, line_});
                i += std::strlen(op);
            }
        }
    }

    Status number(size_t* pos) {
        size_t i = *pos;
        auto digits = [&] {
            while (i < src_.size() && (is_digit(src_[i]) || (src_[i] == '_' && i + 1 < src_.size() &&
                                                             is_digit(src_[i + 1])))) {
                ++i;
            }
        };
        digits();
        bool is_float = false;
        const bool after_dot = !tokens_.empty() && tokens_.back().kind == TokenKind::kOperator &&
                               tokens_.back().text == ".";
        if (!after_dot && i + 1 < src_.size() && src_[i] == '.' && is_digit(src_[i + 1])) {
            ++i;
            digits();
            is_float = true;
        }
        if (!after_dot && i < src_.size() && (src_[i] == 'e' || src_[i] == 'E')) {
            size_t j = i + 1;
            if (j < src_.size() && (src_[j] == '+' || src_[j] == '-')) ++j;
            if (j < src_.size() && is_digit(src_[j])) {
                i = j;
                digits();
                is_float = true;
            }
        }
        std::string text;
        for (size_t k = *pos; k < i; ++k) {
            if (src_[k] != '_') text.push_back(src_[k]);
        }
        tokens_.push_back({is_float ? TokenKind::kFloat : TokenKind::kInteger, text, line_});
        *pos = i;
        return ok_status();
    }

    Status string_literal(size_t* pos) {
        const char quote = src_[*pos];
        std::string out;
        size_t i = *pos + 1;
        auto hex = [&](size_t at, int n, int32_t* cp) {
            if (at + static_cast<size_t>(n) > src_.size()) return false;
            *cp = 0;
            for (int k = 0; k < n; ++k) {
                const char h = src_[at + static_cast<size_t>(k)];
                const int d = is_digit(h) ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10
                                                      : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
                if (d < 0) return false;
                *cp = *cp * 16 + d;
            }
            return *cp <= 0x10ffff;
        };
        while (i < src_.size() && src_[i] != quote) {
            if (src_[i] != '\\' || i + 1 >= src_.size()) {
                line_ += src_[i] == '\n';
                out.push_back(src_[i++]);
                continue;
            }
            const char e = src_[i + 1];
            int32_t cp = 0;
            const int hex_len = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
            switch (e) {
                case 'n': out.push_back('\n'); break;
                case 't': out.push_back('\t'); break;
                case 'r': out.push_back('\r'); break;
                case 'b': out.push_back('\b'); break;
                case 'f': out.push_back('\f'); break;
                case 'v': out.push_back('\v'); break;
                case 'a': out.push_back('\a'); break;
                case '0': out.push_back('\0'); break;
                case '\\': out.push_back('\\'); break;
                case '\'': out.push_back('\''); break;
                case '"': out.push_back('"'); break;
                case '\n': break;  // a backslash-newline continues the line
                default:
                    if (hex_len && hex(i + 2, hex_len, &cp)) {
                        append_utf8(out, cp);
                        i += static_cast<size_t>(hex_len);
                    } else {
                        out.push_back('\\');  // unknown escapes stay as written, as in Python
                        out.push_back(e);
                    }
            }
            i += 2;
        }
        if (i >= src_.size()) return Status::errorf("template line {}: unterminated string", line_);
        tokens_.push_back({TokenKind::kString, std::move(out), line_});
        *pos = i + 1;
        return ok_status();
    }

    const std::string& src_;
    LexerOptions options_;
    std::vector<Token> tokens_;
    int line_ = 1;
};

}  // namespace

Result<std::vector<Token>> tokenize_template(const std::string& source, const LexerOptions& options) {
    // As Jinja: \r\n and \r become \n everywhere, and one trailing newline is dropped (keep_trailing_newline off).
    std::string normalized;
    normalized.reserve(source.size());
    for (size_t i = 0; i < source.size(); ++i) {
        if (source[i] == '\r') {
            normalized.push_back('\n');
            if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
        } else {
            normalized.push_back(source[i]);
        }
    }
    if (!normalized.empty() && normalized.back() == '\n') normalized.pop_back();
    return Lexer(normalized, options).run();
}

}  // namespace frugal::jinja
