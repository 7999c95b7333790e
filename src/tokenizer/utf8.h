// UTF-8 helpers shared by the tokenizers. Decoding follows llama.cpp's tolerant rules so that token ids match it
// on malformed input: a byte that does not start a well-formed sequence becomes U+FFFD and decoding resumes at the
// next byte. Surrogates and overlong forms are not rejected (llama.cpp does not reject them either).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace frugal {

inline constexpr uint32_t kReplacementChar = 0xFFFD;

// Length of the sequence a lead byte announces (1 for ASCII and for stray continuation bytes, as llama.cpp).
size_t utf8_sequence_length(uint8_t lead);

// Appends the UTF-8 encoding of cpt (cpt <= 0x10FFFF; larger values encode U+FFFD).
void append_utf8(uint32_t cpt, std::string& out);
std::string cpt_to_utf8(uint32_t cpt);

// Decodes text into code points the tolerant way described above.
std::vector<uint32_t> decode_utf8_lenient(std::string_view text);

// Length of the strictly valid (RFC 3629) UTF-8 sequence at text[pos], 0 if the bytes there are invalid, or
// -1 if they are a valid but incomplete prefix that runs into the end of text.
int strict_utf8_sequence_length(std::string_view text, size_t pos);

}  // namespace frugal
