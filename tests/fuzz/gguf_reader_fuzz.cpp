// libFuzzer target for the GGUF reader. libFuzzer hands over a heap copy of exactly `size` bytes, so ASan
// reports any read past the end. On a successful parse the target reads every metadata value, the first and
// last byte of every tensor, and calls every typed getter; it also checks the reader's own promises (tensor data
// lies inside the buffer, indices find what they index) and traps when one is broken.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "format/gguf/gguf_file.h"

// Building with -DFRUGAL_FUZZ_SKIP_KNOWN=ON steps around reader bugs that already have a reproducer in
// tests/fuzz/crashes/ (listed in docs/fuzzing.md), so a long run can look for new ones. Default off.
#ifndef FRUGAL_FUZZ_SKIP_KNOWN
#define FRUGAL_FUZZ_SKIP_KNOWN 0
#endif

namespace {

// Accumulates touched bytes so the reads cannot be optimized away.
volatile uint64_t g_sink = 0;

void require(bool cond) {
    if (!cond) __builtin_trap();
}

uint64_t touch(std::string_view s) {
    if (s.empty()) return 0;
    return static_cast<uint8_t>(s.front()) + static_cast<uint8_t>(s.back());
}

bool is_numeric(frugal::GgufType t) { return t != frugal::GgufType::kString && t != frugal::GgufType::kArray; }

uint64_t touch_value(const frugal::GgufValue& v) {
    using frugal::GgufType;
    uint64_t acc = static_cast<uint64_t>(v.int_value) ^ v.uint_value ^ static_cast<uint64_t>(v.float_value != 0);
    acc += v.is_integer() + v.is_float();
    acc += frugal::gguf_type_name(v.type).size();
    switch (v.type) {
        case GgufType::kString:
            acc += touch(v.string_value);
            break;
        case GgufType::kArray:
            acc += frugal::gguf_type_name(v.array_type).size();
            if (v.array_type == GgufType::kString) {
                require(v.array_strings.size() == v.array_count);
                for (std::string_view s : v.array_strings) acc += touch(s);
            } else if (is_numeric(v.array_type)) {
                require(v.array_count == 0 || v.array_data != nullptr);
                for (uint64_t i = 0; i < v.array_count; ++i) {
                    // Known: array_int casts NaN / out-of-range floats to int64 (gguf_array_int_float_cast.gguf).
                    const bool skip = FRUGAL_FUZZ_SKIP_KNOWN && !(std::fabs(v.array_float(i)) < 9.2e18);
                    if (!skip) acc += static_cast<uint64_t>(v.array_int(i));
                    acc += v.array_float(i) != 0;
                }
            }
            break;
        default:
            break;
    }
    return acc;
}

void exercise(const frugal::GgufFile& f, const uint8_t* data, size_t size) {
    uint64_t acc = f.version() + f.alignment() + f.file_size() + f.path().size();
    require(f.file_size() == size);
    require(f.data_offset() <= size + f.alignment());

    for (const auto& [key, value] : f.metadata()) {
        acc += key.size() + touch_value(value);
        require(f.find(key) != nullptr);

        frugal::Result<int64_t> i = f.get_int(key);
        acc += i.ok() ? static_cast<uint64_t>(i.value()) : i.status().message().size();
        acc += static_cast<uint64_t>(f.get_int_or(key, -1));
        frugal::Result<double> d = f.get_float(key);
        acc += d.ok() ? (d.value() != 0) : d.status().message().size();
        acc += f.get_float_or(key, 0.5) != 0;
        frugal::Result<std::string> s = f.get_string(key);
        acc += s.ok() ? touch(s.value()) : s.status().message().size();
        acc += f.get_string_or(key, "fallback").size();
        acc += f.get_bool_or(key, true);
    }
    // Getters on a key that is (almost surely) absent take the error paths.
    acc += f.get_int("fuzz.missing").ok() + f.get_float("fuzz.missing").ok() + f.get_string("fuzz.missing").ok();
    acc += f.find_tensor("fuzz.missing") != nullptr;

    const uint8_t* end = data + size;
    for (const frugal::GgufTensorInfo& t : f.tensors()) {
        require(f.find_tensor(t.name) != nullptr);
        require(t.data >= data && t.data <= end);
        require(t.size_bytes <= static_cast<uint64_t>(end - t.data));
        acc += t.name.size() + t.shape.size() + static_cast<uint64_t>(t.num_elements()) +
               frugal::dtype_name(t.dtype).size();
        // Known: rows() divides by shape[0], which may be 0 (gguf_rows_div_zero.gguf).
        if (!FRUGAL_FUZZ_SKIP_KNOWN || t.shape[0] != 0) acc += static_cast<uint64_t>(t.rows());
        if (t.size_bytes > 0) acc += t.data[0] + t.data[t.size_bytes - 1];
    }
    g_sink = g_sink + acc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    frugal::Result<frugal::GgufFile> parsed = frugal::GgufFile::parse(data, size, "fuzz");
    if (!parsed.ok()) {
        g_sink = g_sink + parsed.status().message().size();
        return 0;
    }
    exercise(parsed.value(), data, size);
    return 0;
}
