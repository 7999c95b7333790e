// Tensor: a non-owning view of contiguous data on some backend. shape[0] is the contiguous dimension
// (GGML order), so a matrix of `rows` rows of `cols` elements has shape {cols, rows}.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "core/check.h"
#include "core/dtype.h"

namespace frugal {

struct Tensor {
    void* data = nullptr;
    DType dtype = DType::kF32;
    std::array<int64_t, 4> shape = {0, 1, 1, 1};

    Tensor() = default;
    Tensor(void* d, DType t, std::initializer_list<int64_t> dims) : data(d), dtype(t) {
        CHECK(dims.size() >= 1 && dims.size() <= 4) << "tensor rank " << dims.size();
        int i = 0;
        for (int64_t v : dims) shape[i++] = v;
    }

    int64_t num_elements() const { return shape[0] * shape[1] * shape[2] * shape[3]; }
    int64_t cols() const { return shape[0]; }
    int64_t rows() const { return shape[1] * shape[2] * shape[3]; }
    int64_t row_bytes() const { return dtype_row_bytes(dtype, shape[0]); }
    int64_t size_bytes() const { return row_bytes() * rows(); }

    template <typename T>
    T* as() const {
        return static_cast<T*>(data);
    }
    // Row r (over the flattened outer dimensions), as raw bytes.
    uint8_t* row(int64_t r) const { return static_cast<uint8_t*>(data) + r * row_bytes(); }
    // The same memory seen with another shape of the same element count.
    Tensor reshaped(std::initializer_list<int64_t> dims) const {
        Tensor t(data, dtype, dims);
        CHECK_EQ(t.num_elements(), num_elements());
        return t;
    }
    // Rows [begin, begin + count) of the flattened outer dimensions, as a 2-D view.
    Tensor rows_view(int64_t begin, int64_t count) const {
        return Tensor(row(begin), dtype, {shape[0], count});
    }
};

}  // namespace frugal
