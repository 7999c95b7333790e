// The mixed-precision assignment behind `frugal quantize --mix auto --target-bpw B`: measures each weight matrix's
// sensitivity (the KL divergence its quantization alone adds to the model's next-token distributions on calibration
// text, at each candidate type) and then spends a bits-per-weight budget greedily where it buys the largest drop in
// KL per bit. Sensitivities are treated as additive for the search; the result is then measured as a whole against
// the uniform assignments within the budget, and the best of them is kept.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "engine/model_source.h"

namespace frugal {

struct MixOptions {
    double target_bpw = 5.0;   // over the quantized matrices
    int64_t chunk_size = 256;  // tokens per measured chunk
    int64_t chunks = 8;
    int64_t positions_per_chunk = 64;  // scored positions (second half of each chunk), to bound memory
    int num_threads = 1;
    std::function<void(size_t done, size_t total, const std::string& tensor)> progress;
};

struct TensorSensitivity {
    std::string name;
    int64_t num_elements = 0;
    std::vector<DType> candidates;
    std::vector<double> kl;  // per candidate
    DType chosen = DType::kF32;
};

struct MixResult {
    std::map<std::string, DType> types;
    double bpw = 0;          // achieved, over the quantized matrices
    double measured_kl = 0;  // of the whole assignment, on the calibration text (round-to-nearest)
    std::vector<TensorSensitivity> tensors;
};

Result<MixResult> search_mix(const ModelSource& source, const std::string& text, const MixOptions& options);

}  // namespace frugal
