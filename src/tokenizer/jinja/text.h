// Python's str methods on UTF-8 strings, by code point as Python counts them: length, slicing, strip/split,
// splitlines, case mapping (utf8proc). Bytes that are not UTF-8 decode to -byte and encode back unchanged.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace frugal::jinja {

std::vector<int32_t> decode_utf8(const std::string& s);
void append_utf8(std::string& out, int32_t cp);
std::string encode_utf8(const std::vector<int32_t>& cps, size_t begin, size_t end);
size_t count_code_points(const std::string& s);

// Python's str.isspace() for one code point.
bool is_python_space(int32_t cp);
// str.strip / lstrip / rstrip: with chars == nullopt, whitespace.
std::string py_strip(const std::string& s, const std::optional<std::string>& chars, bool left, bool right);
// str.split(sep, maxsplit): sep == nullopt splits on whitespace runs and drops empty parts.
std::vector<std::string> py_split(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit);
std::vector<std::string> py_rsplit(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit);
// str.splitlines(keepends=False): breaks at \n, \r, \r\n, \v, \f, \x1c-\x1e, \x85, U+2028, U+2029.
std::vector<std::string> py_splitlines(const std::string& s);
std::string py_upper(const std::string& s);
std::string py_lower(const std::string& s);
std::string py_title(const std::string& s);
std::string py_capitalize(const std::string& s);
// str.replace(old, new, count); count < 0 replaces all. An empty `old` inserts between code points, as Python.
std::string py_replace(const std::string& s, const std::string& old, const std::string& repl, int64_t count);

}  // namespace frugal::jinja
