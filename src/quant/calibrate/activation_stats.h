// Statistics of the inputs each weight matrix saw on calibration text: the per-column sum of squares (llama.cpp's
// importance matrix) and, for GPTQ, the full Hessian sum x x^T. Saved as GGUF in llama.cpp's imatrix layout
// (<weight>.in_sum2 and <weight>.counts, general.type = "imatrix") plus <weight>.hessian when collected, so a
// calibration run is made once and reused by several quantizations.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace frugal {

struct WeightInputStats {
    int64_t in_dim = 0;
    int64_t count = 0;            // input rows (tokens) seen
    std::vector<double> sum_sq;   // [in_dim]
    std::vector<double> hessian;  // [in_dim, in_dim] or empty

    // Adds rows x[0..n) of in_dim floats.
    void add(const float* x, int64_t n, bool with_hessian);
};

struct ActivationStats {
    std::map<std::string, WeightInputStats> weights;  // by weight tensor name
    std::vector<std::string> datasets;
    int64_t chunk_count = 0;
    int64_t chunk_size = 0;

    const WeightInputStats* find(const std::string& name) const {
        const auto it = weights.find(name);
        return it == weights.end() ? nullptr : &it->second;
    }
    Status save(const std::string& path) const;
    static Result<ActivationStats> load(const std::string& path);
};

}  // namespace frugal
