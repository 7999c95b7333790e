// Places named tensors of a GGUF file on a backend, validating each tensor's presence, shape and type against
// what the model expects, with errors that name the tensor and the file.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>

#include "backend/backend.h"
#include "core/status.h"
#include "format/gguf/gguf_file.h"

namespace frugal {

class WeightLoader {
public:
    WeightLoader(const GgufFile& file, Backend& backend) : file_(file), backend_(backend) {}

    // Loads `name` and checks its shape (GGML order, shape[0] contiguous). Missing tensors are an error.
    Result<Tensor> require(const std::string& name, std::initializer_list<int64_t> shape);
    // As require(), but a missing tensor yields an empty Tensor (data == nullptr) instead of an error.
    Result<Tensor> optional(const std::string& name, std::initializer_list<int64_t> shape);
    // Loads a norm or bias vector, which must be F32 (as every GGUF converter stores them).
    Result<Tensor> require_f32(const std::string& name, int64_t size);
    Result<Tensor> optional_f32(const std::string& name, int64_t size);

    bool has(const std::string& name) const { return file_.find_tensor(name) != nullptr; }
    uint64_t bytes_loaded() const { return bytes_loaded_; }
    // Bytes of a tensor as stored in the file (0 if absent): the unit bytes_loaded() counts in, whatever layout the
    // backend placed it in.
    uint64_t file_bytes(const std::string& name) const {
        const GgufTensorInfo* info = file_.find_tensor(name);
        return info ? info->size_bytes : 0;
    }

private:
    Result<Tensor> load(const GgufTensorInfo& info, std::initializer_list<int64_t> shape);

    const GgufFile& file_;
    Backend& backend_;
    uint64_t bytes_loaded_ = 0;
};

}  // namespace frugal
