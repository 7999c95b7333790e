// Hugging Face safetensors reader over a memory map: an 8-byte little-endian header length N, N bytes of JSON
// ({name: {dtype, shape, data_offsets}, "__metadata__": {string: string}}), then the data section that the
// offsets index. Parsing validates every type, shape, size and offset (the input is hostile); on success tensor
// data pointers point into the mapping, which the SafetensorsFile owns. SafetensorsModel opens a checkpoint
// folder, single-file or sharded through model.safetensors.index.json.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/mapped_file.h"
#include "core/status.h"

namespace frugal {

// Every dtype of the safetensors format. Files listing any of them open; only F32, F16 and BF16 can be read
// as data (to_f32, frugal_dtype); the rest are reported by name.
enum class SafetensorsDType : uint8_t {
    kBool,
    kU8,
    kI8,
    kF8_E5M2,
    kF8_E4M3,
    kF8_E8M0,
    kI16,
    kU16,
    kF16,
    kBF16,
    kI32,
    kU32,
    kF32,
    kC64,
    kF64,
    kI64,
    kU64,
    kF4,       // two per byte
    kF6_E2M3,  // four per three bytes
    kF6_E3M2,
};

std::string_view safetensors_dtype_name(SafetensorsDType t);  // as the file spells it: "BF16", "F8_E4M3"
int safetensors_dtype_bits(SafetensorsDType t);               // bits per element
bool safetensors_dtype_supported(SafetensorsDType t);         // F32, F16, BF16

struct SafetensorsTensorInfo {
    std::string name;
    SafetensorsDType dtype = SafetensorsDType::kF32;
    std::vector<int64_t> shape;  // PyTorch order: shape.back() is the contiguous dimension; [] is a scalar
    uint64_t data_begin = 0;     // data_offsets, relative to the data section
    uint64_t data_end = 0;
    const uint8_t* data = nullptr;  // data_end - data_begin bytes; not aligned (the data section starts at 8 + N)

    uint64_t size_bytes() const { return data_end - data_begin; }
    int64_t num_elements() const;  // product of shape; parse guarantees it fits
    std::span<const uint8_t> bytes() const { return {data, size_bytes()}; }
    // The frugal DType of F32/F16/BF16; an error naming the tensor and its dtype otherwise.
    Result<DType> frugal_dtype() const;
};

// F32, F16 or BF16 tensor -> host floats (row-major, num_elements values). Errors for other dtypes and when the
// byte size does not match the shape (a hand-built info; parsed ones always match).
Result<std::vector<float>> safetensors_to_f32(const SafetensorsTensorInfo& t);
// The same into a caller's buffer of exactly num_elements floats.
Status safetensors_to_f32(const SafetensorsTensorInfo& t, std::span<float> out);

class SafetensorsFile {
public:
    // Header length cap (the reference implementation's): a larger value is corruption, not a header.
    static constexpr uint64_t kMaxHeaderBytes = 100'000'000;

    static Result<SafetensorsFile> open(const std::string& path);
    // Parses a buffer the caller keeps alive (tests, fuzzing). name is used in error messages.
    static Result<SafetensorsFile> parse(const uint8_t* data, size_t size, const std::string& name = "<buffer>");

    const std::string& path() const { return path_; }
    uint64_t file_size() const { return size_; }
    uint64_t data_offset() const { return data_offset_; }  // 8 + header length

    // "__metadata__", sorted by key.
    const std::vector<std::pair<std::string, std::string>>& metadata() const { return metadata_; }
    const std::string* find_metadata(std::string_view key) const;
    // Sorted by name (the on-disk JSON order is not meaningful).
    const std::vector<SafetensorsTensorInfo>& tensors() const { return tensors_; }
    const SafetensorsTensorInfo* find_tensor(std::string_view name) const;

private:
    std::shared_ptr<MappedFile> file_;  // null when parsed from a caller's buffer
    std::string path_;
    uint64_t size_ = 0;
    uint64_t data_offset_ = 0;
    std::vector<std::pair<std::string, std::string>> metadata_;
    std::vector<SafetensorsTensorInfo> tensors_;
    std::unordered_map<std::string, size_t> tensor_index_;
};

// A checkpoint of one or more safetensors files. Its tensor table is the union of the shards' tensors (a name
// in two shards is an error); the index's weight_map must name, for each tensor it lists, the shard holding it.
class SafetensorsModel {
public:
    // path: a folder holding model.safetensors.index.json (sharded) or else model.safetensors; an index file;
    // or one .safetensors file.
    static Result<SafetensorsModel> open(const std::string& path);

    const std::vector<SafetensorsFile>& shards() const { return shards_; }  // sorted by file name
    const std::vector<std::string>& tensor_names() const { return names_; }  // sorted
    size_t num_tensors() const { return names_.size(); }
    const SafetensorsTensorInfo* find_tensor(std::string_view name) const;

private:
    Status add_shard(SafetensorsFile shard);

    std::vector<SafetensorsFile> shards_;
    std::vector<std::string> names_;
    std::unordered_map<std::string, std::pair<size_t, size_t>> index_;  // name -> (shard, tensor in shard)
};

}  // namespace frugal
