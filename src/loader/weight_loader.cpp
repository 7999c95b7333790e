#include "loader/weight_loader.h"

#include <fmt/ranges.h>

#include <vector>

namespace frugal {

Result<Tensor> WeightLoader::load(const GgufTensorInfo& info, std::initializer_list<int64_t> shape) {
    std::vector<int64_t> expected(shape);
    std::vector<int64_t> actual = info.shape;
    while (actual.size() > expected.size() && actual.back() == 1) actual.pop_back();
    while (expected.size() > actual.size() && expected.back() == 1) expected.pop_back();
    if (actual != expected) {
        return Status::errorf("tensor '{}' in '{}' has shape [{}], expected [{}]", info.name, file_.path(),
                              fmt::join(info.shape, ", "), fmt::join(shape, ", "));
    }
    Result<Tensor> placed = backend_.place_weight(info.name, info.dtype, shape, info.data);
    if (!placed.ok()) return placed.status().with_context(file_.path());
    bytes_loaded_ += info.size_bytes;
    return placed;
}

Result<Tensor> WeightLoader::require(const std::string& name, std::initializer_list<int64_t> shape) {
    const GgufTensorInfo* info = file_.find_tensor(name);
    if (info == nullptr) return Status::errorf("tensor '{}' is missing from '{}'", name, file_.path());
    return load(*info, shape);
}

Result<Tensor> WeightLoader::optional(const std::string& name, std::initializer_list<int64_t> shape) {
    const GgufTensorInfo* info = file_.find_tensor(name);
    if (info == nullptr) return Tensor();
    return load(*info, shape);
}

Result<Tensor> WeightLoader::require_f32(const std::string& name, int64_t size) {
    const GgufTensorInfo* info = file_.find_tensor(name);
    if (info == nullptr) return Status::errorf("tensor '{}' is missing from '{}'", name, file_.path());
    if (info->dtype != DType::kF32) {
        return Status::errorf("tensor '{}' in '{}' has type {}, expected F32", name, file_.path(),
                              dtype_name(info->dtype));
    }
    return load(*info, {size});
}

Result<Tensor> WeightLoader::optional_f32(const std::string& name, int64_t size) {
    if (file_.find_tensor(name) == nullptr) return Tensor();
    return require_f32(name, size);
}

}  // namespace frugal
