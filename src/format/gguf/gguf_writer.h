// GGUF v3 writer. Metadata and tensor descriptions are collected in memory; write() streams them to a file,
// followed by each tensor's bytes at the file's alignment. Tensor bytes are copied in at add_tensor() unless
// the caller passes a view that outlives write().
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "format/gguf/gguf_file.h"

namespace frugal {

class GgufWriter {
public:
    GgufWriter() = default;
    // Move-only: owned tensors are referenced by views into their own buffers (moves keep those buffers).
    GgufWriter(GgufWriter&&) = default;
    GgufWriter& operator=(GgufWriter&&) = default;
    GgufWriter(const GgufWriter&) = delete;
    GgufWriter& operator=(const GgufWriter&) = delete;

    void set_uint32(const std::string& key, uint32_t v);
    void set_int32(const std::string& key, int32_t v);
    void set_uint64(const std::string& key, uint64_t v);
    void set_float32(const std::string& key, float v);
    void set_bool(const std::string& key, bool v);
    void set_string(const std::string& key, const std::string& v);
    void set_string_array(const std::string& key, const std::vector<std::string>& v);
    void set_float32_array(const std::string& key, const std::vector<float>& v);
    void set_int32_array(const std::string& key, const std::vector<int32_t>& v);
    // Copies one key from a parsed file, whatever its type.
    void copy_value(const std::string& key, const GgufValue& v);

    // shape in GGML order (shape[0] contiguous). data must hold exactly the tensor's bytes.
    Status add_tensor(const std::string& name, DType dtype, std::vector<int64_t> shape, std::span<const uint8_t> data);
    // As add_tensor(), but keeps a view of data instead of a copy: data must stay valid until the last write() or
    // to_bytes() (converters use it for tensors taken unchanged from a memory-mapped source).
    Status add_tensor_view(const std::string& name, DType dtype, std::vector<int64_t> shape,
                           std::span<const uint8_t> data);
    // Keeps `owner` (the source of views) alive as long as this writer.
    void keep_alive(std::shared_ptr<const void> owner) { keep_alive_.push_back(std::move(owner)); }

    Status write(const std::string& path) const;
    // The whole file as bytes (small models, tests, in-memory conversion); empty if general.alignment is invalid.
    std::vector<uint8_t> to_bytes() const;

private:
    struct Entry {
        std::string key;
        std::vector<uint8_t> encoded;  // type id + payload, as serialized after the key
    };
    struct Tensor {
        std::string name;
        DType dtype;
        std::vector<int64_t> shape;
        std::vector<uint8_t> owned;      // the bytes, unless the tensor was added as a view
        std::span<const uint8_t> bytes;  // what is written: owned, or the caller's view
    };
    Status check_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape, size_t size) const;
    void put(const std::string& key, std::vector<uint8_t> encoded);
    // Streams the file through sink(bytes, size); stops at the first sink failure and returns false.
    bool emit(const std::function<bool(const void*, size_t)>& sink) const;

    std::vector<Entry> entries_;
    std::vector<Tensor> tensors_;
    std::vector<std::shared_ptr<const void>> keep_alive_;
    uint32_t alignment_ = 32;
};

}  // namespace frugal
