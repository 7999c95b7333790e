// GGUF v2/v3 reader over a memory map. Parsing validates every length, count and offset against the file size
// (the input is hostile); on success tensor data pointers point into the mapping, which the GgufFile owns.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"
#include "core/status.h"

namespace frugal {

enum class GgufType : uint32_t {
    kUint8 = 0,
    kInt8 = 1,
    kUint16 = 2,
    kInt16 = 3,
    kUint32 = 4,
    kInt32 = 5,
    kFloat32 = 6,
    kBool = 7,
    kString = 8,
    kArray = 9,
    kUint64 = 10,
    kInt64 = 11,
    kFloat64 = 12,
};

std::string_view gguf_type_name(GgufType t);

// One metadata value. Scalars are decoded; arrays keep a pointer to their little-endian payload in the
// mapping (numeric) or views of their strings. Nested arrays are rejected at parse time.
struct GgufValue {
    GgufType type = GgufType::kUint8;
    int64_t int_value = 0;       // all integer types and bool
    uint64_t uint_value = 0;     // kUint64 exactly (int_value holds it too when it fits)
    double float_value = 0;      // kFloat32 / kFloat64
    std::string_view string_value;
    GgufType array_type = GgufType::kUint8;
    uint64_t array_count = 0;
    const uint8_t* array_data = nullptr;           // numeric arrays: array_count packed elements
    std::vector<std::string_view> array_strings;  // string arrays

    bool is_integer() const;
    bool is_float() const { return type == GgufType::kFloat32 || type == GgufType::kFloat64; }
    // Numeric array element i as double / int64 (caller checks i < array_count and a numeric array_type).
    double array_float(uint64_t i) const;
    int64_t array_int(uint64_t i) const;
};

struct GgufTensorInfo {
    std::string name;
    DType dtype = DType::kF32;
    std::vector<int64_t> shape;  // GGML order: shape[0] is the contiguous (row) dimension
    uint64_t offset = 0;         // relative to the data section
    uint64_t size_bytes = 0;
    const uint8_t* data = nullptr;

    int64_t num_elements() const;
    // Product of the outer dimensions (shape[1..]); well defined for zero-sized dimensions too.
    int64_t rows() const;
};

class GgufFile {
public:
    static Result<GgufFile> open(const std::string& path);
    // Parses a buffer the caller keeps alive (tests, fuzzing). name is used in error messages.
    static Result<GgufFile> parse(const uint8_t* data, size_t size, const std::string& name = "<buffer>");

    uint32_t version() const { return version_; }
    uint32_t alignment() const { return alignment_; }
    const std::string& path() const { return path_; }
    uint64_t data_offset() const { return data_offset_; }
    uint64_t file_size() const { return size_; }

    const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
    const GgufValue* find(std::string_view key) const;
    const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
    const GgufTensorInfo* find_tensor(std::string_view name) const;

    // Typed getters with precise errors ("key 'llama.block_count' has type string, expected an integer").
    Result<int64_t> get_int(std::string_view key) const;
    int64_t get_int_or(std::string_view key, int64_t fallback) const;
    Result<double> get_float(std::string_view key) const;
    double get_float_or(std::string_view key, double fallback) const;
    Result<std::string> get_string(std::string_view key) const;
    std::string get_string_or(std::string_view key, std::string fallback) const;
    bool get_bool_or(std::string_view key, bool fallback) const;

private:
    std::shared_ptr<MappedFile> file_;  // null when parsed from a caller's buffer
    std::string path_;
    uint64_t size_ = 0;
    uint32_t version_ = 0;
    uint32_t alignment_ = 32;
    uint64_t data_offset_ = 0;
    std::vector<std::pair<std::string, GgufValue>> metadata_;
    std::unordered_map<std::string, size_t> metadata_index_;
    std::vector<GgufTensorInfo> tensors_;
    std::unordered_map<std::string, size_t> tensor_index_;
};

}  // namespace frugal
