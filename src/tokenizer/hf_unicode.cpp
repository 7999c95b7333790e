#include "tokenizer/hf_unicode.h"

#include <fmt/format.h>
#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <iterator>

#include "tokenizer/utf8.h"

namespace frugal {
namespace {

struct CodepointRange {
    uint32_t first;
    uint32_t last;
};
struct CaseMapping {
    uint32_t from;
    uint32_t to;
};
struct PropertyExtra {
    char property;
    uint32_t first;
    uint32_t last;
};

#include "tokenizer/hf_unicode_tables.inc"

// The code point of the valid n-byte UTF-8 sequence at s.
uint32_t decode_valid(const char* s, int n) {
    const auto b = [&](int i) { return static_cast<uint32_t>(static_cast<uint8_t>(s[i])); };
    switch (n) {
        case 1:
            return b(0);
        case 2:
            return ((b(0) & 0x1F) << 6) | (b(1) & 0x3F);
        case 3:
            return ((b(0) & 0x0F) << 12) | ((b(1) & 0x3F) << 6) | (b(2) & 0x3F);
        default:
            return ((b(0) & 0x07) << 18) | ((b(1) & 0x3F) << 12) | ((b(2) & 0x3F) << 6) | (b(3) & 0x3F);
    }
}

std::string utf8proc_normalize(std::string_view text, std::string_view form, bool* ok) {
    int options = UTF8PROC_STABLE | (form == "NFC" || form == "NFKC" ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE);
    if (form == "NFKC" || form == "NFKD") options |= UTF8PROC_COMPAT;
    utf8proc_uint8_t* result = nullptr;
    const utf8proc_ssize_t n =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(text.data()), static_cast<utf8proc_ssize_t>(text.size()),
                     &result, static_cast<utf8proc_option_t>(options));
    *ok = n >= 0;
    if (n < 0) return std::string(text);
    std::string out(reinterpret_cast<const char*>(result), static_cast<size_t>(n));
    std::free(result);
    return out;
}

}  // namespace

bool assigned_after_unicode_9(uint32_t cpt) {
    if (cpt < kAssignedAfterUnicode9[0].first) return false;
    const auto* end = std::end(kAssignedAfterUnicode9);
    const auto* it = std::upper_bound(std::begin(kAssignedAfterUnicode9), end, cpt,
                                      [](uint32_t c, const CodepointRange& r) { return c < r.first; });
    return it != std::begin(kAssignedAfterUnicode9) && cpt <= (it - 1)->last;
}

std::string hf_unicode_normalize(std::string_view text, std::string_view form) {
    std::string out;
    out.reserve(text.size());
    bool ok = true;
    size_t segment = 0;  // start of the text not yet normalized
    const auto flush = [&](size_t end) {
        if (end > segment) out += utf8proc_normalize(text.substr(segment, end - segment), form, &ok);
    };
    const auto is_ascii = [&](size_t i) { return static_cast<uint8_t>(text[i]) < 0x80; };
    for (size_t pos = 0; pos < text.size();) {
        if (is_ascii(pos)) {
            // Every form leaves ASCII alone, and an ASCII character neither reorders nor composes with what comes
            // before it; it can only compose with a following mark, so one followed by ASCII is copied as is.
            if (pos + 1 == text.size() || is_ascii(pos + 1)) {
                flush(pos);
                out.push_back(text[pos]);
                segment = ++pos;
            } else {
                ++pos;
            }
            continue;
        }
        const int n = strict_utf8_sequence_length(text, pos);
        if (n <= 0) return std::string(text);
        if (assigned_after_unicode_9(decode_valid(text.data() + pos, n))) {
            flush(pos);
            out.append(text.substr(pos, static_cast<size_t>(n)));
            segment = pos + static_cast<size_t>(n);
        }
        pos += static_cast<size_t>(n);
    }
    flush(text.size());
    return ok ? out : std::string(text);
}

std::string hf_lowercase(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (size_t pos = 0; pos < text.size();) {
        const int n = strict_utf8_sequence_length(text, pos);
        if (n <= 0) {
            out.push_back(text[pos++]);
            continue;
        }
        const uint32_t cpt = decode_valid(text.data() + pos, n);
        pos += static_cast<size_t>(n);
        if (cpt == 0x130) {
            out += "i\xcc\x87";
            continue;
        }
        const auto* it = std::lower_bound(std::begin(kLowercaseExtras), std::end(kLowercaseExtras), cpt,
                                          [](const CaseMapping& m, uint32_t c) { return m.from < c; });
        const bool extra = it != std::end(kLowercaseExtras) && it->from == cpt;
        append_utf8(extra ? it->to : static_cast<uint32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(cpt))), out);
    }
    return out;
}

const std::string& onig_property_extras(char property) {
    static const std::array<std::string, 5> kClasses = [] {
        std::array<std::string, 5> classes;
        for (const PropertyExtra& e : kOnigPropertyExtras) {
            const size_t k = std::string_view("LNPSM").find(e.property);
            if (k != std::string_view::npos) classes[k] += fmt::format("\\x{{{:X}}}-\\x{{{:X}}}", e.first, e.last);
        }
        return classes;
    }();
    static const std::string kNone;
    const size_t k = std::string_view("LNPSM").find(property);
    return k == std::string_view::npos ? kNone : kClasses[k];
}

}  // namespace frugal
