#include "quant/model_quantizer.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>

#include "quant/block_grid.h"
#include "quant/quant_traits.h"
#include "quant/weighted_quants.h"

namespace frugal {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_quantizable(const GgufTensorInfo& t) {
    if (t.shape.size() < 2 || !ends_with(t.name, ".weight")) return false;
    for (const char* keep : {"norm", "ffn_gate_inp", "rope_freqs", "exp_probs_b", "pos_embd"}) {
        if (t.name.find(keep) != std::string::npos) return false;
    }
    return has_quant_traits(t.dtype);
}

// A type whose block divides n, closest to target (llama.cpp's fallbacks).
DType fit_block(DType target, int64_t n) {
    if (n % dtype_layout(target).block_size == 0) return target;
    DType fallback = DType::kF16;
    if (target == DType::kQ4_K) fallback = DType::kQ5_0;
    if (target == DType::kQ5_K || target == DType::kQ6_K) fallback = DType::kQ8_0;
    return n % dtype_layout(fallback).block_size == 0 ? fallback : DType::kF16;
}

// --method imatrix: each block's parameters searched to minimise the importance-weighted error
// sum_j importance_j (x_j - deq_j)^2, where importance_j is the mean squared activation of input column j, so the
// weighted error is the diagonal part of the change of the layer's outputs on the calibration inputs.
void quantize_row_imatrix(DType type, const float* row, int64_t n, const std::vector<double>& importance,
                          uint8_t* out) {
    std::vector<float> weights(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) weights[static_cast<size_t>(j)] = static_cast<float>(importance[static_cast<size_t>(j)]);
    quantize_row_weighted(type, row, weights.data(), n, out);
}

}  // namespace

DType choose_quant_type(const GgufTensorInfo& tensor, bool has_output_tensor, DType target, bool pure) {
    if (!is_quantizable(tensor)) return tensor.dtype;
    DType type = target;
    const bool is_output = tensor.name == "output.weight" || (!has_output_tensor && tensor.name == "token_embd.weight");
    const bool low_bit_k = target == DType::kQ4_K || target == DType::kQ5_K || target == DType::kQ4_0 ||
                           target == DType::kQ4_1 || target == DType::kQ5_0 || target == DType::kQ5_1;
    if (is_output && !pure && low_bit_k) type = DType::kQ6_K;
    return fit_block(type, tensor.shape[0]);
}

uint32_t llama_file_type(DType target) {
    switch (target) {
        case DType::kF32: return 0;
        case DType::kF16: return 1;
        case DType::kQ4_0: return 2;
        case DType::kQ4_1: return 3;
        case DType::kQ8_0: return 7;
        case DType::kQ5_0: return 8;
        case DType::kQ5_1: return 9;
        case DType::kQ4_K: return 14;  // Q4_K_S
        case DType::kQ5_K: return 16;  // Q5_K_S
        case DType::kQ6_K: return 18;
        case DType::kBF16: return 32;
        default: return 0;
    }
}

Result<std::vector<TensorQuantReport>> quantize_model(const GgufFile& in, const ModelQuantizeOptions& options,
                                                      GgufWriter* out) {
    if (!has_quant_traits(options.type) || !quant_traits(options.type).quantize_row) {
        return Status::errorf("cannot quantize to {}", dtype_name(options.type));
    }
    if (options.method != QuantMethod::kRtn && options.stats == nullptr) {
        return Status::error("the imatrix and gptq methods need calibration statistics (--calib or --imatrix)");
    }
    for (const auto& [key, value] : in.metadata()) {
        if (key != "general.file_type" && key != "general.quantization_version") out->copy_value(key, value);
    }
    out->set_uint32("general.file_type", llama_file_type(options.type));
    out->set_uint32("general.quantization_version", 2);

    const bool has_output = in.find_tensor("output.weight") != nullptr;
    auto type_for = [&](const GgufTensorInfo& t) {
        const auto it = options.type_overrides.find(t.name);
        if (it != options.type_overrides.end() && is_quantizable(t)) return fit_block(it->second, t.shape[0]);
        return choose_quant_type(t, has_output, options.type, options.pure);
    };
    AwqScales awq;
    if (options.method == QuantMethod::kAwq) {
        ASSIGN_OR_RETURN(awq, awq_search(in, *options.stats, type_for, options.pool));
    }
    std::vector<TensorQuantReport> reports;
    const size_t total = in.tensors().size();
    for (const GgufTensorInfo& t : in.tensors()) {
        const auto start = std::chrono::steady_clock::now();
        TensorQuantReport rep;
        rep.name = t.name;
        rep.shape = t.shape;
        rep.from = t.dtype;
        rep.to = type_for(t);
        const auto folded = awq.row_divide.find(t.name);
        if (folded != awq.row_divide.end() && t.shape.size() == 1 && t.dtype == DType::kF32) {
            // A norm that takes AWQ's inverse scale: the next matrices' input channels shrink by s.
            rep.method = "awq";
            std::vector<float> v(static_cast<size_t>(t.shape[0]));
            std::memcpy(v.data(), t.data, v.size() * sizeof(float));
            for (size_t j = 0; j < v.size(); ++j) v[j] /= folded->second[j];
            rep.bytes = static_cast<int64_t>(t.size_bytes);
            RETURN_IF_ERROR(out->add_tensor(t.name, t.dtype, t.shape,
                                            std::span(reinterpret_cast<const uint8_t*>(v.data()), t.size_bytes)));
        } else if (!is_quantizable(t) || (rep.to == t.dtype && options.method == QuantMethod::kRtn)) {
            rep.method = "copy";
            rep.to = t.dtype;
            rep.bytes = static_cast<int64_t>(t.size_bytes);
            RETURN_IF_ERROR(out->add_tensor(t.name, t.dtype, t.shape, std::span(t.data, t.size_bytes)));
        } else {
            const int64_t n = t.shape[0];
            const int64_t rows = t.rows();
            std::vector<float> w(static_cast<size_t>(n * rows));
            const auto src_row_bytes = static_cast<size_t>(dtype_row_bytes(t.dtype, n));
            options.pool->parallel_for(rows, [&](int64_t r0, int64_t r1) {
                for (int64_t r = r0; r < r1; ++r) {
                    quant_traits(t.dtype).dequantize_row(t.data + static_cast<size_t>(r) * src_row_bytes,
                                                         w.data() + r * n, n);
                }
            });
            // AWQ: scale this matrix's input channels up, and/or its output rows down (it feeds a scaled matrix).
            const auto col_scale = awq.column_scale.find(t.name);
            const auto row_scale = folded;
            const bool awq_scaled = col_scale != awq.column_scale.end() || row_scale != awq.row_divide.end();
            if (awq_scaled) {
                for (int64_t r = 0; r < rows; ++r) {
                    float* wr = w.data() + r * n;
                    if (col_scale != awq.column_scale.end()) {
                        for (int64_t j = 0; j < n; ++j) wr[j] *= col_scale->second[static_cast<size_t>(j)];
                    }
                    if (row_scale != awq.row_divide.end()) {
                        for (int64_t j = 0; j < n; ++j) wr[j] /= row_scale->second[static_cast<size_t>(r)];
                    }
                }
            }
            const auto row_bytes = static_cast<size_t>(dtype_row_bytes(rep.to, n));
            std::vector<uint8_t> q(row_bytes * static_cast<size_t>(rows));
            const WeightInputStats* stats = options.stats ? options.stats->find(t.name) : nullptr;
            if (stats && stats->in_dim != n) stats = nullptr;
            const bool grid_type = BlockGrid::supports(rep.to);
            const bool gptq = options.method == QuantMethod::kGptq && grid_type && stats && !stats->hessian.empty() &&
                              t.shape.size() == 2;
            const bool imatrix = options.method == QuantMethod::kImatrix && supports_weighted_quant(rep.to) && stats;
            std::vector<double> importance;
            if (stats) {
                importance.resize(static_cast<size_t>(n));
                double mean = 0;
                for (int64_t j = 0; j < n; ++j) {
                    importance[static_cast<size_t>(j)] =
                        stats->sum_sq[static_cast<size_t>(j)] / static_cast<double>(std::max<int64_t>(stats->count, 1));
                    mean += importance[static_cast<size_t>(j)];
                }
                mean /= static_cast<double>(n);
                for (double& v : importance) v += 1e-6 * mean + 1e-30;  // columns no input reached still count a little
            }
            if (gptq) {
                rep.method = "gptq";
                RETURN_IF_ERROR(gptq_quantize(rep.to, w.data(), rows, n, stats->hessian, options.gptq, q.data(),
                                              options.pool)
                                    .with_context(t.name));
            } else {
                rep.method = imatrix ? "imatrix" : awq_scaled ? "awq" : "rtn";
                options.pool->parallel_for(rows, [&](int64_t r0, int64_t r1) {
                    for (int64_t r = r0; r < r1; ++r) {
                        uint8_t* dst = q.data() + static_cast<size_t>(r) * row_bytes;
                        if (imatrix) {
                            quantize_row_imatrix(rep.to, w.data() + r * n, n, importance, dst);
                        } else {
                            quant_traits(rep.to).quantize_row(w.data() + r * n, dst, n);
                        }
                    }
                });
            }
            // Errors of the matrix as it was quantized (for AWQ: the scaled matrix).
            std::vector<float> deq(static_cast<size_t>(n));
            double err = 0, norm = 0, werr = 0, wnorm = 0;
            for (int64_t r = 0; r < rows; ++r) {
                quant_traits(rep.to).dequantize_row(q.data() + static_cast<size_t>(r) * row_bytes, deq.data(), n);
                for (int64_t j = 0; j < n; ++j) {
                    const double x = w[static_cast<size_t>(r * n + j)];
                    const double d = x - deq[static_cast<size_t>(j)];
                    err += d * d;
                    norm += x * x;
                    if (stats) {
                        werr += importance[static_cast<size_t>(j)] * d * d;
                        wnorm += importance[static_cast<size_t>(j)] * x * x;
                    }
                }
            }
            rep.rel_rms_error = norm > 0 ? std::sqrt(err / norm) : 0;
            if (stats) rep.rel_weighted_error = wnorm > 0 ? std::sqrt(werr / wnorm) : 0;
            rep.bytes = static_cast<int64_t>(q.size());
            RETURN_IF_ERROR(out->add_tensor(t.name, rep.to, t.shape, q));
        }
        rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        reports.push_back(rep);
        if (options.progress) options.progress(reports.back(), reports.size(), total);
    }
    return reports;
}

}  // namespace frugal
