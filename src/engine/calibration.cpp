#include "engine/calibration.h"

#include <algorithm>

#include "backend/cpu/cpu_backend.h"
#include "engine/engine.h"
#include "tokenizer/tokenizer.h"

namespace frugal {

Result<ActivationStats> collect_activation_stats(const ModelSource& source, const std::string& text,
                                                 const CalibrationOptions& options) {
    ActivationStats stats;
    CpuBackendOptions backend_options;
    backend_options.num_threads = options.num_threads;
    backend_options.matmul_observer = [&stats, &options](const std::string& weight, const Tensor& x) {
        WeightInputStats& s = stats.weights[weight];
        s.in_dim = x.cols();
        s.add(static_cast<const float*>(x.data), x.rows(), options.hessians);
    };
    EngineOptions engine_options;
    engine_options.num_threads = options.num_threads;
    engine_options.context_length = options.chunk_size;
    engine_options.max_batch_tokens = options.chunk_size;
    engine_options.kv_dtype = DType::kF32;
    ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine,
                     Engine::create(source, std::make_unique<CpuBackend>(backend_options), engine_options));
    const Tokenizer* tok = engine->tokenizer();
    if (tok == nullptr) return Status::error("calibration needs a model with a tokenizer");
    const int64_t n_ctx = engine->context_length();
    const bool add_bos = tok->vocab().add_bos && tok->vocab().bos_id >= 0;
    const std::vector<int32_t> tokens = tok->encode(text, add_bos, /*parse_special=*/false);
    int64_t num_chunks = static_cast<int64_t>(tokens.size()) / n_ctx;
    if (options.max_chunks > 0) num_chunks = std::min(num_chunks, options.max_chunks);
    if (num_chunks == 0) {
        return Status::errorf("the calibration text has {} tokens, fewer than one chunk of {}", tokens.size(), n_ctx);
    }
    for (int64_t c = 0; c < num_chunks; ++c) {
        std::vector<int32_t> chunk(tokens.begin() + c * n_ctx, tokens.begin() + (c + 1) * n_ctx);
        if (add_bos) chunk[0] = tok->vocab().bos_id;
        ASSIGN_OR_RETURN(std::vector<float> logits, engine->evaluate(chunk));
        if (options.progress) options.progress(c + 1, num_chunks);
    }
    stats.chunk_count = num_chunks;
    stats.chunk_size = n_ctx;
    return stats;
}

}  // namespace frugal
