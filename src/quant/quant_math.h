// Small numeric helpers shared by the reference quantizers and the SIMD kernels, so both agree bit for bit.
#pragma once

#include <cstdint>
#include <cstring>

namespace frugal {

// Round to nearest, ties to even, exactly as ggml's nearest_int (valid for |x| <= 2^22): adding 1.5 * 2^23 puts the
// integer part in the low mantissa bits.
inline int nearest_int(float x) {
    const float v = x + 12582912.0f;
    int32_t i;
    std::memcpy(&i, &v, sizeof(i));
    return (i & 0x007fffff) - 0x00400000;
}

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K / Q5_K super-block, from the 12 packed scale bytes:
// sub-blocks 0..3 keep their low 6 bits in bytes j and j+4; 4..7 keep their low 4 bits in byte j+4 and their top
// 2 bits in the spare top bits of bytes j-4 and j.
inline void k_scale_min(int j, const uint8_t* q, uint8_t* scale, uint8_t* min) {
    if (j < 4) {
        *scale = q[j] & 63;
        *min = q[j + 4] & 63;
    } else {
        *scale = (q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4);
        *min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

// Inverse of k_scale_min for all eight sub-blocks at once; scales and mins must be < 64.
inline void k_pack_scale_min(const uint8_t* scales, const uint8_t* mins, uint8_t* q) {
    std::memset(q, 0, 12);
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            q[j] = scales[j];
            q[j + 4] = mins[j];
        } else {
            q[j + 4] = (scales[j] & 0xf) | ((mins[j] & 0xf) << 4);
            q[j - 4] |= (scales[j] >> 4) << 6;
            q[j] |= (mins[j] >> 4) << 6;
        }
    }
}

}  // namespace frugal
