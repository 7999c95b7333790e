// GPT-2's reversible byte <-> unicode mapping used by byte-level BPE vocabularies: printable Latin-1 bytes map to
// themselves, the other 68 bytes to U+0100.. in byte order, so every token is printable text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace frugal {

// UTF-8 text of the code point that stands for byte b.
const std::string& byte_to_unicode(uint8_t b);

// The byte a code point stands for, if it is one of the 256 mapped code points.
std::optional<uint8_t> unicode_to_byte(uint32_t cpt);

// Maps every byte of text to its stand-in (the pre-tokenized word -> BPE symbol alphabet).
std::string byte_level_encode(std::string_view text);

}  // namespace frugal
