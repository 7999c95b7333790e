// GPTQ (Frantar et al., 2022): quantizes a weight matrix column by column, spreading each column's rounding error
// over the columns not yet quantized in proportion to the inverse Hessian of the layer's inputs, so that the
// layer's outputs on the calibration inputs change least. The grid of each row is the format's own (block scales
// fixed before the first column, "static groups": by the importance-weighted scale search on the original row, or
// round-to-nearest), so the result is a standard GGUF block row.
#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "core/thread_pool.h"

namespace frugal {

struct GptqOptions {
    double damp = 0.01;     // added to the diagonal, as a fraction of its mean
    bool act_order = true;  // quantize columns in order of decreasing Hessian diagonal
    // Block parameters of the grid from the weighted scale search (weights = the Hessian diagonal) rather than
    // round-to-nearest of the row.
    bool weighted_grid = true;
};

// w: [rows, cols] row-major (a GGUF tensor: cols = the contiguous input dimension); hessian: [cols, cols], the sum of
// x x^T over calibration inputs x. Writes rows * row_bytes(type, cols) bytes to out. type: a BlockGrid type.
Status gptq_quantize(DType type, const float* w, int64_t rows, int64_t cols, const std::vector<double>& hessian,
                     const GptqOptions& options, uint8_t* out, ThreadPool* pool);

}  // namespace frugal
