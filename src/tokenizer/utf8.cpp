#include "tokenizer/utf8.h"

namespace frugal {

size_t utf8_sequence_length(uint8_t lead) {
    static constexpr uint8_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return kLengths[lead >> 4];
}

void append_utf8(uint32_t cpt, std::string& out) {
    if (cpt > 0x10FFFF) cpt = kReplacementChar;
    if (cpt <= 0x7F) {
        out.push_back(static_cast<char>(cpt));
    } else if (cpt <= 0x7FF) {
        out.push_back(static_cast<char>(0xC0 | (cpt >> 6)));
        out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
    } else if (cpt <= 0xFFFF) {
        out.push_back(static_cast<char>(0xE0 | (cpt >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cpt >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cpt >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cpt >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cpt & 0x3F)));
    }
}

std::string cpt_to_utf8(uint32_t cpt) {
    std::string s;
    append_utf8(cpt, s);
    return s;
}

std::vector<uint32_t> decode_utf8_lenient(std::string_view text) {
    std::vector<uint32_t> cpts;
    cpts.reserve(text.size());
    const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
    const auto is_cont = [&](size_t i) { return i < text.size() && (byte(i) & 0xC0) == 0x80; };
    size_t pos = 0;
    while (pos < text.size()) {
        const uint8_t b0 = byte(pos);
        if (b0 < 0x80) {
            cpts.push_back(b0);
            pos += 1;
        } else if ((b0 & 0xE0) == 0xC0 && is_cont(pos + 1)) {
            cpts.push_back(((b0 & 0x1Fu) << 6) | (byte(pos + 1) & 0x3Fu));
            pos += 2;
        } else if ((b0 & 0xF0) == 0xE0 && is_cont(pos + 1) && is_cont(pos + 2)) {
            cpts.push_back(((b0 & 0x0Fu) << 12) | ((byte(pos + 1) & 0x3Fu) << 6) | (byte(pos + 2) & 0x3Fu));
            pos += 3;
        } else if ((b0 & 0xF8) == 0xF0 && is_cont(pos + 1) && is_cont(pos + 2) && is_cont(pos + 3)) {
            const uint32_t cpt = ((b0 & 0x07u) << 18) | ((byte(pos + 1) & 0x3Fu) << 12) |
                                 ((byte(pos + 2) & 0x3Fu) << 6) | (byte(pos + 3) & 0x3Fu);
            if (cpt > 0x10FFFF) {
                // llama.cpp cannot re-encode these and throws; treating the lead byte as invalid keeps us total.
                cpts.push_back(kReplacementChar);
                pos += 1;
            } else {
                cpts.push_back(cpt);
                pos += 4;
            }
        } else {
            cpts.push_back(kReplacementChar);
            pos += 1;
        }
    }
    return cpts;
}

int strict_utf8_sequence_length(std::string_view text, size_t pos) {
    const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
    const uint8_t b0 = byte(pos);
    if (b0 < 0x80) return 1;
    int len = 0;
    uint8_t lo = 0x80;
    uint8_t hi = 0xBF;  // allowed range of the second byte (Unicode table 3-7)
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        len = 2;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        len = 3;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        len = 4;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    for (int i = 1; i < len; ++i) {
        if (pos + i >= text.size()) return -1;
        const uint8_t b = byte(pos + i);
        const uint8_t min = i == 1 ? lo : 0x80;
        const uint8_t max = i == 1 ? hi : 0xBF;
        if (b < min || b > max) return 0;
    }
    return len;
}

}  // namespace frugal
