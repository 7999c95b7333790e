// Every reproducer the fuzzers found (tests/fuzz/crashes/) must now be handled without undefined behaviour.
// The sanitizer build turns a regression here into a hard failure.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "format/gguf/gguf_file.h"
#include "format/llama2c/llama2c_checkpoint.h"

namespace frugal {
namespace {

std::vector<uint8_t> read_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(FuzzRegression, EveryReproducerIsHandled) {
    const std::filesystem::path dir = std::filesystem::path(FRUGAL_TESTS_DIR) / "fuzz" / "crashes";
    int seen = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
        const std::vector<uint8_t> bytes = read_file(entry.path());
        ++seen;
        if (entry.path().extension() == ".gguf") {
            Result<GgufFile> f = GgufFile::parse(bytes.data(), bytes.size(), entry.path().filename());
            if (!f.ok()) continue;
            for (const GgufTensorInfo& t : f->tensors()) EXPECT_GE(t.rows(), 0) << t.name;
            for (const auto& [key, v] : f->metadata()) {
                if (v.type != GgufType::kArray || v.array_type == GgufType::kString) continue;
                for (uint64_t i = 0; i < v.array_count; ++i) (void)v.array_int(i);
            }
        } else {
            Result<Llama2cCheckpoint> c = Llama2cCheckpoint::parse(bytes.data(), bytes.size(), entry.path());
            EXPECT_FALSE(c.ok()) << entry.path();
        }
    }
    EXPECT_GE(seen, 3);
}

TEST(FuzzRegression, ZeroSizedTensorHasZeroRows) {
    GgufTensorInfo t;
    t.shape = {0};
    EXPECT_EQ(t.rows(), 1);
    t.shape = {4, 0, 3};
    EXPECT_EQ(t.rows(), 0);
    EXPECT_EQ(t.num_elements(), 0);
}

}  // namespace
}  // namespace frugal
