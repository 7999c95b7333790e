// A generation request and the per-step outputs the engine reports for it.
#pragma once

#include <cstdint>
#include <vector>

#include "sampling/sampling_params.h"
#include "scheduler/sequence.h"

namespace frugal {

struct Request {
    int64_t request_id = 0;
    std::vector<int32_t> prompt_ids;
    int64_t max_new_tokens = -1;  // -1: until an end-of-generation token or the context is full
    SamplingParams sampling;
    bool ignore_eos = false;               // end-of-generation tokens do not stop it
    std::vector<int32_t> stop_token_ids;   // more tokens that stop it (kStop), on top of end-of-generation ones
    int num_logprobs = -1;  // -1: none; k >= 0: the sampled token's log-probability and the k most likely tokens'
};

struct TokenLogprob {
    int32_t token_id = -1;
    float logprob = 0;  // natural log of the model's probability (softmax of the raw logits, before sampling)
};

struct RequestOutput {
    int64_t request_id = 0;
    int32_t token_id = -1;  // -1 on an output that only reports a finish (a request stopped without a token)
    FinishReason finish_reason = FinishReason::kNone;  // kNone while the request goes on
    float logprob = 0;                       // of token_id, when the request asked for log-probabilities
    std::vector<TokenLogprob> top_logprobs;  // most likely first, num_logprobs of them
};

}  // namespace frugal
