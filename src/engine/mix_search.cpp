#include "engine/mix_search.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "engine/engine.h"
#include "quant/model_quantizer.h"
#include "quant/quant_traits.h"
#include "sampling/log_probs.h"
#include "tokenizer/tokenizer.h"

namespace frugal {
namespace {

double bits_per_weight(DType t, int64_t n) {
    return 8.0 * static_cast<double>(dtype_row_bytes(t, n)) / static_cast<double>(n);
}

}  // namespace

Result<MixResult> search_mix(const ModelSource& source, const std::string& text, const MixOptions& options) {
    std::map<std::string, Tensor> placed;
    CpuBackendOptions bo;
    bo.num_threads = options.num_threads;
    bo.on_place_weight = [&placed](const std::string& name, const Tensor& t) { placed[name] = t; };
    EngineOptions eo;
    eo.num_threads = options.num_threads;
    eo.context_length = options.chunk_size;
    eo.max_batch_tokens = options.chunk_size;
    eo.kv_dtype = DType::kF32;
    ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, Engine::create(source, std::make_unique<CpuBackend>(bo), eo));
    const Tokenizer* tok = engine->tokenizer();
    if (tok == nullptr) return Status::error("--mix auto needs a model with a tokenizer");
    const int64_t n_ctx = engine->context_length();
    const int64_t vocab = engine->config().vocab_size;
    const bool add_bos = tok->vocab().add_bos && tok->vocab().bos_id >= 0;
    const std::vector<int32_t> tokens = tok->encode(text, add_bos, false);
    const int64_t num_chunks = std::min<int64_t>(options.chunks, static_cast<int64_t>(tokens.size()) / n_ctx);
    if (num_chunks <= 0) return Status::errorf("the calibration text has fewer than {} tokens", n_ctx);
    std::vector<std::vector<int32_t>> chunks;
    for (int64_t c = 0; c < num_chunks; ++c) {
        chunks.emplace_back(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx);
        if (add_bos) chunks.back()[0] = tok->vocab().bos_id;
    }
    std::vector<int64_t> positions;
    const int64_t first = n_ctx / 2;
    const int64_t step = std::max<int64_t>(1, (n_ctx - first) / std::max<int64_t>(options.positions_per_chunk, 1));
    for (int64_t p = first; p < n_ctx; p += step) positions.push_back(p);
    // Base log-probabilities at the scored positions.
    std::vector<std::vector<float>> base;
    std::vector<float> lp;
    for (const auto& chunk : chunks) {
        ASSIGN_OR_RETURN(std::vector<float> logits, engine->evaluate(chunk));
        for (int64_t p : positions) {
            log_softmax(logits.data() + p * vocab, vocab, lp);
            base.push_back(lp);
        }
    }
    auto mean_kl = [&]() -> Result<double> {
        double total = 0;
        size_t k = 0;
        for (const auto& chunk : chunks) {
            ASSIGN_OR_RETURN(std::vector<float> logits, engine->evaluate(chunk));
            for (int64_t p : positions) {
                log_softmax(logits.data() + p * vocab, vocab, lp);
                total += kl_divergence(base[k++], lp);
            }
        }
        return total / static_cast<double>(k);
    };

    MixResult result;
    const GgufFile& file = source.gguf();
    std::map<std::string, std::vector<uint8_t>> originals;  // the placed bytes, to restore after each trial
    // Writes tensor t's weights as quantized to c (and back to the placed type) into the placed copy.
    auto perturb = [&](const GgufTensorInfo& t, DType c) {
        const Tensor& w = placed.at(t.name);
        const std::vector<uint8_t>& original = originals.at(t.name);
        const int64_t n = t.shape[0];
        const auto src_row = static_cast<size_t>(dtype_row_bytes(t.dtype, n));
        std::vector<float> row(static_cast<size_t>(n));
        std::vector<uint8_t> q(static_cast<size_t>(dtype_row_bytes(c, n)));
        for (int64_t r = 0; r < t.rows(); ++r) {
            uint8_t* dst = static_cast<uint8_t*>(w.data) + static_cast<size_t>(r) * src_row;
            quant_traits(t.dtype).dequantize_row(original.data() + static_cast<size_t>(r) * src_row, row.data(), n);
            quant_traits(c).quantize_row(row.data(), q.data(), n);
            quant_traits(c).dequantize_row(q.data(), row.data(), n);
            quant_traits(t.dtype).quantize_row(row.data(), dst, n);
        }
    };
    auto restore = [&](const GgufTensorInfo& t) {
        std::memcpy(placed.at(t.name).data, originals.at(t.name).data(), originals.at(t.name).size());
    };
    const bool has_output = file.find_tensor("output.weight") != nullptr;
    auto measured = [&](const GgufTensorInfo& t) {
        return placed.count(t.name) != 0 && choose_quant_type(t, has_output, DType::kQ4_K, true) != t.dtype;
    };
    size_t total = 0;
    for (const GgufTensorInfo& t : file.tensors()) total += measured(t) ? 1 : 0;
    size_t done = 0;
    for (const GgufTensorInfo& t : file.tensors()) {
        if (!measured(t)) continue;
        const Tensor& w = placed.at(t.name);
        const int64_t n = t.shape[0];
        TensorSensitivity s;
        s.name = t.name;
        s.num_elements = t.num_elements();
        const std::vector<DType> k_types = {DType::kQ4_K, DType::kQ5_K, DType::kQ6_K, DType::kQ8_0};
        const std::vector<DType> legacy = {DType::kQ4_0, DType::kQ5_0, DType::kQ8_0};
        for (DType c : n % 256 == 0 ? k_types : legacy) {
            if (n % dtype_layout(c).block_size == 0) s.candidates.push_back(c);
        }
        if (s.candidates.empty()) continue;
        const auto bytes = static_cast<size_t>(w.size_bytes());
        originals[t.name].assign(static_cast<const uint8_t*>(w.data), static_cast<const uint8_t*>(w.data) + bytes);
        for (DType c : s.candidates) {
            perturb(t, c);
            ASSIGN_OR_RETURN(double kl, mean_kl());
            s.kl.push_back(std::max(kl, 0.0));
        }
        restore(t);
        s.chosen = s.candidates.front();
        result.tensors.push_back(std::move(s));
        if (options.progress) options.progress(++done, total, t.name);
    }
    // Greedy: the upgrade with the largest KL drop per added bit, while the budget allows.
    double weights = 0, bits = 0;
    std::vector<size_t> level(result.tensors.size(), 0);
    for (const TensorSensitivity& s : result.tensors) {
        weights += static_cast<double>(s.num_elements);
        bits += static_cast<double>(s.num_elements) *
                bits_per_weight(s.candidates[0], dtype_layout(s.candidates[0]).block_size);
    }
    const double budget = options.target_bpw * weights;
    while (true) {
        double best_ratio = 0;
        size_t best_t = 0, best_level = 0;
        for (size_t i = 0; i < result.tensors.size(); ++i) {
            const TensorSensitivity& s = result.tensors[i];
            const double cur_bits = bits_per_weight(s.candidates[level[i]], dtype_layout(s.candidates[level[i]]).block_size);
            for (size_t l = level[i] + 1; l < s.candidates.size(); ++l) {
                const double add = (bits_per_weight(s.candidates[l], dtype_layout(s.candidates[l]).block_size) - cur_bits) *
                                   static_cast<double>(s.num_elements);
                const double gain = s.kl[level[i]] - s.kl[l];
                if (add <= 0 || bits + add > budget || gain <= 0) continue;
                if (gain / add > best_ratio) {
                    best_ratio = gain / add;
                    best_t = i;
                    best_level = l;
                }
            }
        }
        if (best_ratio <= 0) break;
        TensorSensitivity& s = result.tensors[best_t];
        bits += (bits_per_weight(s.candidates[best_level], dtype_layout(s.candidates[best_level]).block_size) -
                 bits_per_weight(s.candidates[level[best_t]], dtype_layout(s.candidates[level[best_t]]).block_size)) *
                static_cast<double>(s.num_elements);
        level[best_t] = best_level;
    }
    // Sensitivities do not add exactly: measure the whole assignment, and the uniform ones that fit the budget, and
    // keep the best on the calibration text.
    auto bits_of = [&](const std::vector<size_t>& lv) {
        double b = 0;
        for (size_t i = 0; i < result.tensors.size(); ++i) {
            const DType c = result.tensors[i].candidates[lv[i]];
            b += static_cast<double>(result.tensors[i].num_elements) * bits_per_weight(c, dtype_layout(c).block_size);
        }
        return b;
    };
    auto measure = [&](const std::vector<size_t>& lv) -> Result<double> {
        for (size_t i = 0; i < result.tensors.size(); ++i) {
            perturb(*file.find_tensor(result.tensors[i].name), result.tensors[i].candidates[lv[i]]);
        }
        Result<double> kl = mean_kl();
        for (const TensorSensitivity& s : result.tensors) restore(*file.find_tensor(s.name));
        return kl;
    };
    ASSIGN_OR_RETURN(double best_kl, measure(level));
    size_t max_levels = 0;
    for (const TensorSensitivity& s : result.tensors) max_levels = std::max(max_levels, s.candidates.size());
    // Uniform levels, plain and with the embedding/output projection at the top level (llama.cpp's presets).
    for (size_t u = 0; u < max_levels; ++u) {
        for (const bool top_output : {false, true}) {
            std::vector<size_t> uniform(result.tensors.size());
            for (size_t i = 0; i < uniform.size(); ++i) {
                const size_t top = result.tensors[i].candidates.size() - 1;
                const std::string& name = result.tensors[i].name;
                const bool output = name == "output.weight" || (!has_output && name == "token_embd.weight");
                uniform[i] = top_output && output ? top : std::min(u, top);
            }
            if (bits_of(uniform) > budget || uniform == level) continue;
            ASSIGN_OR_RETURN(double kl, measure(uniform));
            if (kl < best_kl) {
                best_kl = kl;
                level = uniform;
            }
        }
    }
    result.measured_kl = best_kl;
    for (size_t i = 0; i < result.tensors.size(); ++i) {
        TensorSensitivity& s = result.tensors[i];
        s.chosen = s.candidates[level[i]];
        result.types[s.name] = s.chosen;
    }
    result.bpw = weights > 0 ? bits_of(level) / weights : 0;
    return result;
}

}  // namespace frugal
