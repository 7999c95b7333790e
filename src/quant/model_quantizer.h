// Quantizes every weight matrix of a GGUF model to a standard GGUF block type, writing a GGUF that frugal and
// llama.cpp load: round-to-nearest (the reference), an importance-weighted scale search from calibration activations
// (llama.cpp's imatrix idea), or GPTQ from calibration Hessians. Norms, biases, routers and other vectors keep their
// type. The output projection gets Q6_K under 4/5-bit K-quant targets (as llama.cpp does unless --pure); rows whose
// length the target's block does not divide fall back to a type whose block does.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "format/gguf/gguf_file.h"
#include "format/gguf/gguf_writer.h"
#include "quant/calibrate/activation_stats.h"
#include "quant/calibrate/awq.h"
#include "quant/calibrate/gptq.h"

namespace frugal {

enum class QuantMethod { kRtn, kImatrix, kGptq, kAwq };

struct TensorQuantReport {
    std::string name;
    std::vector<int64_t> shape;
    DType from = DType::kF32;
    DType to = DType::kF32;
    std::string method;        // what was applied: "rtn", "imatrix", "gptq", "awq" (scaled, then rtn), "copy"
    double rel_rms_error = 0;  // sqrt(sum (w - q)^2 / sum w^2)
    double rel_weighted_error = -1;  // the same weighted by the input's mean square per column (-1: no statistics)
    int64_t bytes = 0;
    double seconds = 0;
};

struct ModelQuantizeOptions {
    DType type = DType::kQ4_K;
    QuantMethod method = QuantMethod::kRtn;
    bool pure = false;                      // every matrix gets `type` (no output-projection rule)
    std::map<std::string, DType> type_overrides;  // per-tensor types (--mix), taking precedence over `type`
    const ActivationStats* stats = nullptr;  // required by kImatrix, kGptq and kAwq
    GptqOptions gptq;
    ThreadPool* pool = nullptr;
    // Called after each tensor (index counts from 1).
    std::function<void(const TensorQuantReport&, size_t index, size_t total)> progress;
};

// The type a tensor gets for the requested target (the tensor's own type when it is not quantized).
DType choose_quant_type(const GgufTensorInfo& tensor, bool has_output_tensor, DType target, bool pure);
// llama.cpp's general.file_type for a target type.
uint32_t llama_file_type(DType target);

// Adds in's metadata (general.file_type updated) and every tensor, quantized, to out.
Result<std::vector<TensorQuantReport>> quantize_model(const GgufFile& in, const ModelQuantizeOptions& options,
                                                      GgufWriter* out);

}  // namespace frugal
