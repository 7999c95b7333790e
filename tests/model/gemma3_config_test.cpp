// Gemma 3's GGUF metadata into a ModelConfig, as llama.cpp reads the same keys (src/models/gemma3.cpp there): the
// query scale (1/sqrt(head size), but 1/sqrt(dim / heads) for the 62-layer 27B), the sliding-window layer pattern,
// the sliding layers' RoPE base (10000 unless the file gives one) and the optional final logit softcap.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "format/gguf/gguf_file.h"
#include "format/gguf/gguf_writer.h"
#include "model/arch/architecture.h"

namespace frugal {
namespace {

struct Shape {
    int64_t dim, layers, heads, kv_heads, head_dim, ffn;
};

// Gemma 3 sizes from their config.json files (text model).
constexpr Shape k270m{640, 18, 4, 1, 256, 2048};
constexpr Shape k4b{2560, 34, 8, 4, 256, 10240};
constexpr Shape k27b{5376, 62, 32, 16, 128, 21504};

GgufWriter gemma3_metadata(const Shape& s) {
    GgufWriter w;
    w.set_string("general.architecture", "gemma3");
    w.set_uint32("gemma3.embedding_length", static_cast<uint32_t>(s.dim));
    w.set_uint32("gemma3.block_count", static_cast<uint32_t>(s.layers));
    w.set_uint32("gemma3.feed_forward_length", static_cast<uint32_t>(s.ffn));
    w.set_uint32("gemma3.attention.head_count", static_cast<uint32_t>(s.heads));
    w.set_uint32("gemma3.attention.head_count_kv", static_cast<uint32_t>(s.kv_heads));
    w.set_uint32("gemma3.attention.key_length", static_cast<uint32_t>(s.head_dim));
    w.set_uint32("gemma3.attention.value_length", static_cast<uint32_t>(s.head_dim));
    w.set_uint32("gemma3.attention.sliding_window", 512);
    w.set_float32("gemma3.rope.freq_base", 1000000.0f);
    const std::vector<uint8_t> embd(static_cast<size_t>(s.dim) * 4 * 2, 0);  // 4 tokens, F16
    EXPECT_TRUE(w.add_tensor("token_embd.weight", DType::kF16, {s.dim, 4}, embd).ok());
    return w;
}

Result<ModelConfig> read(const GgufWriter& w) {
    const std::vector<uint8_t> bytes = w.to_bytes();
    ASSIGN_OR_RETURN(GgufFile file, GgufFile::parse(bytes.data(), bytes.size()));
    ModelConfig c;
    RETURN_IF_ERROR(find_architecture("gemma3")->read_config(file, &c));
    return c;
}

TEST(Gemma3Config, QueryScaleIsTheHeadSizeButDimOverHeadsFor27b) {
    for (const Shape& s : {k270m, k4b, k27b}) {
        Result<ModelConfig> c = read(gemma3_metadata(s));
        ASSERT_TRUE(c.ok()) << c.status().message();
        const double scalar = s.layers == 62 ? 168.0 : static_cast<double>(s.head_dim);  // query_pre_attn_scalar
        EXPECT_FLOAT_EQ(c->attention_scale, static_cast<float>(1.0 / std::sqrt(scalar))) << s.layers << " layers";
        EXPECT_EQ(c->final_logit_softcap, 0.0f);
        EXPECT_EQ(c->rope_freq_base_swa, 10000.0f);
        EXPECT_EQ(c->rope_freq_base, 1000000.0f);
        // Every sixth layer is global.
        ASSERT_EQ(c->layer_uses_swa.size(), static_cast<size_t>(s.layers));
        for (int64_t l = 0; l < s.layers; ++l) EXPECT_EQ(c->layer_uses_swa[l], (l + 1) % 6 != 0) << l;
    }
}

TEST(Gemma3Config, OptionalKeys) {
    GgufWriter w = gemma3_metadata(k270m);
    w.set_float32("gemma3.final_logit_softcapping", 30.0f);
    w.set_float32("gemma3.rope.freq_base_swa", 20000.0f);
    w.set_uint32("gemma3.attention.sliding_window_pattern", 2);
    Result<ModelConfig> c = read(w);
    ASSERT_TRUE(c.ok()) << c.status().message();
    EXPECT_EQ(c->final_logit_softcap, 30.0f);
    EXPECT_EQ(c->rope_freq_base_swa, 20000.0f);
    for (int64_t l = 0; l < k270m.layers; ++l) EXPECT_EQ(c->layer_uses_swa[l], l % 2 == 0) << l;

    GgufWriter bad = gemma3_metadata(k270m);
    bad.set_float32("gemma3.final_logit_softcapping", -1.0f);
    EXPECT_FALSE(read(bad).ok());
    GgufWriter nan = gemma3_metadata(k270m);
    nan.set_float32("gemma3.final_logit_softcapping", std::nanf(""));
    EXPECT_FALSE(read(nan).ok());
}

}  // namespace
}  // namespace frugal
