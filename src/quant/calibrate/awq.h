// AWQ (Lin et al., 2023): before round-to-nearest, scale up the input channels that carry large activations and
// fold the inverse scale into the operation that produces those inputs (a norm's weight, or the rows of the linear
// feeding the next one), so the product is unchanged in exact arithmetic while the important weights get finer
// quantization. Per group of matrices sharing an input, s = m^alpha (m: RMS of each input channel on calibration
// text) with alpha searched to minimize the groups' output error, measured through the input Hessian when one was
// collected (else its diagonal).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "format/gguf/gguf_file.h"
#include "quant/calibrate/activation_stats.h"

namespace frugal {

struct AwqScales {
    std::map<std::string, std::vector<float>> column_scale;  // consumer matrix: column j multiplied by s[j]
    std::map<std::string, std::vector<float>> row_divide;    // predecessor (norm vector or matrix rows): / s[j]
    std::map<std::string, float> alpha;                      // chosen alpha, by group (its first consumer)
};

// type_of(tensor) gives the type each consumer will be quantized to.
Result<AwqScales> awq_search(const GgufFile& file, const ActivationStats& stats,
                             const std::function<DType(const GgufTensorInfo&)>& type_of, ThreadPool* pool);

}  // namespace frugal
