#include "quant/calibrate/awq.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "quant/quant_traits.h"

namespace frugal {
namespace {

struct Group {
    std::string predecessor;  // norm vector or linear whose output rows are the group's input channels
    std::vector<std::string> consumers;
};

// The foldable groups of a llama-family GGUF (llama.cpp's tensor names).
std::vector<Group> find_groups(const GgufFile& f) {
    std::vector<Group> groups;
    for (int64_t l = 0;; ++l) {
        const std::string p = fmt::format("blk.{}.", l);
        if (f.find_tensor(p + "attn_norm.weight") == nullptr && f.find_tensor(p + "ffn_norm.weight") == nullptr) break;
        auto add = [&](const std::string& pred, std::vector<std::string> consumers) {
            if (f.find_tensor(pred) == nullptr) return;
            std::vector<std::string> present;
            for (std::string& c : consumers) {
                if (f.find_tensor(c) != nullptr && f.find_tensor(c)->shape.size() == 2) present.push_back(std::move(c));
            }
            if (!present.empty()) groups.push_back({pred, std::move(present)});
        };
        add(p + "attn_norm.weight", {p + "attn_q.weight", p + "attn_k.weight", p + "attn_v.weight"});
        add(p + "ffn_norm.weight", {p + "ffn_gate.weight", p + "ffn_up.weight"});
        // up's output rows are down's input channels (through the GLU product, which is linear in up).
        const GgufTensorInfo* up = f.find_tensor(p + "ffn_up.weight");
        const GgufTensorInfo* down = f.find_tensor(p + "ffn_down.weight");
        if (up && down && up->shape.size() == 2 && down->shape.size() == 2 && up->shape[1] == down->shape[0]) {
            groups.push_back({p + "ffn_up.weight", {p + "ffn_down.weight"}});
        }
    }
    return groups;
}

std::vector<float> dequantize(const GgufTensorInfo& t) {
    const int64_t n = t.shape[0];
    std::vector<float> w(static_cast<size_t>(t.num_elements()));
    const auto rb = static_cast<size_t>(dtype_row_bytes(t.dtype, n));
    for (int64_t r = 0; r < t.rows(); ++r) quant_traits(t.dtype).dequantize_row(t.data + r * rb, w.data() + r * n, n);
    return w;
}

}  // namespace

Result<AwqScales> awq_search(const GgufFile& file, const ActivationStats& stats,
                             const std::function<DType(const GgufTensorInfo&)>& type_of, ThreadPool* pool) {
    AwqScales out;
    for (const Group& g : find_groups(file)) {
        const WeightInputStats* s0 = stats.find(g.consumers[0]);
        const GgufTensorInfo* pred = file.find_tensor(g.predecessor);
        if (s0 == nullptr || pred == nullptr || !has_quant_traits(pred->dtype)) continue;
        const int64_t in = s0->in_dim;
        // The norm must be a plain vector of the channel count; a linear predecessor must have `in` rows.
        if ((pred->shape.size() == 1 && pred->shape[0] != in) || (pred->shape.size() == 2 && pred->shape[1] != in)) {
            continue;
        }
        std::vector<double> magnitude(static_cast<size_t>(in));
        for (int64_t j = 0; j < in; ++j) {
            magnitude[static_cast<size_t>(j)] =
                std::sqrt(s0->sum_sq[static_cast<size_t>(j)] / static_cast<double>(std::max<int64_t>(s0->count, 1)));
        }
        struct Consumer {
            const GgufTensorInfo* info;
            DType type;
            std::vector<float> w;
            const WeightInputStats* stats;
            std::vector<int64_t> rows;  // rows the search measures
        };
        std::vector<Consumer> consumers;
        for (const std::string& name : g.consumers) {
            const GgufTensorInfo* t = file.find_tensor(name);
            const WeightInputStats* st = stats.find(name);
            const DType type = type_of(*t);
            if (st == nullptr || st->in_dim != in || t->shape[0] != in || !has_quant_traits(t->dtype) ||
                !quant_traits(type).quantize_row || !dtype_is_quantized(type)) {
                continue;
            }
            Consumer c{t, type, dequantize(*t), st, {}};
            const int64_t rows = t->rows();
            const int64_t step = std::max<int64_t>(1, rows / 128);
            for (int64_t r = 0; r < rows; r += step) c.rows.push_back(r);
            consumers.push_back(std::move(c));
        }
        if (consumers.size() != g.consumers.size()) continue;  // fold only when every consumer can be scaled
        double best_err = std::numeric_limits<double>::infinity();
        std::vector<float> best_s(static_cast<size_t>(in), 1.0f);
        float best_alpha = 0;
        for (int step = 0; step < 20; ++step) {
            const double alpha = 0.05 * step;
            std::vector<float> s(static_cast<size_t>(in));
            double lo = std::numeric_limits<double>::infinity(), hi = 0;
            for (int64_t j = 0; j < in; ++j) {
                const double v = std::max(std::pow(std::max(magnitude[static_cast<size_t>(j)], 1e-8), alpha), 1e-4);
                s[static_cast<size_t>(j)] = static_cast<float>(v);
                lo = std::min(lo, v);
                hi = std::max(hi, v);
            }
            const double norm = std::sqrt(lo * hi);
            for (float& v : s) v = static_cast<float>(v / norm);
            double err = 0;
            for (const Consumer& c : consumers) {
                const auto rb = static_cast<size_t>(dtype_row_bytes(c.type, in));
                std::vector<double> row_err(c.rows.size(), 0.0);
                pool->parallel_for(static_cast<int64_t>(c.rows.size()), [&](int64_t b, int64_t e) {
                    std::vector<float> scaled(static_cast<size_t>(in)), deq(static_cast<size_t>(in));
                    std::vector<uint8_t> q(rb);
                    std::vector<double> d(static_cast<size_t>(in));
                    for (int64_t i = b; i < e; ++i) {
                        const float* w = c.w.data() + c.rows[static_cast<size_t>(i)] * in;
                        for (int64_t j = 0; j < in; ++j) scaled[static_cast<size_t>(j)] = w[j] * s[static_cast<size_t>(j)];
                        quant_traits(c.type).quantize_row(scaled.data(), q.data(), in);
                        quant_traits(c.type).dequantize_row(q.data(), deq.data(), in);
                        for (int64_t j = 0; j < in; ++j) {
                            d[static_cast<size_t>(j)] = w[j] - deq[static_cast<size_t>(j)] / s[static_cast<size_t>(j)];
                        }
                        double e2 = 0;
                        if (!c.stats->hessian.empty()) {
                            for (int64_t j = 0; j < in; ++j) {
                                const double* h = c.stats->hessian.data() + j * in;
                                double acc = 0;
                                for (int64_t k = 0; k < in; ++k) acc += h[k] * d[static_cast<size_t>(k)];
                                e2 += d[static_cast<size_t>(j)] * acc;
                            }
                        } else {
                            for (int64_t j = 0; j < in; ++j) {
                                e2 += c.stats->sum_sq[static_cast<size_t>(j)] * d[static_cast<size_t>(j)] *
                                      d[static_cast<size_t>(j)];
                            }
                        }
                        row_err[static_cast<size_t>(i)] = e2;
                    }
                });
                for (double e : row_err) err += e;
            }
            if (err < best_err) {
                best_err = err;
                best_s = s;
                best_alpha = static_cast<float>(alpha);
            }
        }
        if (best_alpha == 0) continue;  // unscaled is best: nothing to fold
        for (const Consumer& c : consumers) out.column_scale[c.info->name] = best_s;
        out.row_divide[g.predecessor] = best_s;
        out.alpha[g.consumers[0]] = best_alpha;
    }
    return out;
}

}  // namespace frugal
