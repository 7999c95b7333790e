// Weighted quantizers: for one row x and a weight per element w, choose the block parameters (scales, mins, the
// K-quants' quantized sub-block scales) and the integers that make sum_i w_i (x_i - deq_i)^2 small, and write
// standard GGUF blocks (the reference dequantizers decode them). With w = the importance of each input column
// (mean squared activation), the weighted error approximates the change of the layer's outputs, which is what
// `frugal quantize --method imatrix` minimises; GPTQ uses the same search for its fixed per-block grid.
//
// Round-to-nearest derives each block's scale from its own values (max |x|), so it ignores w entirely; these
// quantizers search the scale instead: for each block they re-round the integers at the inverse scales around the
// max-based one (every distinct rounding in a window for x ~ d * q; 41 candidates for x ~ d * q + m) and refit scale
// (and min) by weighted least squares at each, keeping the best.
#pragma once

#include <cstdint>

#include "core/dtype.h"

namespace frugal {

// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K.
bool supports_weighted_quant(DType type);

// Writes dtype_row_bytes(type, n) bytes for x[0..n) to out. weights[0..n) >= 0; n is a multiple of the block size.
// No block is worse than round-to-nearest under the weighted error: each block is checked against the reference
// quantizer's block (both decoded by the reference dequantizer) and the better one is kept.
void quantize_row_weighted(DType type, const float* x, const float* weights, int64_t n, uint8_t* out);

}  // namespace frugal
