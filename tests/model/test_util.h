// Helpers shared by the model tests: engine construction on the CPU backend and greedy generation.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "engine/engine.h"
#include "engine/model_source.h"

namespace frugal::testing {

inline std::string shared_path(const std::string& rel) { return std::string(FRUGAL_SHARED_DIR) + "/" + rel; }

struct TestEngine {
    std::unique_ptr<ModelSource> source;
    std::unique_ptr<Engine> engine;
};

inline TestEngine make_engine(const std::string& model, const std::string& tokenizer, DType kv_dtype = DType::kF32,
                              int threads = 2, int64_t batch = 512, CpuIsa isa = detect_cpu_isa(),
                              int64_t context = 1024) {
    TestEngine t;
    Result<std::unique_ptr<ModelSource>> source = ModelSource::open(model, tokenizer);
    EXPECT_TRUE(source.ok()) << source.status().message();
    if (!source.ok()) return t;
    t.source = std::move(source).value();
    CpuBackendOptions bo;
    bo.num_threads = threads;
    bo.detect_isa = false;
    bo.isa = isa;
    EngineOptions eo;
    eo.context_length = context;
    eo.kv_dtype = kv_dtype;
    eo.max_batch_tokens = batch;
    Result<std::unique_ptr<Engine>> engine = Engine::create(*t.source, std::make_unique<CpuBackend>(bo), eo);
    EXPECT_TRUE(engine.ok()) << engine.status().message();
    if (engine.ok()) t.engine = std::move(engine).value();
    return t;
}

// Greedy continuation of prompt for up to max_new tokens (stops early at end-of-generation tokens).
inline std::vector<int32_t> greedy(Engine& engine, const std::vector<int32_t>& prompt, int64_t max_new,
                                   bool ignore_eos = false) {
    Request r;
    r.request_id = 7;
    r.prompt_ids = prompt;
    r.max_new_tokens = max_new;
    r.sampling.temperature = 0;
    r.ignore_eos = ignore_eos;
    EXPECT_TRUE(engine.add_request(r).ok());
    std::vector<int32_t> out;
    while (engine.has_unfinished()) {
        Result<std::vector<RequestOutput>> step = engine.step();
        EXPECT_TRUE(step.ok()) << step.status().message();
        if (!step.ok()) break;
        for (const RequestOutput& o : step.value()) {
            if (o.token_id >= 0) out.push_back(o.token_id);
        }
    }
    return out;
}

}  // namespace frugal::testing
