// libFuzzer target for the Hugging Face config.json parser (parse_hf_config), whose input is a hostile JSON text:
// every accepted config must satisfy the parser's own promises (sizes in range, heads dividing, top-k within the
// expert count), trapping when one is broken.
//
// Run (build and command as in docs/fuzzing.md; seeds: the 9 config.json files of tests/data/hf): on ec99ca2
// (2026-11-29), clang 14.0.6, one process on the shared 2-core VM, -max_len=8192,
// UBSAN_OPTIONS=halt_on_error=1: 300 s, 3,449,487 executions (11,460/s), cov 1442 -> 2469 edges, corpus
// 9 -> 1514 files. Findings: none.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "format/hf_config/hf_config.h"

namespace {

void require(bool cond) {
    if (!cond) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    frugal::Result<frugal::HfConfig> parsed = frugal::parse_hf_config(text, "fuzz.json");
    if (!parsed.ok()) {
        require(!parsed.status().message().empty());
        return 0;
    }
    const frugal::HfConfig& c = parsed.value();
    require(c.vocab_size > 0 && c.vocab_size <= frugal::kHfMaxDim);
    require(c.hidden_size > 0 && c.hidden_size <= frugal::kHfMaxDim);
    require(c.num_hidden_layers > 0 && c.num_hidden_layers <= frugal::kHfMaxLayers);
    require(c.num_attention_heads > 0 && c.num_key_value_heads > 0);
    require(c.num_attention_heads % c.num_key_value_heads == 0);
    require(c.head_dim > 0);
    require(c.num_experts == 0 || (c.num_experts_per_tok >= 1 && c.num_experts_per_tok <= c.num_experts));
    require(!c.sliding_window || *c.sliding_window > 0);
    require(c.rope_scaling.type == frugal::HfRopeScalingType::kNone || c.rope_scaling.factor > 0);
    return 0;
}
