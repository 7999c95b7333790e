#include "tokenizer/jinja/text.h"

#include <utf8proc.h>

#include <algorithm>

#include "tokenizer/utf8.h"

namespace frugal::jinja {

std::vector<int32_t> decode_utf8(const std::string& s) {
    std::vector<int32_t> out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
        const int len = strict_utf8_sequence_length(s, i);
        if (len <= 0) {
            out.push_back(-static_cast<int32_t>(static_cast<unsigned char>(s[i])));
            ++i;
            continue;
        }
        int32_t cp = 0;
        utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i), len, &cp);
        out.push_back(cp);
        i += static_cast<size_t>(len);
    }
    return out;
}

void append_utf8(std::string& out, int32_t cp) {
    if (cp < 0) {
        out.push_back(static_cast<char>(-cp));
    } else {
        frugal::append_utf8(static_cast<uint32_t>(cp), out);
    }
}

std::string encode_utf8(const std::vector<int32_t>& cps, size_t begin, size_t end) {
    std::string out;
    for (size_t i = begin; i < end && i < cps.size(); ++i) append_utf8(out, cps[i]);
    return out;
}

size_t count_code_points(const std::string& s) {
    size_t n = 0;
    for (size_t i = 0; i < s.size();) {
        const int len = strict_utf8_sequence_length(s, i);
        i += len > 0 ? static_cast<size_t>(len) : 1;
        ++n;
    }
    return n;
}

bool is_python_space(int32_t cp) {
    if (cp < 0) return false;
    if ((cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 || cp == 0xa0) return true;
    if (cp < 0x100) return false;
    const auto cat = utf8proc_category(cp);
    return cat == UTF8PROC_CATEGORY_ZS || cat == UTF8PROC_CATEGORY_ZL || cat == UTF8PROC_CATEGORY_ZP;
}

std::string py_strip(const std::string& s, const std::optional<std::string>& chars, bool left, bool right) {
    const std::vector<int32_t> cps = decode_utf8(s);
    const std::vector<int32_t> set = chars ? decode_utf8(*chars) : std::vector<int32_t>{};
    auto strip_it = [&](int32_t cp) {
        return chars ? std::find(set.begin(), set.end(), cp) != set.end() : is_python_space(cp);
    };
    size_t begin = 0;
    size_t end = cps.size();
    if (left) {
        while (begin < end && strip_it(cps[begin])) ++begin;
    }
    if (right) {
        while (end > begin && strip_it(cps[end - 1])) --end;
    }
    return encode_utf8(cps, begin, end);
}

std::vector<std::string> py_split(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit) {
    std::vector<std::string> parts;
    if (sep) {
        size_t pos = 0;
        while (maxsplit < 0 || static_cast<int64_t>(parts.size()) < maxsplit) {
            const size_t next = s.find(*sep, pos);
            if (next == std::string::npos) break;
            parts.push_back(s.substr(pos, next - pos));
            pos = next + sep->size();
        }
        parts.push_back(s.substr(pos));
        return parts;
    }
    const std::vector<int32_t> cps = decode_utf8(s);
    size_t i = 0;
    while (i < cps.size()) {
        while (i < cps.size() && is_python_space(cps[i])) ++i;
        if (i == cps.size()) break;
        if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
            size_t end = cps.size();
            while (end > i && is_python_space(cps[end - 1])) --end;
            parts.push_back(encode_utf8(cps, i, end));
            break;
        }
        size_t j = i;
        while (j < cps.size() && !is_python_space(cps[j])) ++j;
        parts.push_back(encode_utf8(cps, i, j));
        i = j;
    }
    return parts;
}

std::vector<std::string> py_rsplit(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit) {
    if (maxsplit < 0) return py_split(s, sep, maxsplit);
    std::vector<std::string> parts;
    if (sep) {
        size_t end = s.size();
        while (static_cast<int64_t>(parts.size()) < maxsplit) {
            if (end < sep->size()) break;
            const size_t found = s.rfind(*sep, end - sep->size());
            if (found == std::string::npos) break;
            parts.push_back(s.substr(found + sep->size(), end - found - sep->size()));
            end = found;
        }
        parts.push_back(s.substr(0, end));
    } else {
        const std::vector<int32_t> cps = decode_utf8(s);
        size_t j = cps.size();
        while (j > 0) {
            while (j > 0 && is_python_space(cps[j - 1])) --j;
            if (j == 0) break;
            if (static_cast<int64_t>(parts.size()) == maxsplit) {
                size_t begin = 0;
                while (begin < j && is_python_space(cps[begin])) ++begin;
                parts.push_back(encode_utf8(cps, begin, j));
                break;
            }
            size_t i = j;
            while (i > 0 && !is_python_space(cps[i - 1])) --i;
            parts.push_back(encode_utf8(cps, i, j));
            j = i;
        }
    }
    std::reverse(parts.begin(), parts.end());
    return parts;
}

std::vector<std::string> py_splitlines(const std::string& s) {
    const std::vector<int32_t> cps = decode_utf8(s);
    std::vector<std::string> lines;
    size_t start = 0;
    for (size_t i = 0; i < cps.size(); ++i) {
        const int32_t c = cps[i];
        const bool brk = c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || (c >= 0x1c && c <= 0x1e) || c == 0x85 ||
                         c == 0x2028 || c == 0x2029;
        if (!brk) continue;
        lines.push_back(encode_utf8(cps, start, i));
        if (c == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n') ++i;
        start = i + 1;
    }
    if (start < cps.size()) lines.push_back(encode_utf8(cps, start, cps.size()));
    return lines;
}

namespace {

// Full case mappings that change the length (Python's str.upper('ß') == 'SS') are left to their single-code-point
// forms: utf8proc maps code points one to one.
int32_t to_upper(int32_t cp) { return cp < 0 ? cp : utf8proc_toupper(cp); }
int32_t to_lower(int32_t cp) { return cp < 0 ? cp : utf8proc_tolower(cp); }
int32_t to_title(int32_t cp) { return cp < 0 ? cp : utf8proc_totitle(cp); }

bool is_cased_letter(int32_t cp) {
    if (cp < 0) return false;
    const auto cat = utf8proc_category(cp);
    return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}

}  // namespace

std::string py_upper(const std::string& s) {
    std::string out;
    for (const int32_t cp : decode_utf8(s)) append_utf8(out, to_upper(cp));
    return out;
}

std::string py_lower(const std::string& s) {
    std::string out;
    for (const int32_t cp : decode_utf8(s)) append_utf8(out, to_lower(cp));
    return out;
}

std::string py_title(const std::string& s) {
    std::string out;
    bool previous_cased = false;
    for (const int32_t cp : decode_utf8(s)) {
        append_utf8(out, previous_cased ? to_lower(cp) : to_title(cp));
        previous_cased = is_cased_letter(cp);
    }
    return out;
}

std::string py_capitalize(const std::string& s) {
    std::string out;
    bool first = true;
    for (const int32_t cp : decode_utf8(s)) {
        append_utf8(out, first ? to_title(cp) : to_lower(cp));
        first = false;
    }
    return out;
}

std::string py_replace(const std::string& s, const std::string& old, const std::string& repl, int64_t count) {
    std::string out;
    if (old.empty()) {
        const std::vector<int32_t> cps = decode_utf8(s);
        int64_t done = 0;
        for (size_t i = 0; i <= cps.size(); ++i) {
            if (count < 0 || done < count) {
                out += repl;
                ++done;
            }
            if (i < cps.size()) append_utf8(out, cps[i]);
        }
        return out;
    }
    size_t pos = 0;
    int64_t done = 0;
    while (count < 0 || done < count) {
        const size_t next = s.find(old, pos);
        if (next == std::string::npos) break;
        out.append(s, pos, next - pos);
        out += repl;
        pos = next + old.size();
        ++done;
    }
    out.append(s, pos, std::string::npos);
    return out;
}

}  // namespace frugal::jinja
