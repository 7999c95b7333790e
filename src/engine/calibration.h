// Runs a model over calibration text on the CPU and records, for every weight matrix, statistics of the inputs it
// multiplies (quant/calibrate/activation_stats.h): what the importance-weighted and GPTQ quantizers need.
#pragma once

#include <functional>
#include <string>

#include "core/status.h"
#include "engine/model_source.h"
#include "quant/calibrate/activation_stats.h"

namespace frugal {

struct CalibrationOptions {
    int64_t chunk_size = 512;  // tokens per forward pass (each chunk starts with BOS when the model adds one)
    int64_t max_chunks = -1;   // -1: as many as the text fills
    bool hessians = false;     // also the full x x^T per weight (GPTQ); in_dim^2 doubles per weight
    int num_threads = 1;
    std::function<void(int64_t chunk, int64_t num_chunks)> progress;
};

Result<ActivationStats> collect_activation_stats(const ModelSource& source, const std::string& text,
                                                 const CalibrationOptions& options);

}  // namespace frugal
