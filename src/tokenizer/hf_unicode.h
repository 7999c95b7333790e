// Unicode as Hugging Face tokenizers sees it, which is not one Unicode version: its normalizers use Unicode 9.0
// tables, its regexes (Oniguruma) newer ones than the PCRE2 frugal links. The tables come from
// scripts/reference/make_hf_unicode_tables.py, which measures them on the tokenizers package itself.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace frugal {

// True for code points assigned after Unicode 9.0 (tokenizers' normalizers treat them as unassigned), up to the
// DerivedAge.txt the table was made from (15.0, the version of Debian 12's utf8proc 2.8, which leaves later code
// points alone too).
bool assigned_after_unicode_9(uint32_t cpt);

// NFC, NFD, NFKC or NFKD as tokenizers computes it: code points assigned after Unicode 9.0 pass through unchanged
// and nothing reorders or composes across them. Text that is not valid UTF-8 is returned unchanged.
std::string hf_unicode_normalize(std::string_view text, std::string_view form);

// The Lowercase normalizer: Rust's char::to_lowercase per code point (Unicode 17 there, utf8proc's tables plus the
// newer mappings here): the simple mapping, U+0130 -> "i\u0307", no context rules. Bytes that are not UTF-8 pass.
std::string hf_lowercase(std::string_view text);

// PCRE2 class items ("\x{..}-\x{..}...") for the code points tokenizers' regexes give property \p{X} (X one of
// L, N, P, S, M) beyond Unicode 14.0; "" for other properties.
const std::string& onig_property_extras(char property);

}  // namespace frugal
