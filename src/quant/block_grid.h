// The quantization grid of one row in a block format, with the block parameters (scales, mins) held fixed: every
// element j can take the values a[j] * q + b[j] for integer q in [q_min, q_max]. Calibrated quantizers (GPTQ, the
// importance-weighted scale search) choose the integers themselves; the grid turns their choice into the format's
// bytes. The affine map is read off the format's own dequantizer, so it is exact by construction.
#pragma once

#include <cstdint>
#include <vector>

#include "core/dtype.h"

namespace frugal {

class BlockGrid {
public:
    // Types with a grid: Q4_0, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K.
    static bool supports(DType type);
    static int64_t block_size(DType type);

    // Quantizes row[0..n), which fixes the block parameters, and derives the grid. n is a multiple of the block
    // size. Without weights: round-to-nearest (the reference quantizer); with weights[0..n): the weighted scale
    // search of quantize_row_weighted, so the parameters suit the columns that matter.
    BlockGrid(DType type, const float* row, int64_t n, const float* weights = nullptr);

    // The nearest grid value to v at element j, and its integer.
    float snap(int64_t j, float v, int* q) const;
    // Sets element j to integer q (clamped to the range).
    void set(int64_t j, int q);
    // The parameters as they are now scaled by factor (d and dmin of every block, in the format's precision), so a
    // row quantized from x * (1 / factor) represents x; used by the scale search. Re-derives the grid.
    void rescale(float factor);
    // Dequantized row.
    void dequantize(float* out) const;

    const std::vector<uint8_t>& bytes() const { return bytes_; }
    int q_min() const { return q_min_; }
    int q_max() const { return q_max_; }
    float a(int64_t j) const { return a_[static_cast<size_t>(j)]; }
    float b(int64_t j) const { return b_[static_cast<size_t>(j)]; }

private:
    void derive();
    int get(int64_t j) const;

    DType type_;
    int64_t n_;
    int q_min_ = 0;
    int q_max_ = 0;
    std::vector<uint8_t> bytes_;
    std::vector<float> a_, b_;
};

}  // namespace frugal
