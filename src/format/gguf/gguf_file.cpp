#include "format/gguf/gguf_file.h"

#include <cmath>
#include <cstring>
#include <limits>

namespace frugal {
namespace {

constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint64_t kMaxStringBytes = 1ull << 30;
constexpr int kMaxDims = 4;

// Bounds-checked little-endian cursor over the file. Every read checks the remaining size first.
class Cursor {
public:
    Cursor(const uint8_t* data, uint64_t size) : data_(data), size_(size) {}
    uint64_t pos() const { return pos_; }
    uint64_t remaining() const { return size_ - pos_; }

    template <typename T>
    Status read(T* out, const char* what) {
        if (remaining() < sizeof(T)) {
            return Status::errorf("truncated file: need {} bytes for {} at offset {}, file is {} bytes", sizeof(T),
                                  what, pos_, size_);
        }
        std::memcpy(out, data_ + pos_, sizeof(T));
        pos_ += sizeof(T);
        return ok_status();
    }

    Status read_string(std::string_view* out, const char* what) {
        uint64_t len = 0;
        RETURN_IF_ERROR(read(&len, what));
        if (len > kMaxStringBytes || len > remaining()) {
            return Status::errorf("{} at offset {} has length {} but only {} bytes remain", what, pos_ - 8, len,
                                  remaining());
        }
        *out = std::string_view(reinterpret_cast<const char*>(data_ + pos_), len);
        pos_ += len;
        return ok_status();
    }

    Status skip(uint64_t bytes, const char* what) {
        if (bytes > remaining()) {
            return Status::errorf("truncated file: {} needs {} bytes at offset {}, only {} remain", what, bytes, pos_,
                                  remaining());
        }
        pos_ += bytes;
        return ok_status();
    }

    const uint8_t* here() const { return data_ + pos_; }

private:
    const uint8_t* data_;
    uint64_t size_;
    uint64_t pos_ = 0;
};

int scalar_size(GgufType t) {
    switch (t) {
        case GgufType::kUint8:
        case GgufType::kInt8:
        case GgufType::kBool: return 1;
        case GgufType::kUint16:
        case GgufType::kInt16: return 2;
        case GgufType::kUint32:
        case GgufType::kInt32:
        case GgufType::kFloat32: return 4;
        case GgufType::kUint64:
        case GgufType::kInt64:
        case GgufType::kFloat64: return 8;
        default: return 0;
    }
}

// float -> int64 without undefined behaviour: NaN becomes 0, out-of-range values clamp.
int64_t saturate_to_int(double v) {
    if (std::isnan(v)) return 0;
    if (v >= 9.2233720368547748e18) return std::numeric_limits<int64_t>::max();
    if (v <= -9.2233720368547758e18) return std::numeric_limits<int64_t>::min();
    return static_cast<int64_t>(v);
}

bool valid_type(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::kFloat64); }

template <typename T>
T load(const uint8_t* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

Status read_scalar(Cursor& cur, GgufType type, GgufValue* v) {
    const uint8_t* p = cur.here();
    const int size = scalar_size(type);
    RETURN_IF_ERROR(cur.skip(size, "metadata value"));
    switch (type) {
        case GgufType::kUint8: v->int_value = load<uint8_t>(p); break;
        case GgufType::kInt8: v->int_value = load<int8_t>(p); break;
        case GgufType::kBool: {
            const uint8_t b = load<uint8_t>(p);
            if (b > 1) return Status::errorf("bool value {} at offset {} is neither 0 nor 1", b, cur.pos() - 1);
            v->int_value = b;
            break;
        }
        case GgufType::kUint16: v->int_value = load<uint16_t>(p); break;
        case GgufType::kInt16: v->int_value = load<int16_t>(p); break;
        case GgufType::kUint32: v->int_value = load<uint32_t>(p); break;
        case GgufType::kInt32: v->int_value = load<int32_t>(p); break;
        case GgufType::kUint64:
            v->uint_value = load<uint64_t>(p);
            v->int_value = static_cast<int64_t>(std::min<uint64_t>(v->uint_value, std::numeric_limits<int64_t>::max()));
            break;
        case GgufType::kInt64: v->int_value = load<int64_t>(p); break;
        case GgufType::kFloat32: v->float_value = load<float>(p); break;
        case GgufType::kFloat64: v->float_value = load<double>(p); break;
        default: return Status::errorf("internal: not a scalar type {}", static_cast<uint32_t>(type));
    }
    return ok_status();
}

Status read_value(Cursor& cur, GgufType type, GgufValue* v) {
    v->type = type;
    if (type == GgufType::kString) return cur.read_string(&v->string_value, "string value");
    if (type != GgufType::kArray) return read_scalar(cur, type, v);

    uint32_t elem_type = 0;
    RETURN_IF_ERROR(cur.read(&elem_type, "array element type"));
    if (!valid_type(elem_type)) return Status::errorf("array element type {} is not a GGUF type", elem_type);
    v->array_type = static_cast<GgufType>(elem_type);
    RETURN_IF_ERROR(cur.read(&v->array_count, "array length"));
    if (v->array_type == GgufType::kArray) return Status::error("nested metadata arrays are not supported");
    if (v->array_type == GgufType::kString) {
        // Each string takes at least its 8-byte length, which bounds the count before we reserve memory.
        if (v->array_count > cur.remaining() / 8) {
            return Status::errorf("string array of {} elements cannot fit in the {} bytes that remain",
                                  v->array_count, cur.remaining());
        }
        v->array_strings.resize(v->array_count);
        for (uint64_t i = 0; i < v->array_count; ++i) {
            RETURN_IF_ERROR(cur.read_string(&v->array_strings[i], "array string"));
        }
        return ok_status();
    }
    const uint64_t elem = scalar_size(v->array_type);
    if (v->array_count > cur.remaining() / elem) {
        return Status::errorf("array of {} {} elements cannot fit in the {} bytes that remain", v->array_count,
                              gguf_type_name(v->array_type), cur.remaining());
    }
    v->array_data = cur.here();
    return cur.skip(v->array_count * elem, "array data");
}

}  // namespace

std::string_view gguf_type_name(GgufType t) {
    static constexpr std::string_view kNames[] = {"uint8", "int8",   "uint16", "int16", "uint32", "int32", "float32",
                                                  "bool",  "string", "array",  "uint64", "int64", "float64"};
    const auto i = static_cast<uint32_t>(t);
    return i < std::size(kNames) ? kNames[i] : "invalid";
}

bool GgufValue::is_integer() const {
    switch (type) {
        case GgufType::kUint8:
        case GgufType::kInt8:
        case GgufType::kUint16:
        case GgufType::kInt16:
        case GgufType::kUint32:
        case GgufType::kInt32:
        case GgufType::kUint64:
        case GgufType::kInt64:
        case GgufType::kBool: return true;
        default: return false;
    }
}

double GgufValue::array_float(uint64_t i) const {
    const uint8_t* p = array_data + i * scalar_size(array_type);
    switch (array_type) {
        case GgufType::kFloat32: return load<float>(p);
        case GgufType::kFloat64: return load<double>(p);
        default: return static_cast<double>(array_int(i));
    }
}

int64_t GgufValue::array_int(uint64_t i) const {
    const uint8_t* p = array_data + i * scalar_size(array_type);
    switch (array_type) {
        case GgufType::kUint8:
        case GgufType::kBool: return load<uint8_t>(p);
        case GgufType::kInt8: return load<int8_t>(p);
        case GgufType::kUint16: return load<uint16_t>(p);
        case GgufType::kInt16: return load<int16_t>(p);
        case GgufType::kUint32: return load<uint32_t>(p);
        case GgufType::kInt32: return load<int32_t>(p);
        case GgufType::kUint64: return static_cast<int64_t>(load<uint64_t>(p));
        case GgufType::kInt64: return load<int64_t>(p);
        case GgufType::kFloat32: return saturate_to_int(load<float>(p));
        case GgufType::kFloat64: return saturate_to_int(load<double>(p));
        default: return 0;
    }
}

int64_t GgufTensorInfo::rows() const {
    int64_t n = 1;
    for (size_t d = 1; d < shape.size(); ++d) n *= shape[d];
    return n;
}

int64_t GgufTensorInfo::num_elements() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

Result<GgufFile> GgufFile::open(const std::string& path) {
    ASSIGN_OR_RETURN(MappedFile mapped, MappedFile::open(path));
    auto shared = std::make_shared<MappedFile>(std::move(mapped));
    Result<GgufFile> parsed = parse(shared->data(), shared->size(), path);
    if (!parsed.ok()) return parsed.status();
    parsed->file_ = std::move(shared);
    return parsed;
}

Result<GgufFile> GgufFile::parse(const uint8_t* data, size_t size, const std::string& name) {
    GgufFile f;
    f.path_ = name;
    f.size_ = size;
    Cursor cur(data, size);
    auto fail = [&](const Status& s) { return s.with_context(fmt::format("GGUF '{}'", name)); };

    uint32_t magic = 0;
    if (Status s = cur.read(&magic, "magic"); !s.ok()) return fail(s);
    if (magic != kGgufMagic) return fail(Status::error("not a GGUF file (bad magic)"));
    if (Status s = cur.read(&f.version_, "version"); !s.ok()) return fail(s);
    if (f.version_ != 2 && f.version_ != 3) {
        return fail(Status::errorf("unsupported GGUF version {} (frugal reads versions 2 and 3)", f.version_));
    }
    uint64_t num_tensors = 0;
    uint64_t num_kv = 0;
    if (Status s = cur.read(&num_tensors, "tensor count"); !s.ok()) return fail(s);
    if (Status s = cur.read(&num_kv, "metadata count"); !s.ok()) return fail(s);
    // Every key-value takes at least 12 bytes and every tensor info at least 24: bound counts by the file size.
    if (num_kv > cur.remaining() / 12) return fail(Status::errorf("metadata count {} exceeds file size", num_kv));
    if (num_tensors > cur.remaining() / 24) {
        return fail(Status::errorf("tensor count {} exceeds file size", num_tensors));
    }

    f.metadata_.reserve(num_kv);
    for (uint64_t i = 0; i < num_kv; ++i) {
        std::string_view key;
        if (Status s = cur.read_string(&key, "metadata key"); !s.ok()) return fail(s);
        uint32_t type = 0;
        if (Status s = cur.read(&type, "metadata type"); !s.ok()) return fail(s);
        if (!valid_type(type)) {
            return fail(Status::errorf("metadata key '{}' has invalid type {}", key, type));
        }
        GgufValue value;
        if (Status s = read_value(cur, static_cast<GgufType>(type), &value); !s.ok()) {
            return fail(s.with_context(fmt::format("metadata key '{}'", key)));
        }
        std::string key_str(key);
        if (f.metadata_index_.count(key_str) != 0) return fail(Status::errorf("duplicate metadata key '{}'", key));
        f.metadata_index_.emplace(key_str, f.metadata_.size());
        f.metadata_.emplace_back(std::move(key_str), std::move(value));
    }

    if (const GgufValue* a = f.find("general.alignment")) {
        if (!a->is_integer() || a->int_value <= 0 || a->int_value > (1 << 20) || (a->int_value & (a->int_value - 1))) {
            return fail(Status::errorf("general.alignment must be a power of two up to 1 MiB, got {}", a->int_value));
        }
        f.alignment_ = static_cast<uint32_t>(a->int_value);
    }

    f.tensors_.reserve(num_tensors);
    for (uint64_t i = 0; i < num_tensors; ++i) {
        GgufTensorInfo t;
        std::string_view tname;
        if (Status s = cur.read_string(&tname, "tensor name"); !s.ok()) return fail(s);
        t.name = std::string(tname);
        uint32_t num_dims = 0;
        if (Status s = cur.read(&num_dims, "tensor dimension count"); !s.ok()) return fail(s);
        if (num_dims == 0 || num_dims > kMaxDims) {
            return fail(Status::errorf("tensor '{}' has {} dimensions (1 to {} supported)", t.name, num_dims, kMaxDims));
        }
        int64_t num_elements = 1;
        for (uint32_t d = 0; d < num_dims; ++d) {
            int64_t dim = 0;
            if (Status s = cur.read(&dim, "tensor dimension"); !s.ok()) return fail(s);
            if (dim < 0 || (dim > 0 && num_elements > std::numeric_limits<int64_t>::max() / 8 / dim)) {
                return fail(Status::errorf("tensor '{}' has invalid dimension {}", t.name, dim));
            }
            num_elements *= dim;
            t.shape.push_back(dim);
        }
        uint32_t type = 0;
        if (Status s = cur.read(&type, "tensor type"); !s.ok()) return fail(s);
        if (Status s = cur.read(&t.offset, "tensor offset"); !s.ok()) return fail(s);
        t.dtype = static_cast<DType>(type);
        const DTypeLayout layout = dtype_layout(t.dtype);
        if (type >= static_cast<uint32_t>(kNumDTypeIds) || layout.block_size == 0 || t.dtype == DType::kQ8_1) {
            return fail(Status::errorf("tensor '{}' has unsupported type {} ({})", t.name, type,
                                       dtype_name(t.dtype)));
        }
        if (t.shape[0] % layout.block_size != 0) {
            return fail(Status::errorf("tensor '{}' of type {} has row length {}, not a multiple of the block size {}",
                                       t.name, dtype_name(t.dtype), t.shape[0], layout.block_size));
        }
        t.size_bytes = static_cast<uint64_t>(num_elements / layout.block_size) * layout.block_bytes;
        if (t.offset % f.alignment_ != 0) {
            return fail(Status::errorf("tensor '{}' offset {} is not a multiple of the alignment {}", t.name,
                                       t.offset, f.alignment_));
        }
        if (f.tensor_index_.count(t.name) != 0) return fail(Status::errorf("duplicate tensor name '{}'", t.name));
        f.tensor_index_.emplace(t.name, f.tensors_.size());
        f.tensors_.push_back(std::move(t));
    }

    f.data_offset_ = (cur.pos() + f.alignment_ - 1) / f.alignment_ * f.alignment_;
    for (GgufTensorInfo& t : f.tensors_) {
        const uint64_t begin = f.data_offset_ + t.offset;
        if (t.offset > size || begin > size || t.size_bytes > size - begin) {
            return fail(Status::errorf("tensor '{}' extends past end of file: offset {}, size {}, file {} bytes",
                                       t.name, begin, t.size_bytes, size));
        }
        t.data = data + begin;
    }
    return f;
}

const GgufValue* GgufFile::find(std::string_view key) const {
    auto it = metadata_index_.find(std::string(key));
    return it == metadata_index_.end() ? nullptr : &metadata_[it->second].second;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
    auto it = tensor_index_.find(std::string(name));
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

Result<int64_t> GgufFile::get_int(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return Status::errorf("missing metadata key '{}'", key);
    if (!v->is_integer()) {
        return Status::errorf("metadata key '{}' has type {}, expected an integer", key, gguf_type_name(v->type));
    }
    return v->int_value;
}

int64_t GgufFile::get_int_or(std::string_view key, int64_t fallback) const {
    const GgufValue* v = find(key);
    return v != nullptr && v->is_integer() ? v->int_value : fallback;
}

Result<double> GgufFile::get_float(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return Status::errorf("missing metadata key '{}'", key);
    if (v->is_float()) return v->float_value;
    if (v->is_integer()) return static_cast<double>(v->int_value);
    return Status::errorf("metadata key '{}' has type {}, expected a number", key, gguf_type_name(v->type));
}

double GgufFile::get_float_or(std::string_view key, double fallback) const {
    Result<double> r = get_float(key);
    return r.ok() ? r.value() : fallback;
}

Result<std::string> GgufFile::get_string(std::string_view key) const {
    const GgufValue* v = find(key);
    if (v == nullptr) return Status::errorf("missing metadata key '{}'", key);
    if (v->type != GgufType::kString) {
        return Status::errorf("metadata key '{}' has type {}, expected a string", key, gguf_type_name(v->type));
    }
    return std::string(v->string_value);
}

std::string GgufFile::get_string_or(std::string_view key, std::string fallback) const {
    Result<std::string> r = get_string(key);
    return r.ok() ? r.value() : fallback;
}

bool GgufFile::get_bool_or(std::string_view key, bool fallback) const {
    const GgufValue* v = find(key);
    return v != nullptr && v->is_integer() ? v->int_value != 0 : fallback;
}

}  // namespace frugal
