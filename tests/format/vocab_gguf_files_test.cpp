// The GGUF reader over the real vocabulary files in shared/vocab-gguf (written by llama.cpp's gguf-py): each
// parses, and tokenizer.ggml.tokens has the count TOKENIZER-DATA.md lists. The .xz files are decompressed into
// the build folder's scratch directory (never into shared/). One file is also copied key by key through
// GgufWriter::copy_value and must parse back identical.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "format/gguf/gguf_file.h"
#include "format/gguf/gguf_writer.h"

namespace frugal {
namespace {

struct VocabFile {
    const char* name;
    const char* model;  // tokenizer.ggml.model
    uint64_t num_tokens;
    bool compressed;
};

constexpr VocabFile kFiles[] = {
    {"ggml-vocab-deepseek-coder.gguf", "gpt2", 32256, false},
    {"ggml-vocab-gpt-2.gguf", "gpt2", 50257, false},
    {"ggml-vocab-llama-spm.gguf", "llama", 32000, false},
    {"ggml-vocab-phi-3.gguf", "llama", 32064, false},
    {"ggml-vocab-deepseek-llm.gguf", "gpt2", 102400, true},
    {"ggml-vocab-llama-bpe.gguf", "gpt2", 128256, true},
    {"ggml-vocab-qwen2.gguf", "gpt2", 151936, true},
};

std::string shared_path(const std::string& name) { return std::string(FRUGAL_SHARED_DIR) + "/vocab-gguf/" + name; }

// Path of the uncompressed file: shared/ itself, or a copy decompressed into the scratch folder.
std::string materialize(const VocabFile& f) {
    if (!f.compressed) return shared_path(f.name);
    const std::filesystem::path dir = std::filesystem::path(FRUGAL_TEST_SCRATCH_DIR) / "vocab-gguf";
    std::filesystem::create_directories(dir);
    const std::filesystem::path out = dir / f.name;
    if (!std::filesystem::exists(out)) {
        const std::string tmp = out.string() + ".tmp";
        const std::string cmd = "xz -dc '" + shared_path(f.name) + ".xz' > '" + tmp + "'";
        if (std::system(cmd.c_str()) != 0) return "";
        std::filesystem::rename(tmp, out);
    }
    return out.string();
}

class VocabGgufFileTest : public ::testing::TestWithParam<VocabFile> {};

TEST_P(VocabGgufFileTest, ParsesWithTheDocumentedTokenCount) {
    const VocabFile& vf = GetParam();
    const std::string path = materialize(vf);
    if (path.empty()) GTEST_SKIP() << "xz could not decompress " << vf.name;
    Result<GgufFile> r = GgufFile::open(path);
    ASSERT_TRUE(r.ok()) << r.status().message();
    const GgufFile& f = r.value();
    EXPECT_EQ(f.version(), 3u);
    EXPECT_TRUE(f.tensors().empty());  // vocab-only
    EXPECT_EQ(f.get_string("tokenizer.ggml.model").value(), vf.model);
    const GgufValue* tokens = f.find("tokenizer.ggml.tokens");
    ASSERT_NE(tokens, nullptr);
    ASSERT_EQ(tokens->type, GgufType::kArray);
    ASSERT_EQ(tokens->array_type, GgufType::kString);
    EXPECT_EQ(tokens->array_count, vf.num_tokens);
    EXPECT_EQ(tokens->array_strings.size(), vf.num_tokens);
    // Per-token arrays, where present, have one entry per token.
    for (const char* key : {"tokenizer.ggml.token_type", "tokenizer.ggml.scores"}) {
        if (const GgufValue* v = f.find(key)) {
            EXPECT_EQ(v->array_count, vf.num_tokens) << key;
        }
    }
    // Special-token ids are in range.
    for (const char* key : {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"}) {
        if (f.find(key) != nullptr) {
            EXPECT_GE(f.get_int(key).value(), 0) << key;
            EXPECT_LT(f.get_int(key).value(), static_cast<int64_t>(vf.num_tokens)) << key;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(SharedVocabs, VocabGgufFileTest, ::testing::ValuesIn(kFiles), [](const auto& info) {
    std::string n = info.param.name;
    n = n.substr(std::string("ggml-vocab-").size());
    n = n.substr(0, n.size() - 5);
    for (char& c : n) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    return n;
});

TEST(VocabGgufCopyTest, CopyValueReproducesEveryKeyOfARealFile) {
    Result<GgufFile> r = GgufFile::open(shared_path("ggml-vocab-llama-spm.gguf"));
    ASSERT_TRUE(r.ok()) << r.status().message();
    const GgufFile& a = r.value();
    GgufWriter w;
    for (const auto& [key, value] : a.metadata()) w.copy_value(key, value);
    const std::vector<uint8_t> bytes = w.to_bytes();
    Result<GgufFile> r2 = GgufFile::parse(bytes.data(), bytes.size());
    ASSERT_TRUE(r2.ok()) << r2.status().message();
    const GgufFile& b = r2.value();
    ASSERT_EQ(b.metadata().size(), a.metadata().size());
    for (size_t i = 0; i < a.metadata().size(); ++i) {
        const auto& [key, va] = a.metadata()[i];
        const GgufValue& vb = b.metadata()[i].second;
        SCOPED_TRACE(key);
        ASSERT_EQ(b.metadata()[i].first, key);
        ASSERT_EQ(vb.type, va.type);
        EXPECT_EQ(vb.int_value, va.int_value);
        EXPECT_EQ(vb.float_value, va.float_value);
        EXPECT_EQ(vb.string_value, va.string_value);
        EXPECT_EQ(vb.array_count, va.array_count);
        EXPECT_EQ(vb.array_strings, va.array_strings);
        if (va.type == GgufType::kArray && va.array_type != GgufType::kString) {
            for (uint64_t j = 0; j < va.array_count; ++j) {
                ASSERT_EQ(vb.array_float(j), va.array_float(j)) << j;
            }
        }
    }
}

}  // namespace
}  // namespace frugal
