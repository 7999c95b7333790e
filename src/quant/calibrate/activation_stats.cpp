#include "quant/calibrate/activation_stats.h"

#include <cstring>
#include <span>

#include "format/gguf/gguf_file.h"
#include "format/gguf/gguf_writer.h"

namespace frugal {

void WeightInputStats::add(const float* x, int64_t n, bool with_hessian) {
    if (sum_sq.empty()) sum_sq.assign(static_cast<size_t>(in_dim), 0.0);
    if (with_hessian && hessian.empty()) hessian.assign(static_cast<size_t>(in_dim * in_dim), 0.0);
    for (int64_t t = 0; t < n; ++t) {
        const float* row = x + t * in_dim;
        for (int64_t i = 0; i < in_dim; ++i) sum_sq[static_cast<size_t>(i)] += static_cast<double>(row[i]) * row[i];
    }
    if (with_hessian) {
        // Upper triangle, token by token (rank-1 updates), mirrored at the end of each call.
        std::vector<double> xd(static_cast<size_t>(in_dim));
        for (int64_t t = 0; t < n; ++t) {
            const float* row = x + t * in_dim;
            for (int64_t i = 0; i < in_dim; ++i) xd[static_cast<size_t>(i)] = row[i];
            for (int64_t i = 0; i < in_dim; ++i) {
                const double xi = xd[static_cast<size_t>(i)];
                if (xi == 0) continue;
                double* h = hessian.data() + i * in_dim;
                for (int64_t j = i; j < in_dim; ++j) h[j] += xi * xd[static_cast<size_t>(j)];
            }
        }
        for (int64_t i = 0; i < in_dim; ++i) {
            for (int64_t j = 0; j < i; ++j) {
                hessian[static_cast<size_t>(i * in_dim + j)] = hessian[static_cast<size_t>(j * in_dim + i)];
            }
        }
    }
    count += n;
}

Status ActivationStats::save(const std::string& path) const {
    GgufWriter w;
    w.set_string("general.type", "imatrix");
    w.set_string_array("imatrix.datasets", datasets);
    w.set_uint32("imatrix.chunk_count", static_cast<uint32_t>(chunk_count));
    w.set_uint32("imatrix.chunk_size", static_cast<uint32_t>(chunk_size));
    for (const auto& [name, s] : weights) {
        std::vector<float> sums(s.sum_sq.begin(), s.sum_sq.end());
        const float count = static_cast<float>(s.count);
        RETURN_IF_ERROR(w.add_tensor(name + ".in_sum2", DType::kF32, {s.in_dim, 1},
                                     std::span(reinterpret_cast<const uint8_t*>(sums.data()), sums.size() * 4)));
        RETURN_IF_ERROR(w.add_tensor(name + ".counts", DType::kF32, {1, 1},
                                     std::span(reinterpret_cast<const uint8_t*>(&count), 4)));
        if (!s.hessian.empty()) {
            std::vector<float> h(s.hessian.begin(), s.hessian.end());
            RETURN_IF_ERROR(w.add_tensor(name + ".hessian", DType::kF32, {s.in_dim, s.in_dim},
                                         std::span(reinterpret_cast<const uint8_t*>(h.data()), h.size() * 4)));
        }
    }
    return w.write(path);
}

Result<ActivationStats> ActivationStats::load(const std::string& path) {
    ASSIGN_OR_RETURN(GgufFile f, GgufFile::open(path));
    if (f.get_string_or("general.type", "") != "imatrix") {
        return Status::errorf("'{}' is not an activation-statistics (imatrix) GGUF", path);
    }
    ActivationStats stats;
    stats.chunk_count = f.get_int_or("imatrix.chunk_count", 0);
    stats.chunk_size = f.get_int_or("imatrix.chunk_size", 0);
    if (const GgufValue* d = f.find("imatrix.datasets")) {
        for (std::string_view s : d->array_strings) stats.datasets.emplace_back(s);
    }
    auto floats = [&](const GgufTensorInfo& t) {
        std::vector<double> out(static_cast<size_t>(t.num_elements()));
        for (size_t i = 0; i < out.size(); ++i) {
            float v;
            std::memcpy(&v, t.data + 4 * i, 4);
            out[i] = v;
        }
        return out;
    };
    for (const GgufTensorInfo& t : f.tensors()) {
        if (t.dtype != DType::kF32) return Status::errorf("'{}': tensor '{}' is not F32", path, t.name);
        const size_t dot = t.name.rfind('.');
        if (dot == std::string::npos) continue;
        const std::string weight = t.name.substr(0, dot);
        const std::string part = t.name.substr(dot + 1);
        WeightInputStats& s = stats.weights[weight];
        if (part == "in_sum2") {
            s.in_dim = t.shape[0];
            s.sum_sq = floats(t);
        } else if (part == "counts") {
            s.count = t.num_elements() ? static_cast<int64_t>(floats(t)[0]) : 0;
        } else if (part == "hessian") {
            s.hessian = floats(t);
        }
    }
    for (const auto& [name, s] : stats.weights) {
        if (static_cast<int64_t>(s.sum_sq.size()) != s.in_dim || s.in_dim <= 0 ||
            (!s.hessian.empty() && static_cast<int64_t>(s.hessian.size()) != s.in_dim * s.in_dim)) {
            return Status::errorf("'{}': statistics of '{}' are inconsistent", path, name);
        }
    }
    return stats;
}

}  // namespace frugal
