#include "tokenizer/byte_level.h"

#include <array>

#include "tokenizer/utf8.h"

namespace frugal {
namespace {

struct ByteTables {
    std::array<std::string, 256> byte_to_text;
    std::array<uint32_t, 256> byte_to_cpt{};
    std::array<int16_t, 512> cpt_to_byte{};  // mapped code points are all < 0x144

    ByteTables() {
        cpt_to_byte.fill(-1);
        const auto printable = [](int b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; };
        int next = 0;
        for (int b = 0; b < 256; ++b) {
            byte_to_cpt[b] = printable(b) ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + next++);
            byte_to_text[b] = cpt_to_utf8(byte_to_cpt[b]);
            cpt_to_byte[byte_to_cpt[b]] = static_cast<int16_t>(b);
        }
    }
};

const ByteTables& tables() {
    static const ByteTables t;
    return t;
}

}  // namespace

const std::string& byte_to_unicode(uint8_t b) { return tables().byte_to_text[b]; }

std::optional<uint8_t> unicode_to_byte(uint32_t cpt) {
    if (cpt >= tables().cpt_to_byte.size() || tables().cpt_to_byte[cpt] < 0) return std::nullopt;
    return static_cast<uint8_t>(tables().cpt_to_byte[cpt]);
}

std::string byte_level_encode(std::string_view text) {
    std::string out;
    out.reserve(text.size() * 2);
    for (char c : text) out += byte_to_unicode(static_cast<uint8_t>(c));
    return out;
}

}  // namespace frugal
