// stories260K and llama2.c's golden greedy outputs (../shared/models/stories260K), for the CPU and GPU model tests.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "model/test_util.h"

namespace frugal::testing {

inline std::string stories260k_model() { return shared_path("models/stories260K/stories260K.bin"); }
inline std::string stories260k_tokenizer() { return shared_path("models/stories260K/tok512.bin"); }

inline nlohmann::json stories260k_golden() {
    std::ifstream in(shared_path("models/stories260K/golden_greedy.json"));
    return nlohmann::json::parse(in);
}

// llama2.c's loop: greedy argmax with forced prompt tokens; the generated part starts after the prompt.
inline std::vector<int32_t> expected_generation(const nlohmann::json& c) {
    const auto prompt = c["prompt_ids_with_bos"].get<std::vector<int32_t>>();
    const auto next = c["next_ids"].get<std::vector<int32_t>>();
    return std::vector<int32_t>(next.begin() + static_cast<std::ptrdiff_t>(prompt.size()) - 1, next.end());
}

}  // namespace frugal::testing
