// A generation request and the per-step outputs the engine reports for it.
#pragma once

#include <cstdint>
#include <vector>

#include "sampling/sampling_params.h"

namespace frugal {

struct Request {
    int64_t request_id = 0;
    std::vector<int32_t> prompt_ids;
    int64_t max_new_tokens = -1;  // -1: until an end-of-generation token or the context is full
    SamplingParams sampling;
    bool ignore_eos = false;
};

enum class FinishReason { kNone, kStop, kLength };

struct RequestOutput {
    int64_t request_id = 0;
    int32_t token_id = -1;
    FinishReason finish_reason = FinishReason::kNone;  // kNone while the request goes on
};

}  // namespace frugal
