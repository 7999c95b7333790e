// llama2.c checkpoints: the real stories260K.bin parses with the header its README documents; add_to_gguf turns it
// into a GGUF with llama.cpp's tensor names, shapes and the file's bytes; corrupted or truncated headers and sizes
// are rejected with errors; a synthetic checkpoint with an untied classifier gets output.weight.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "format/gguf/gguf_file.h"
#include "format/gguf/gguf_writer.h"
#include "format/llama2c/llama2c_checkpoint.h"

namespace frugal {
namespace {

std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

const std::vector<uint8_t>& stories260k() {
    static const std::vector<uint8_t> bytes =
        read_file(std::string(FRUGAL_SHARED_DIR) + "/models/stories260K/stories260K.bin");
    return bytes;
}

void set_header(std::vector<uint8_t>& bytes, int field, int32_t v) { std::memcpy(bytes.data() + 4 * field, &v, 4); }

// Number of floats a checkpoint with this header holds (independent of the parser's own formula).
uint64_t expected_floats(int32_t dim, int32_t hidden, int32_t layers, int32_t heads, int32_t kv_heads, int32_t vocab,
                         int32_t seq_len, bool shared) {
    const uint64_t head = dim / heads, kv_dim = head * kv_heads;
    uint64_t n = 0;
    n += uint64_t(vocab) * dim;                      // token_embedding
    n += uint64_t(layers) * dim;                     // rms_att
    n += uint64_t(layers) * dim * dim;               // wq
    n += 2 * uint64_t(layers) * kv_dim * dim;        // wk, wv
    n += uint64_t(layers) * dim * dim;               // wo
    n += uint64_t(layers) * dim;                     // rms_ffn
    n += 3 * uint64_t(layers) * hidden * dim;        // w1, w2, w3
    n += dim;                                        // rms_final
    n += uint64_t(seq_len) * head;                   // freq_cis real + imag: seq_len * head/2 each
    if (!shared) n += uint64_t(vocab) * dim;         // wcls
    return n;
}

TEST(Llama2cCheckpointTest, Stories260KHeader) {
    const std::vector<uint8_t>& bytes = stories260k();
    ASSERT_EQ(bytes.size(), 1056540u) << "stories260K.bin missing or changed";
    Result<Llama2cCheckpoint> r = Llama2cCheckpoint::parse(bytes.data(), bytes.size(), "stories260K.bin");
    ASSERT_TRUE(r.ok()) << r.status().message();
    const Llama2cConfig& c = r->config();
    EXPECT_EQ(c.dim, 64);
    EXPECT_EQ(c.hidden_dim, 172);
    EXPECT_EQ(c.num_layers, 5);
    EXPECT_EQ(c.num_heads, 8);
    EXPECT_EQ(c.num_kv_heads, 4);
    EXPECT_EQ(c.vocab_size, 512);
    EXPECT_EQ(c.seq_len, 512);
    EXPECT_TRUE(c.shared_classifier);
    EXPECT_EQ(28 + 4 * expected_floats(64, 172, 5, 8, 4, 512, 512, true), bytes.size());
}

TEST(Llama2cCheckpointTest, Stories260KToGguf) {
    const std::vector<uint8_t>& bytes = stories260k();
    ASSERT_FALSE(bytes.empty());
    Llama2cCheckpoint ckpt = Llama2cCheckpoint::parse(bytes.data(), bytes.size()).value();
    GgufWriter w;
    ASSERT_TRUE(ckpt.add_to_gguf(w).ok());
    const std::vector<uint8_t> gguf = w.to_bytes();
    Result<GgufFile> r = GgufFile::parse(gguf.data(), gguf.size());
    ASSERT_TRUE(r.ok()) << r.status().message();
    const GgufFile& f = r.value();

    EXPECT_EQ(f.get_string("general.architecture").value(), "llama");
    EXPECT_EQ(f.get_int("llama.embedding_length").value(), 64);
    EXPECT_EQ(f.get_int("llama.feed_forward_length").value(), 172);
    EXPECT_EQ(f.get_int("llama.block_count").value(), 5);
    EXPECT_EQ(f.get_int("llama.attention.head_count").value(), 8);
    EXPECT_EQ(f.get_int("llama.attention.head_count_kv").value(), 4);
    EXPECT_EQ(f.get_int("llama.context_length").value(), 512);
    EXPECT_EQ(f.get_int("llama.rope.dimension_count").value(), 8);
    EXPECT_EQ(f.get_int("llama.vocab_size").value(), 512);
    EXPECT_FLOAT_EQ(static_cast<float>(f.get_float("llama.attention.layer_norm_rms_epsilon").value()), 1e-5f);
    EXPECT_FLOAT_EQ(static_cast<float>(f.get_float("llama.rope.freq_base").value()), 10000.0f);

    // Names and GGML shapes ({in, out}), and where each tensor's bytes came from in the .bin.
    struct Expect {
        std::string name;
        std::vector<int64_t> shape;
    };
    std::vector<Expect> expect = {{"token_embd.weight", {64, 512}}};
    const char* per_layer[] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                               "ffn_norm",  "ffn_gate", "ffn_down", "ffn_up"};
    const std::vector<std::vector<int64_t>> shapes = {{64}, {64, 64}, {64, 32}, {64, 32}, {64, 64},
                                                      {64}, {64, 172}, {172, 64}, {64, 172}};
    // The .bin stores all layers of one kind together, in this order.
    for (size_t k = 0; k < 9; ++k) {
        for (int l = 0; l < 5; ++l) expect.push_back({"blk." + std::to_string(l) + "." + per_layer[k] + ".weight", shapes[k]});
    }
    expect.push_back({"output_norm.weight", {64}});
    ASSERT_EQ(f.tensors().size(), expect.size());
    EXPECT_EQ(f.find_tensor("output.weight"), nullptr) << "stories260K ties its classifier";
    size_t offset = 28;
    for (const Expect& e : expect) {
        SCOPED_TRACE(e.name);
        const GgufTensorInfo* t = f.find_tensor(e.name);
        ASSERT_NE(t, nullptr);
        EXPECT_EQ(t->dtype, DType::kF32);
        EXPECT_EQ(t->shape, e.shape);
        ASSERT_LE(offset + t->size_bytes, bytes.size());
        EXPECT_EQ(std::memcmp(t->data, bytes.data() + offset, t->size_bytes), 0);
        offset += t->size_bytes;
    }
    // What is left is the legacy freq_cis table: 512 positions x 4 x (real, imag).
    EXPECT_EQ(bytes.size() - offset, 512u * 8 * 4);
}

TEST(Llama2cCheckpointTest, ImplausibleHeadersAreRejected) {
    const std::vector<uint8_t>& good = stories260k();
    ASSERT_FALSE(good.empty());
    struct Bad {
        int field;
        int32_t value;
    };
    const Bad bads[] = {
        {0, 0}, {0, -64}, {0, 1 << 20}, {0, 60},  // dim: zero, negative, huge, not divisible by 8 heads
        {1, 0}, {1, -1},  {2, 0},       {2, -5},  // hidden, layers
        {3, 0}, {3, 7},   {3, 64},                 // heads: zero, not dividing dim, head_dim 1 (odd)
        {4, 0}, {4, 3},   {4, 16},                 // kv_heads: zero, not dividing heads, more than heads
        {5, 0}, {5, INT32_MIN},                    // vocab
        {6, 0}, {6, -1},                           // seq_len
    };
    for (const Bad& b : bads) {
        std::vector<uint8_t> bytes = good;
        set_header(bytes, b.field, b.value);
        Result<Llama2cCheckpoint> r = Llama2cCheckpoint::parse(bytes.data(), bytes.size(), "bad.bin");
        EXPECT_FALSE(r.ok()) << "field " << b.field << " = " << b.value;
        if (!r.ok()) {
            EXPECT_NE(r.status().message().find("bad.bin"), std::string::npos) << r.status().message();
        }
    }
}

TEST(Llama2cCheckpointTest, SizeMismatchesAreRejected) {
    const std::vector<uint8_t>& good = stories260k();
    ASSERT_FALSE(good.empty());
    // Plausible headers that do not match the file's size.
    for (auto [field, value] : {std::pair<int, int32_t>{0, 128}, {1, 173}, {2, 6}, {5, 513}, {5, -512}, {6, 256}}) {
        std::vector<uint8_t> bytes = good;
        set_header(bytes, field, value);
        Result<Llama2cCheckpoint> r = Llama2cCheckpoint::parse(bytes.data(), bytes.size(), "bad.bin");
        ASSERT_FALSE(r.ok()) << field << " = " << value;
        EXPECT_NE(r.status().message().find("implies"), std::string::npos) << r.status().message();
    }
    // Truncated anywhere, or with bytes appended.
    for (size_t n : {size_t{0}, size_t{4}, size_t{27}, size_t{28}, size_t{29}, size_t{1000}, good.size() / 2,
                     good.size() - 4, good.size() - 1}) {
        std::vector<uint8_t> prefix(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
        Result<Llama2cCheckpoint> r = Llama2cCheckpoint::parse(prefix.data(), prefix.size(), "cut.bin");
        ASSERT_FALSE(r.ok()) << n;
        EXPECT_FALSE(r.status().message().empty());
    }
    std::vector<uint8_t> longer = good;
    longer.resize(good.size() + 4);
    EXPECT_FALSE(Llama2cCheckpoint::parse(longer.data(), longer.size()).ok());
}

TEST(Llama2cCheckpointTest, VersionedExportIsRejectedWithAnExplanation) {
    std::vector<uint8_t> bytes = stories260k();
    ASSERT_FALSE(bytes.empty());
    std::memcpy(bytes.data(), "ak42", 4);
    Result<Llama2cCheckpoint> r = Llama2cCheckpoint::parse(bytes.data(), bytes.size(), "v1.bin");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("versioned"), std::string::npos) << r.status().message();
}

TEST(Llama2cCheckpointTest, NonCheckpointFilesAreRejected) {
    const std::string text = "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n";
    std::vector<uint8_t> bytes(text.begin(), text.end());
    EXPECT_FALSE(Llama2cCheckpoint::parse(bytes.data(), bytes.size()).ok());
    std::vector<uint8_t> zeros(4096, 0);
    EXPECT_FALSE(Llama2cCheckpoint::parse(zeros.data(), zeros.size()).ok());
}

// A tiny checkpoint with an untied classifier (negative vocab_size): values encode their own float index so the
// test can tell which part of the file each tensor came from.
TEST(Llama2cCheckpointTest, UntiedClassifierBecomesOutputWeight) {
    const int32_t dim = 8, hidden = 16, layers = 2, heads = 2, kv_heads = 1, vocab = 10, seq_len = 4;
    const uint64_t n = expected_floats(dim, hidden, layers, heads, kv_heads, vocab, seq_len, false);
    std::vector<uint8_t> bytes(28 + 4 * n);
    const int32_t header[7] = {dim, hidden, layers, heads, kv_heads, -vocab, seq_len};
    std::memcpy(bytes.data(), header, 28);
    for (uint64_t i = 0; i < n; ++i) {
        const float v = static_cast<float>(i);
        std::memcpy(bytes.data() + 28 + 4 * i, &v, 4);
    }
    Result<Llama2cCheckpoint> r = Llama2cCheckpoint::parse(bytes.data(), bytes.size());
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_FALSE(r->config().shared_classifier);
    EXPECT_EQ(r->config().vocab_size, vocab);
    GgufWriter w;
    ASSERT_TRUE(r->add_to_gguf(w).ok());
    const std::vector<uint8_t> gguf = w.to_bytes();
    const GgufFile f = GgufFile::parse(gguf.data(), gguf.size()).value();
    const GgufTensorInfo* out = f.find_tensor("output.weight");
    ASSERT_NE(out, nullptr);
    EXPECT_EQ(out->shape, (std::vector<int64_t>{dim, vocab}));
    // The classifier is the last vocab * dim floats, after the freq_cis table.
    const auto* o = reinterpret_cast<const float*>(out->data);
    EXPECT_EQ(o[0], static_cast<float>(n - vocab * dim));
    EXPECT_EQ(o[vocab * dim - 1], static_cast<float>(n - 1));
    const GgufTensorInfo* k = f.find_tensor("blk.1.attn_k.weight");
    ASSERT_NE(k, nullptr);
    EXPECT_EQ(k->shape, (std::vector<int64_t>{dim, dim / heads * kv_heads}));
    EXPECT_EQ(f.get_int("llama.attention.head_count_kv").value(), kv_heads);
    EXPECT_EQ(f.get_int("llama.rope.dimension_count").value(), dim / heads);
}

}  // namespace
}  // namespace frugal
