#include "format/safetensors/safetensors_file.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <set>

#include <fmt/ranges.h>

#include <nlohmann/json.hpp>

#include "core/half.h"
#include "format/json/strict_json.h"

namespace frugal {
namespace {

using nlohmann::json;

// A safetensors header nests at most 3 deep (root, tensor entry, shape); the cap leaves room for unexpected
// extra keys while keeping hostile nesting from building a deep DOM.
constexpr int kMaxJsonDepth = 16;
constexpr size_t kMaxDims = 64;
constexpr uint64_t kMaxIndexBytes = 256ull << 20;

struct DTypeEntry {
    SafetensorsDType dtype;
    std::string_view name;
    int bits;
};

constexpr DTypeEntry kDTypes[] = {
    {SafetensorsDType::kBool, "BOOL", 8},       {SafetensorsDType::kU8, "U8", 8},
    {SafetensorsDType::kI8, "I8", 8},           {SafetensorsDType::kF8_E5M2, "F8_E5M2", 8},
    {SafetensorsDType::kF8_E4M3, "F8_E4M3", 8}, {SafetensorsDType::kF8_E8M0, "F8_E8M0", 8},
    {SafetensorsDType::kI16, "I16", 16},        {SafetensorsDType::kU16, "U16", 16},
    {SafetensorsDType::kF16, "F16", 16},        {SafetensorsDType::kBF16, "BF16", 16},
    {SafetensorsDType::kI32, "I32", 32},        {SafetensorsDType::kU32, "U32", 32},
    {SafetensorsDType::kF32, "F32", 32},        {SafetensorsDType::kC64, "C64", 64},
    {SafetensorsDType::kF64, "F64", 64},        {SafetensorsDType::kI64, "I64", 64},
    {SafetensorsDType::kU64, "U64", 64},        {SafetensorsDType::kF4, "F4", 4},
    {SafetensorsDType::kF6_E2M3, "F6_E2M3", 6}, {SafetensorsDType::kF6_E3M2, "F6_E3M2", 6},
};

const DTypeEntry* find_dtype(std::string_view name) {
    for (const DTypeEntry& e : kDTypes) {
        if (e.name == name) return &e;
    }
    return nullptr;
}

std::string format_shape(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

// A non-negative JSON integer (nlohmann stores those as unsigned).
bool get_unsigned(const json& j, uint64_t* out) {
    if (!j.is_number_unsigned()) return false;
    *out = j.get<uint64_t>();
    return true;
}

Status parse_tensor(const std::string& name, const json& entry, SafetensorsTensorInfo* t) {
    t->name = name;
    if (!entry.is_object()) {
        return Status::errorf("tensor '{}' entry must be an object, got {}", name, entry.type_name());
    }

    const auto dtype_it = entry.find("dtype");
    if (dtype_it == entry.end()) return Status::errorf("tensor '{}' has no 'dtype'", name);
    if (!dtype_it->is_string()) {
        return Status::errorf("tensor '{}' dtype must be a string, got {}", name, dtype_it->type_name());
    }
    const std::string& dtype_name = dtype_it->get_ref<const std::string&>();
    const DTypeEntry* dtype = find_dtype(dtype_name);
    if (dtype == nullptr) {
        return Status::errorf("tensor '{}' has unknown dtype '{}' (safetensors dtypes: BOOL, U8, I8, F8_E5M2, F8_E4M3, "
                              "F8_E8M0, I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64, F4, F6_E2M3, F6_E3M2)",
                              name, dtype_name);
    }
    t->dtype = dtype->dtype;

    const auto shape_it = entry.find("shape");
    if (shape_it == entry.end()) return Status::errorf("tensor '{}' has no 'shape'", name);
    if (!shape_it->is_array()) {
        return Status::errorf("tensor '{}' shape must be an array, got {}", name, shape_it->type_name());
    }
    if (shape_it->size() > kMaxDims) {
        return Status::errorf("tensor '{}' has {} dimensions (at most {} supported)", name, shape_it->size(), kMaxDims);
    }
    // Elements and bits are counted in uint64 with overflow checks: dimensions come from the file.
    uint64_t num_elements = 1;
    bool overflow = false;
    for (size_t d = 0; d < shape_it->size(); ++d) {
        const json& dim_json = (*shape_it)[d];
        uint64_t dim = 0;
        if (!get_unsigned(dim_json, &dim) || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            return Status::errorf("tensor '{}' shape entry {} is {}, expected a non-negative integer", name, d,
                                  dim_json.dump());
        }
        t->shape.push_back(static_cast<int64_t>(dim));
        overflow = overflow || __builtin_mul_overflow(num_elements, dim, &num_elements);
    }
    uint64_t bits = 0;
    overflow = overflow || __builtin_mul_overflow(num_elements, static_cast<uint64_t>(dtype->bits), &bits) ||
               num_elements > static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    // A zero dimension makes the tensor empty whatever the other dimensions are.
    if (overflow && std::find(t->shape.begin(), t->shape.end(), 0) == t->shape.end()) {
        return Status::errorf("tensor '{}' shape {} x {} is too large (byte size overflows 64 bits)", name,
                              format_shape(t->shape), dtype_name);
    }
    if (overflow) bits = 0;
    if (bits % 8 != 0) {
        return Status::errorf("tensor '{}' shape {} x {} is not a whole number of bytes", name, format_shape(t->shape),
                              dtype_name);
    }

    const auto offsets_it = entry.find("data_offsets");
    if (offsets_it == entry.end()) return Status::errorf("tensor '{}' has no 'data_offsets'", name);
    if (!offsets_it->is_array() || offsets_it->size() != 2 || !get_unsigned((*offsets_it)[0], &t->data_begin) ||
        !get_unsigned((*offsets_it)[1], &t->data_end)) {
        return Status::errorf("tensor '{}' data_offsets must be [begin, end] with non-negative integers, got {}", name,
                              offsets_it->dump());
    }
    if (t->data_begin > t->data_end) {
        return Status::errorf("tensor '{}' data_offsets [{}, {}]: begin is after end", name, t->data_begin,
                              t->data_end);
    }
    if (t->data_end - t->data_begin != bits / 8) {
        return Status::errorf("tensor '{}' data_offsets [{}, {}] do not match shape {} x {} = {} bytes", name,
                              t->data_begin, t->data_end, format_shape(t->shape), dtype_name, bits / 8);
    }
    return ok_status();
}

Status parse_metadata(const json& j, std::vector<std::pair<std::string, std::string>>* out) {
    if (!j.is_object()) return Status::errorf("'__metadata__' must be an object of strings, got {}", j.type_name());
    for (const auto& [key, value] : j.items()) {
        if (!value.is_string()) {
            return Status::errorf("'__metadata__' key '{}' must be a string, got {}", key, value.type_name());
        }
        out->emplace_back(key, value.get<std::string>());
    }
    return ok_status();
}

// A shard file name from an index: a plain file name, so the checkpoint cannot point outside its folder.
Status check_shard_name(const std::string& tensor, const std::string& shard) {
    const bool bad = shard.empty() || shard == "." || shard == ".." ||
                     shard.find_first_of(std::string_view("/\\\0", 3)) != std::string::npos;
    if (bad) {
        return Status::errorf("weight_map puts tensor '{}' in '{}', which is not a plain file name in the folder",
                              tensor, shard);
    }
    return ok_status();
}

}  // namespace

std::string_view safetensors_dtype_name(SafetensorsDType t) {
    for (const DTypeEntry& e : kDTypes) {
        if (e.dtype == t) return e.name;
    }
    return "invalid";
}

int safetensors_dtype_bits(SafetensorsDType t) {
    for (const DTypeEntry& e : kDTypes) {
        if (e.dtype == t) return e.bits;
    }
    return 0;
}

bool safetensors_dtype_supported(SafetensorsDType t) {
    return t == SafetensorsDType::kF32 || t == SafetensorsDType::kF16 || t == SafetensorsDType::kBF16;
}

int64_t SafetensorsTensorInfo::num_elements() const {
    // A zero dimension first: the product of the others may overflow (parse accepts [2^62, 4, 0]).
    if (std::find(shape.begin(), shape.end(), 0) != shape.end()) return 0;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

Result<DType> SafetensorsTensorInfo::frugal_dtype() const {
    switch (dtype) {
        case SafetensorsDType::kF32: return DType::kF32;
        case SafetensorsDType::kF16: return DType::kF16;
        case SafetensorsDType::kBF16: return DType::kBF16;
        default:
            return Status::errorf("tensor '{}' has dtype {}, which frugal cannot read (supported: F32, F16, BF16)",
                                  name, safetensors_dtype_name(dtype));
    }
}

Status safetensors_to_f32(const SafetensorsTensorInfo& t, std::span<float> out) {
    RETURN_IF_ERROR(t.frugal_dtype().status());
    const uint64_t elem_bytes = static_cast<uint64_t>(safetensors_dtype_bits(t.dtype)) / 8;
    // The info may be hand-built: recheck shape against bytes, with overflow checks, before touching memory.
    bool shape_ok = t.data_begin <= t.data_end;
    for (int64_t d : t.shape) shape_ok = shape_ok && d >= 0;
    uint64_t n = 0;
    if (shape_ok && std::find(t.shape.begin(), t.shape.end(), 0) == t.shape.end()) {
        n = 1;
        for (int64_t d : t.shape) shape_ok = shape_ok && !__builtin_mul_overflow(n, static_cast<uint64_t>(d), &n);
    }
    uint64_t bytes = 0;
    shape_ok = shape_ok && !__builtin_mul_overflow(n, elem_bytes, &bytes) && bytes == t.size_bytes() &&
               (t.data != nullptr || bytes == 0);
    if (!shape_ok) {
        return Status::errorf("tensor '{}' holds {} bytes, which do not match shape {} x {}", t.name, t.size_bytes(),
                              format_shape(t.shape), safetensors_dtype_name(t.dtype));
    }
    if (out.size() != n) {
        return Status::errorf("tensor '{}' has {} elements but the output holds {} floats", t.name, n, out.size());
    }
    const uint8_t* p = t.data;
    for (uint64_t i = 0; i < n; ++i, p += elem_bytes) {
        if (t.dtype == SafetensorsDType::kF32) {
            std::memcpy(&out[i], p, 4);
        } else {
            uint16_t h = 0;
            std::memcpy(&h, p, 2);
            out[i] = t.dtype == SafetensorsDType::kF16 ? fp16_to_fp32(h) : bf16_to_fp32(h);
        }
    }
    return ok_status();
}

Result<std::vector<float>> safetensors_to_f32(const SafetensorsTensorInfo& t) {
    RETURN_IF_ERROR(t.frugal_dtype().status());
    // Size the vector by bytes, not by the shape: a hand-built info with a huge shape fails below, unallocated.
    std::vector<float> out(t.size_bytes() / (static_cast<uint64_t>(safetensors_dtype_bits(t.dtype)) / 8));
    RETURN_IF_ERROR(safetensors_to_f32(t, out));
    return out;
}

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
    ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::open(path));
    auto shared = std::make_shared<MappedFile>(std::move(mapped));
    Result<SafetensorsFile> parsed = parse(shared->data(), shared->size(), path);
    if (!parsed.ok()) return parsed.status();
    parsed->file_ = std::move(shared);
    return parsed;
}

Result<SafetensorsFile> SafetensorsFile::parse(const uint8_t* data, size_t size, const std::string& name) {
    SafetensorsFile f;
    f.path_ = name;
    f.size_ = size;
    auto fail = [&](const Status& s) { return s.with_context(name); };

    if (size < 8) return fail(Status::errorf("file is {} bytes, too short for the 8-byte header length", size));
    uint64_t header_bytes = 0;
    std::memcpy(&header_bytes, data, 8);  // little-endian, as every target frugal builds for
    if (header_bytes > kMaxHeaderBytes) {
        return fail(Status::errorf("header length {} exceeds the {}-byte limit (corrupt, or not a safetensors file)",
                                   header_bytes, kMaxHeaderBytes));
    }
    if (header_bytes > size - 8) {
        return fail(Status::errorf("header length {} runs past end of file ({} bytes follow the length field)",
                                   header_bytes, size - 8));
    }
    if (header_bytes == 0 || data[8] != '{') {
        return fail(Status::error("header does not start with '{' (not a safetensors file?)"));
    }
    f.data_offset_ = 8 + header_bytes;
    const uint64_t data_bytes = size - f.data_offset_;

    json header;
    const char* text = reinterpret_cast<const char*>(data + 8);
    if (Status s = parse_strict_json(std::string_view(text, header_bytes), kMaxJsonDepth, &header, "tensor name"); !s.ok()) return fail(s.with_context("header"));
    if (!header.is_object()) return fail(Status::errorf("header must be a JSON object, got {}", header.type_name()));

    // nlohmann objects iterate in key order, so tensors_ comes out sorted by name.
    for (const auto& [key, entry] : header.items()) {
        if (key == "__metadata__") {
            if (Status s = parse_metadata(entry, &f.metadata_); !s.ok()) return fail(s);
            continue;
        }
        SafetensorsTensorInfo t;
        if (Status s = parse_tensor(key, entry, &t); !s.ok()) return fail(s);
        if (t.data_end > data_bytes) {
            return fail(Status::errorf(
                "tensor '{}' data_offsets [{}, {}] extend past end of file: the data section is {} bytes (file {} "
                "bytes, data from byte {})",
                t.name, t.data_begin, t.data_end, data_bytes, size, f.data_offset_));
        }
        t.data = data + f.data_offset_ + t.data_begin;
        f.tensor_index_.emplace(t.name, f.tensors_.size());
        f.tensors_.push_back(std::move(t));
    }
    return f;
}

const std::string* SafetensorsFile::find_metadata(std::string_view key) const {
    for (const auto& [k, v] : metadata_) {
        if (k == key) return &v;
    }
    return nullptr;
}

const SafetensorsTensorInfo* SafetensorsFile::find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(std::string(name));
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Status SafetensorsModel::add_shard(SafetensorsFile shard) {
    const size_t shard_id = shards_.size();
    for (size_t i = 0; i < shard.tensors().size(); ++i) {
        const std::string& name = shard.tensors()[i].name;
        auto [it, inserted] = index_.emplace(name, std::make_pair(shard_id, i));
        if (!inserted) {
            return Status::errorf("tensor '{}' is in both '{}' and '{}'", name, shards_[it->second.first].path(),
                                  shard.path());
        }
        names_.push_back(name);
    }
    shards_.push_back(std::move(shard));
    return ok_status();
}

Result<SafetensorsModel> SafetensorsModel::open(const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    fs::path index_path;
    fs::path single_path = path;
    if (fs::is_directory(path, ec)) {
        index_path = fs::path(path) / "model.safetensors.index.json";
        single_path = fs::path(path) / "model.safetensors";
        if (!fs::exists(index_path, ec)) {
            index_path.clear();
            if (!fs::exists(single_path, ec)) {
                return Status::errorf("'{}' holds neither model.safetensors.index.json nor model.safetensors", path);
            }
        }
    } else if (path.ends_with(".index.json")) {
        index_path = path;
    }

    SafetensorsModel model;
    if (index_path.empty()) {
        ASSIGN_OR_RETURN(SafetensorsFile file, SafetensorsFile::open(single_path.string()));
        RETURN_IF_ERROR(model.add_shard(std::move(file)));
        return model;
    }

    const std::string index_name = index_path.string();
    auto fail = [&](const Status& s) { return s.with_context(index_name); };
    ASSIGN_OR_RETURN(MappedFile index_file, MappedFile::open(index_name));
    if (index_file.size() > kMaxIndexBytes) {
        return fail(Status::errorf("index is {} bytes, over the {}-byte limit", index_file.size(), kMaxIndexBytes));
    }
    json index;
    const char* text = reinterpret_cast<const char*>(index_file.data());
    if (Status s = parse_strict_json(std::string_view(text, index_file.size()), kMaxJsonDepth, &index); !s.ok()) return fail(s);
    if (!index.is_object()) return fail(Status::errorf("index must be a JSON object, got {}", index.type_name()));
    const auto map_it = index.find("weight_map");
    if (map_it == index.end() || !map_it->is_object()) {
        return fail(Status::error("index has no 'weight_map' object (tensor name -> shard file name)"));
    }
    std::set<std::string> shard_names;  // sorted, each opened once
    for (const auto& [tensor, shard] : map_it->items()) {
        if (!shard.is_string()) {
            return fail(Status::errorf("weight_map entry '{}' must be a shard file name, got {}", tensor,
                                       shard.type_name()));
        }
        if (Status s = check_shard_name(tensor, shard.get<std::string>()); !s.ok()) return fail(s);
        shard_names.insert(shard.get<std::string>());
    }
    if (shard_names.empty()) return fail(Status::error("weight_map lists no tensors"));

    const fs::path dir = index_path.parent_path();
    std::unordered_map<std::string, size_t> shard_ids;
    for (const std::string& shard_name : shard_names) {
        ASSIGN_OR_RETURN(SafetensorsFile shard, SafetensorsFile::open((dir / shard_name).string()));
        shard_ids.emplace(shard_name, model.shards_.size());
        RETURN_IF_ERROR(model.add_shard(std::move(shard)));
    }
    for (const auto& [tensor, shard] : map_it->items()) {
        const SafetensorsFile& file = model.shards_[shard_ids.at(shard.get<std::string>())];
        if (file.find_tensor(tensor) == nullptr) {
            return fail(Status::errorf("weight_map puts tensor '{}' in '{}', which has no such tensor", tensor,
                                       file.path()));
        }
    }
    std::sort(model.names_.begin(), model.names_.end());
    return model;
}

const SafetensorsTensorInfo* SafetensorsModel::find_tensor(std::string_view name) const {
    auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &shards_[it->second.first].tensors()[it->second.second];
}

}  // namespace frugal
