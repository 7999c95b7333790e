// Sampling parameters, with llama.cpp's defaults and meanings.
#pragma once

#include <cstdint>

namespace frugal {

struct SamplingParams {
    float temperature = 0.8f;      // <= 0: greedy (argmax after penalties)
    int top_k = 40;                // <= 0: off
    float top_p = 0.95f;           // >= 1: off
    float min_p = 0.05f;           // <= 0: off; keeps tokens with p >= min_p * p_max
    float repeat_penalty = 1.0f;   // 1: off; divides positive / multiplies negative logits of seen tokens
    int repeat_last_n = 64;        // tokens of history the penalties look at (0: off, -1: all)
    float presence_penalty = 0.0f;   // subtracted once from the logit of every seen token
    float frequency_penalty = 0.0f;  // subtracted per occurrence
    uint64_t seed = 0xFFFFFFFF;      // llama.cpp's LLAMA_DEFAULT_SEED means "random"; callers resolve it
};

}  // namespace frugal
