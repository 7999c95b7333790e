#include "format/gguf/gguf_writer.h"

#include <cstdio>
#include <algorithm>
#include <cstring>
#include <memory>

namespace frugal {
namespace {

class Encoder {
public:
    // resize + memcpy rather than vector::insert, which trips a GCC 12 -Wstringop-overflow false positive.
    template <typename T>
    void pod(T v) {
        const size_t at = bytes.size();
        bytes.resize(at + sizeof(T));
        std::memcpy(bytes.data() + at, &v, sizeof(T));
    }
    void str(std::string_view s) {
        pod<uint64_t>(s.size());
        const size_t at = bytes.size();
        bytes.resize(at + s.size());
        if (!s.empty()) std::memcpy(bytes.data() + at, s.data(), s.size());
    }
    void type(GgufType t) { pod<uint32_t>(static_cast<uint32_t>(t)); }
    std::vector<uint8_t> bytes;
};

// The alignment a general.alignment value asks for, or 0 when it is not a positive integer (emit() rejects 0).
uint32_t decode_alignment(const std::vector<uint8_t>& encoded) {
    if (encoded.size() < 5) return 0;
    uint32_t type = 0;
    std::memcpy(&type, encoded.data(), 4);
    uint64_t value = 0;
    const size_t payload = encoded.size() - 4;
    switch (static_cast<GgufType>(type)) {
        case GgufType::kUint8:
        case GgufType::kUint16:
        case GgufType::kUint32:
        case GgufType::kUint64:
        case GgufType::kInt8:
        case GgufType::kInt16:
        case GgufType::kInt32:
        case GgufType::kInt64:
            std::memcpy(&value, encoded.data() + 4, std::min<size_t>(payload, 8));
            if ((type == 1 || type == 3 || type == 5 || type == 11) && (value >> (payload * 8 - 1)) & 1) return 0;
            return value > 0 && value <= (1u << 20) ? static_cast<uint32_t>(value) : 0;
        default: return 0;
    }
}

}  // namespace

void GgufWriter::put(const std::string& key, std::vector<uint8_t> encoded) {
    if (key == "general.alignment") alignment_ = decode_alignment(encoded);
    for (Entry& e : entries_) {
        if (e.key == key) {
            e.encoded = std::move(encoded);
            return;
        }
    }
    entries_.push_back({key, std::move(encoded)});
}

void GgufWriter::set_uint32(const std::string& key, uint32_t v) {
    Encoder e;
    e.type(GgufType::kUint32);
    e.pod(v);
    put(key, std::move(e.bytes));
}
void GgufWriter::set_int32(const std::string& key, int32_t v) {
    Encoder e;
    e.type(GgufType::kInt32);
    e.pod(v);
    put(key, std::move(e.bytes));
}
void GgufWriter::set_uint64(const std::string& key, uint64_t v) {
    Encoder e;
    e.type(GgufType::kUint64);
    e.pod(v);
    put(key, std::move(e.bytes));
}
void GgufWriter::set_float32(const std::string& key, float v) {
    Encoder e;
    e.type(GgufType::kFloat32);
    e.pod(v);
    put(key, std::move(e.bytes));
}
void GgufWriter::set_bool(const std::string& key, bool v) {
    Encoder e;
    e.type(GgufType::kBool);
    e.pod<uint8_t>(v ? 1 : 0);
    put(key, std::move(e.bytes));
}
void GgufWriter::set_string(const std::string& key, const std::string& v) {
    Encoder e;
    e.type(GgufType::kString);
    e.str(v);
    put(key, std::move(e.bytes));
}
void GgufWriter::set_string_array(const std::string& key, const std::vector<std::string>& v) {
    Encoder e;
    e.type(GgufType::kArray);
    e.type(GgufType::kString);
    e.pod<uint64_t>(v.size());
    for (const std::string& s : v) e.str(s);
    put(key, std::move(e.bytes));
}
void GgufWriter::set_float32_array(const std::string& key, const std::vector<float>& v) {
    Encoder e;
    e.type(GgufType::kArray);
    e.type(GgufType::kFloat32);
    e.pod<uint64_t>(v.size());
    for (float x : v) e.pod(x);
    put(key, std::move(e.bytes));
}
void GgufWriter::set_int32_array(const std::string& key, const std::vector<int32_t>& v) {
    Encoder e;
    e.type(GgufType::kArray);
    e.type(GgufType::kInt32);
    e.pod<uint64_t>(v.size());
    for (int32_t x : v) e.pod(x);
    put(key, std::move(e.bytes));
}

void GgufWriter::copy_value(const std::string& key, const GgufValue& v) {
    Encoder e;
    e.type(v.type);
    auto scalar = [&](GgufType t, int64_t i, double f) {
        switch (t) {
            case GgufType::kUint8:
            case GgufType::kBool: e.pod<uint8_t>(static_cast<uint8_t>(i)); break;
            case GgufType::kInt8: e.pod<int8_t>(static_cast<int8_t>(i)); break;
            case GgufType::kUint16: e.pod<uint16_t>(static_cast<uint16_t>(i)); break;
            case GgufType::kInt16: e.pod<int16_t>(static_cast<int16_t>(i)); break;
            case GgufType::kUint32: e.pod<uint32_t>(static_cast<uint32_t>(i)); break;
            case GgufType::kInt32: e.pod<int32_t>(static_cast<int32_t>(i)); break;
            case GgufType::kUint64: e.pod<uint64_t>(static_cast<uint64_t>(i)); break;
            case GgufType::kInt64: e.pod<int64_t>(i); break;
            case GgufType::kFloat32: e.pod<float>(static_cast<float>(f)); break;
            case GgufType::kFloat64: e.pod<double>(f); break;
            default: break;
        }
    };
    if (v.type == GgufType::kString) {
        e.str(v.string_value);
    } else if (v.type == GgufType::kArray) {
        e.type(v.array_type);
        e.pod<uint64_t>(v.array_count);
        if (v.array_type == GgufType::kString) {
            for (std::string_view s : v.array_strings) e.str(s);
        } else if (v.array_type == GgufType::kUint64) {
            for (uint64_t i = 0; i < v.array_count; ++i) e.pod<uint64_t>(static_cast<uint64_t>(v.array_int(i)));
        } else {
            for (uint64_t i = 0; i < v.array_count; ++i) scalar(v.array_type, v.array_int(i), v.array_float(i));
        }
    } else if (v.type == GgufType::kUint64) {
        e.pod<uint64_t>(v.uint_value);
    } else {
        scalar(v.type, v.int_value, v.float_value);
    }
    put(key, std::move(e.bytes));
}

Status GgufWriter::check_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                                size_t size) const {
    const DTypeLayout layout = dtype_layout(dtype);
    if (layout.block_size == 0) return Status::errorf("tensor '{}': type {} cannot be stored", name, dtype_name(dtype));
    if (shape.empty() || shape.size() > 4) return Status::errorf("tensor '{}': {} dimensions", name, shape.size());
    if (shape[0] % layout.block_size != 0) {
        return Status::errorf("tensor '{}': row length {} is not a multiple of {}'s block size {}", name, shape[0],
                              dtype_name(dtype), layout.block_size);
    }
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    const auto expected = static_cast<size_t>(n / layout.block_size * layout.block_bytes);
    if (size != expected) return Status::errorf("tensor '{}': got {} bytes, expected {}", name, size, expected);
    for (const Tensor& t : tensors_) {
        if (t.name == name) return Status::errorf("duplicate tensor name '{}'", name);
    }
    return ok_status();
}

Status GgufWriter::add_tensor(const std::string& name, DType dtype, std::vector<int64_t> shape,
                              std::span<const uint8_t> data) {
    RETURN_IF_ERROR(check_tensor(name, dtype, shape, data.size()));
    Tensor& t = tensors_.emplace_back(Tensor{name, dtype, std::move(shape), std::vector<uint8_t>(data.begin(), data.end()), {}});
    t.bytes = t.owned;
    return ok_status();
}

Status GgufWriter::add_tensor_view(const std::string& name, DType dtype, std::vector<int64_t> shape,
                                   std::span<const uint8_t> data) {
    RETURN_IF_ERROR(check_tensor(name, dtype, shape, data.size()));
    tensors_.push_back(Tensor{name, dtype, std::move(shape), {}, data});
    return ok_status();
}

bool GgufWriter::emit(const std::function<bool(const void*, size_t)>& sink) const {
    if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0) return false;
    Encoder header;
    header.pod<uint32_t>(0x46554747);
    header.pod<uint32_t>(3);
    header.pod<uint64_t>(tensors_.size());
    header.pod<uint64_t>(entries_.size());
    for (const Entry& e : entries_) {
        header.str(e.key);
        header.bytes.insert(header.bytes.end(), e.encoded.begin(), e.encoded.end());
    }
    uint64_t offset = 0;
    for (const Tensor& t : tensors_) {
        header.str(t.name);
        header.pod<uint32_t>(static_cast<uint32_t>(t.shape.size()));
        for (int64_t d : t.shape) header.pod<int64_t>(d);
        header.pod<uint32_t>(static_cast<uint32_t>(t.dtype));
        header.pod<uint64_t>(offset);
        offset += (t.bytes.size() + alignment_ - 1) / alignment_ * alignment_;
    }
    static const std::vector<uint8_t> kZeros(1 << 20, 0);
    auto pad_to = [&](uint64_t written) {
        const uint64_t pad = (alignment_ - written % alignment_) % alignment_;
        return pad == 0 || sink(kZeros.data(), pad);
    };
    if (!sink(header.bytes.data(), header.bytes.size()) || !pad_to(header.bytes.size())) return false;
    for (const Tensor& t : tensors_) {
        if (!sink(t.bytes.data(), t.bytes.size()) || !pad_to(t.bytes.size())) return false;
    }
    return true;
}

Status GgufWriter::write(const std::string& path) const {
    if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0) {
        return Status::error("general.alignment must be a power of two up to 1 MiB");
    }
    std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "wb"), &std::fclose);
    if (!file) return Status::errorf("cannot open '{}' for writing: {}", path, std::strerror(errno));
    const bool ok = emit([&](const void* p, size_t n) { return std::fwrite(p, 1, n, file.get()) == n; });
    if (!ok || std::fflush(file.get()) != 0) return Status::errorf("error writing '{}': {}", path, std::strerror(errno));
    return ok_status();
}

std::vector<uint8_t> GgufWriter::to_bytes() const {
    std::vector<uint8_t> out;
    emit([&](const void* p, size_t n) {
        const auto* b = static_cast<const uint8_t*>(p);
        out.insert(out.end(), b, b + n);
        return true;
    });
    return out;
}

}  // namespace frugal
