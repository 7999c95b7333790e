#include "quant/block_grid.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/half.h"
#include "quant/block_formats.h"
#include "quant/quant_math.h"
#include "quant/quant_traits.h"
#include "quant/weighted_quants.h"

namespace frugal {
namespace {

// Where element e of a block keeps its integer: byte offsets inside the block for each layout.
void set_nibble(uint8_t* byte, bool high, int v) {
    *byte = high ? static_cast<uint8_t>((*byte & 0x0f) | ((v & 0xf) << 4)) : static_cast<uint8_t>((*byte & 0xf0) | (v & 0xf));
}
int get_nibble(uint8_t byte, bool high) { return high ? byte >> 4 : byte & 0xf; }

void set_bit(uint8_t* bytes, int bit, int v) {
    if (v) {
        bytes[bit / 8] = static_cast<uint8_t>(bytes[bit / 8] | (1 << (bit % 8)));
    } else {
        bytes[bit / 8] = static_cast<uint8_t>(bytes[bit / 8] & ~(1 << (bit % 8)));
    }
}
int get_bit(const uint8_t* bytes, int bit) { return (bytes[bit / 8] >> (bit % 8)) & 1; }

void set_quant(DType t, uint8_t* block, int e, int q) {
    switch (t) {
        case DType::kQ4_0: {
            auto* b = reinterpret_cast<BlockQ4_0*>(block);
            set_nibble(&b->qs[e % 16], e >= 16, q);
            break;
        }
        case DType::kQ5_0: {
            auto* b = reinterpret_cast<BlockQ5_0*>(block);
            set_nibble(&b->qs[e % 16], e >= 16, q);
            set_bit(b->qh, e, q >> 4);
            break;
        }
        case DType::kQ8_0:
            reinterpret_cast<BlockQ8_0*>(block)->qs[e] = static_cast<int8_t>(q);
            break;
        case DType::kQ4_K: {
            auto* b = reinterpret_cast<BlockQ4_K*>(block);
            set_nibble(&b->qs[32 * (e / 64) + e % 32], (e / 32) % 2 == 1, q);
            break;
        }
        case DType::kQ5_K: {
            auto* b = reinterpret_cast<BlockQ5_K*>(block);
            set_nibble(&b->qs[32 * (e / 64) + e % 32], (e / 32) % 2 == 1, q);
            set_bit(&b->qh[e % 32], e / 32, q >> 4);
            break;
        }
        case DType::kQ6_K: {
            auto* b = reinterpret_cast<BlockQ6_K*>(block);
            const int h = e / 128, k = (e % 128) / 32, l = e % 32;
            set_nibble(&b->ql[64 * h + l + 32 * (k % 2)], k >= 2, q);
            uint8_t& hi = b->qh[32 * h + l];
            hi = static_cast<uint8_t>((hi & ~(3 << (2 * k))) | (((q >> 4) & 3) << (2 * k)));
            break;
        }
        default:
            CHECK(false) << "no block grid for " << dtype_name(t);
    }
}

int get_quant(DType t, const uint8_t* block, int e) {
    switch (t) {
        case DType::kQ4_0:
            return get_nibble(reinterpret_cast<const BlockQ4_0*>(block)->qs[e % 16], e >= 16);
        case DType::kQ5_0: {
            const auto* b = reinterpret_cast<const BlockQ5_0*>(block);
            return get_nibble(b->qs[e % 16], e >= 16) | (get_bit(b->qh, e) << 4);
        }
        case DType::kQ8_0:
            return reinterpret_cast<const BlockQ8_0*>(block)->qs[e];
        case DType::kQ4_K:
            return get_nibble(reinterpret_cast<const BlockQ4_K*>(block)->qs[32 * (e / 64) + e % 32], (e / 32) % 2 == 1);
        case DType::kQ5_K: {
            const auto* b = reinterpret_cast<const BlockQ5_K*>(block);
            return get_nibble(b->qs[32 * (e / 64) + e % 32], (e / 32) % 2 == 1) | (get_bit(&b->qh[e % 32], e / 32) << 4);
        }
        case DType::kQ6_K: {
            const auto* b = reinterpret_cast<const BlockQ6_K*>(block);
            const int h = e / 128, k = (e % 128) / 32, l = e % 32;
            return get_nibble(b->ql[64 * h + l + 32 * (k % 2)], k >= 2) | (((b->qh[32 * h + l] >> (2 * k)) & 3) << 4);
        }
        default:
            CHECK(false) << "no block grid for " << dtype_name(t);
    }
    return 0;
}

void scale_half(uint16_t* h, float factor) { *h = fp32_to_fp16(fp16_to_fp32(*h) * factor); }

}  // namespace

bool BlockGrid::supports(DType t) {
    return t == DType::kQ4_0 || t == DType::kQ5_0 || t == DType::kQ8_0 || t == DType::kQ4_K || t == DType::kQ5_K ||
           t == DType::kQ6_K;
}

int64_t BlockGrid::block_size(DType t) { return dtype_layout(t).block_size; }

BlockGrid::BlockGrid(DType type, const float* row, int64_t n, const float* weights) : type_(type), n_(n) {
    CHECK(supports(type)) << "no block grid for " << dtype_name(type);
    CHECK(n % block_size(type) == 0);
    switch (type) {
        case DType::kQ4_0:
        case DType::kQ4_K:
            q_max_ = 15;
            break;
        case DType::kQ5_0:
        case DType::kQ5_K:
            q_max_ = 31;
            break;
        case DType::kQ6_K:
            q_max_ = 63;
            break;
        default:  // Q8_0
            q_min_ = -127;
            q_max_ = 127;
    }
    bytes_.resize(static_cast<size_t>(dtype_row_bytes(type, n)));
    if (weights != nullptr) {
        quantize_row_weighted(type, row, weights, n, bytes_.data());
    } else {
        quant_traits(type).quantize_row(row, bytes_.data(), n);
    }
    derive();
}

void BlockGrid::derive() {
    const int64_t bs = block_size(type_);
    const size_t block_bytes = static_cast<size_t>(dtype_row_bytes(type_, bs));
    std::vector<uint8_t> probe = bytes_;
    a_.assign(static_cast<size_t>(n_), 0.0f);
    b_.assign(static_cast<size_t>(n_), 0.0f);
    std::vector<float> at0(static_cast<size_t>(n_)), at1(static_cast<size_t>(n_));
    for (int q : {0, 1}) {
        for (int64_t j = 0; j < n_; ++j) {
            set_quant(type_, probe.data() + static_cast<size_t>(j / bs) * block_bytes, static_cast<int>(j % bs), q);
        }
        quant_traits(type_).dequantize_row(probe.data(), q == 0 ? at0.data() : at1.data(), n_);
    }
    for (size_t j = 0; j < static_cast<size_t>(n_); ++j) {
        b_[j] = at0[j];
        a_[j] = at1[j] - at0[j];
    }
}

int BlockGrid::get(int64_t j) const {
    const int64_t bs = block_size(type_);
    const size_t block_bytes = static_cast<size_t>(dtype_row_bytes(type_, bs));
    return get_quant(type_, bytes_.data() + static_cast<size_t>(j / bs) * block_bytes, static_cast<int>(j % bs));
}

float BlockGrid::snap(int64_t j, float v, int* q) const {
    const float a = a_[static_cast<size_t>(j)];
    const float b = b_[static_cast<size_t>(j)];
    int best = 0;
    if (a != 0.0f) best = std::clamp(static_cast<int>(std::lround((v - b) / a)), q_min_, q_max_);
    if (a == 0.0f) best = std::clamp(0, q_min_, q_max_);
    if (q) *q = best;
    return a * static_cast<float>(best) + b;
}

void BlockGrid::set(int64_t j, int q) {
    const int64_t bs = block_size(type_);
    const size_t block_bytes = static_cast<size_t>(dtype_row_bytes(type_, bs));
    set_quant(type_, bytes_.data() + static_cast<size_t>(j / bs) * block_bytes, static_cast<int>(j % bs),
              std::clamp(q, q_min_, q_max_));
}

void BlockGrid::rescale(float factor) {
    const int64_t bs = block_size(type_);
    const size_t block_bytes = static_cast<size_t>(dtype_row_bytes(type_, bs));
    for (size_t off = 0; off < bytes_.size(); off += block_bytes) {
        uint8_t* block = bytes_.data() + off;
        switch (type_) {
            case DType::kQ4_0:
            case DType::kQ5_0:
            case DType::kQ8_0:  // d is the first field of the legacy blocks
                scale_half(reinterpret_cast<uint16_t*>(block), factor);
                break;
            case DType::kQ4_K:
            case DType::kQ5_K: {  // d and dmin lead both
                scale_half(reinterpret_cast<uint16_t*>(block), factor);
                scale_half(reinterpret_cast<uint16_t*>(block) + 1, factor);
                break;
            }
            case DType::kQ6_K:
                scale_half(&reinterpret_cast<BlockQ6_K*>(block)->d, factor);
                break;
            default:
                break;
        }
    }
    derive();
}

void BlockGrid::dequantize(float* out) const { quant_traits(type_).dequantize_row(bytes_.data(), out, n_); }

}  // namespace frugal
