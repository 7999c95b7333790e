// safetensors reader: files written by a small encoder in this test (header JSON built by hand or with
// nlohmann, data packed contiguously) are read back, single and sharded; then hostile input: every defect the
// reader checks gives an error Status naming the file, tensor and problem, every truncation and many byte flips
// of a valid file fail cleanly (every buffer is an exact-size heap copy, so ASan catches over-reads).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/half.h"
#include "format/safetensors/safetensors_file.h"

namespace frugal {
namespace {

namespace fs = std::filesystem;

// 8-byte little-endian header length, the header text, then the data section.
std::vector<uint8_t> encode(const std::string& header, const std::vector<uint8_t>& data = {}) {
    // Sized once and filled with memcpy: GCC 12 -O3 reports a false -Warray-bounds for insert() here.
    std::vector<uint8_t> out(8 + header.size() + data.size());
    const uint64_t n = header.size();
    std::memcpy(out.data(), &n, 8);
    if (!header.empty()) std::memcpy(out.data() + 8, header.data(), header.size());
    if (!data.empty()) std::memcpy(out.data() + 8 + header.size(), data.data(), data.size());
    return out;
}

struct TensorSpec {
    std::string name;
    std::string dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> bytes;
};

template <typename T>
std::vector<uint8_t> raw(const std::vector<T>& v) {
    std::vector<uint8_t> out(v.size() * sizeof(T));
    if (!out.empty()) std::memcpy(out.data(), v.data(), out.size());
    return out;
}

// A valid file as the Python writer makes one: contiguous data in the given order, the header padded with
// spaces to a multiple of 8 bytes.
std::vector<uint8_t> encode_tensors(const std::vector<TensorSpec>& tensors, const nlohmann::json& metadata = {}) {
    nlohmann::json header = nlohmann::json::object();
    std::vector<uint8_t> data;
    for (const TensorSpec& t : tensors) {
        header[t.name] = {
            {"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {data.size(), data.size() + t.bytes.size()}}};
        data.insert(data.end(), t.bytes.begin(), t.bytes.end());
    }
    if (!metadata.is_null()) header["__metadata__"] = metadata;
    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' ');
    return encode(text, data);
}

fs::path scratch(const std::string& sub) {
    const fs::path dir = fs::path(FRUGAL_TEST_SCRATCH_DIR) / "safetensors" / sub;
    fs::remove_all(dir);
    fs::create_directories(dir);
    return dir;
}

void write_file(const fs::path& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

void write_text(const fs::path& path, const std::string& text) { write_file(path, {text.begin(), text.end()}); }

std::vector<TensorSpec> sample_tensors() {
    return {
        {"model.embed_tokens.weight", "BF16", {2, 2}, raw<uint16_t>({0x3f80, 0xc049, 0x0000, 0x7f80})},
        {"model.norm.weight", "F16", {3}, raw<uint16_t>({0x3c00, 0xc000, 0x7bff})},
        {"lm_head.weight", "F32", {2, 3}, raw<float>({1.5f, -2.0f, 0.25f, 3.0f, -0.0f, 1e-30f})},
        {"position_ids", "I64", {3}, raw<int64_t>({0, 1, 2})},
        {"scale", "F32", {}, raw<float>({7.0f})},
        {"empty", "F16", {0, 5}, {}},
        {"fp8", "F8_E4M3", {2}, {0x38, 0x40}},
    };
}

TEST(Safetensors, ReadsASingleFile) {
    const std::vector<uint8_t> bytes = encode_tensors(sample_tensors(), {{"format", "pt"}});
    const fs::path path = scratch("single") / "model.safetensors";
    write_file(path, bytes);
    Result<SafetensorsFile> f = SafetensorsFile::open(path.string());
    ASSERT_TRUE(f.ok()) << f.status().message();
    EXPECT_EQ(f->file_size(), bytes.size());
    EXPECT_EQ(f->data_offset() % 8, 0u);
    ASSERT_NE(f->find_metadata("format"), nullptr);
    EXPECT_EQ(*f->find_metadata("format"), "pt");
    EXPECT_EQ(f->find_metadata("missing"), nullptr);
    EXPECT_EQ(f->find_tensor("missing"), nullptr);

    ASSERT_EQ(f->tensors().size(), 7u);
    std::vector<std::string> names;
    for (const SafetensorsTensorInfo& t : f->tensors()) names.push_back(t.name);
    EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));

    for (const TensorSpec& spec : sample_tensors()) {
        const SafetensorsTensorInfo* t = f->find_tensor(spec.name);
        ASSERT_NE(t, nullptr) << spec.name;
        EXPECT_EQ(safetensors_dtype_name(t->dtype), spec.dtype);
        EXPECT_EQ(t->shape, spec.shape);
        ASSERT_EQ(t->size_bytes(), spec.bytes.size());
        EXPECT_TRUE(std::equal(spec.bytes.begin(), spec.bytes.end(), t->bytes().begin())) << spec.name;
    }
    EXPECT_EQ(f->find_tensor("scale")->num_elements(), 1);
    EXPECT_EQ(f->find_tensor("empty")->num_elements(), 0);

    Result<std::vector<float>> head = safetensors_to_f32(*f->find_tensor("lm_head.weight"));
    ASSERT_TRUE(head.ok()) << head.status().message();
    EXPECT_EQ(head.value(), (std::vector<float>{1.5f, -2.0f, 0.25f, 3.0f, -0.0f, 1e-30f}));
    Result<std::vector<float>> empty = safetensors_to_f32(*f->find_tensor("empty"));
    ASSERT_TRUE(empty.ok()) << empty.status().message();
    EXPECT_TRUE(empty->empty());
    EXPECT_EQ(f->find_tensor("model.norm.weight")->frugal_dtype().value(), DType::kF16);

    // Listed, so the file opens, but its data cannot be read as floats.
    for (const char* name : {"position_ids", "fp8"}) {
        const SafetensorsTensorInfo* t = f->find_tensor(name);
        EXPECT_FALSE(safetensors_dtype_supported(t->dtype));
        Result<std::vector<float>> r = safetensors_to_f32(*t);
        ASSERT_FALSE(r.ok());
        EXPECT_NE(r.status().message().find(std::string("tensor '") + name + "'"), std::string::npos);
        EXPECT_NE(r.status().message().find("cannot read"), std::string::npos) << r.status().message();
        EXPECT_FALSE(t->frugal_dtype().ok());
    }
}

TEST(Safetensors, HalfAndBfloat16ConvertToKnownValues) {
    const std::vector<uint8_t> bytes = encode_tensors(sample_tensors());
    Result<SafetensorsFile> f = SafetensorsFile::parse(bytes.data(), bytes.size());
    ASSERT_TRUE(f.ok()) << f.status().message();
    Result<std::vector<float>> bf16 = safetensors_to_f32(*f->find_tensor("model.embed_tokens.weight"));
    ASSERT_TRUE(bf16.ok());
    EXPECT_EQ(bf16.value(), (std::vector<float>{1.0f, -3.140625f, 0.0f, std::numeric_limits<float>::infinity()}));
    Result<std::vector<float>> f16 = safetensors_to_f32(*f->find_tensor("model.norm.weight"));
    ASSERT_TRUE(f16.ok());
    EXPECT_EQ(f16.value(), (std::vector<float>{1.0f, -2.0f, 65504.0f}));

    // Subnormal, negative zero and NaN halves, through a buffer of the caller's.
    const std::vector<uint8_t> more = encode_tensors({{"h", "F16", {3}, raw<uint16_t>({0x0001, 0x8000, 0x7e00})}});
    Result<SafetensorsFile> g = SafetensorsFile::parse(more.data(), more.size());
    ASSERT_TRUE(g.ok()) << g.status().message();
    float out[3];
    ASSERT_TRUE(safetensors_to_f32(*g->find_tensor("h"), out).ok());
    EXPECT_EQ(out[0], std::ldexp(1.0f, -24));
    EXPECT_TRUE(std::signbit(out[1]) && out[1] == 0.0f);
    EXPECT_TRUE(std::isnan(out[2]));
    float too_small[2];
    Status s = safetensors_to_f32(*g->find_tensor("h"), too_small);
    ASSERT_FALSE(s.ok());
    EXPECT_NE(s.message().find("output holds 2"), std::string::npos) << s.message();
}

TEST(Safetensors, ConversionRechecksHandBuiltInfo) {
    const std::vector<uint8_t> data(8);
    SafetensorsTensorInfo t;
    t.name = "hand";
    t.dtype = SafetensorsDType::kF32;
    t.shape = {4};  // 16 bytes, but only 8 are there
    t.data = data.data();
    t.data_end = 8;
    Result<std::vector<float>> r = safetensors_to_f32(t);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("do not match shape [4] x F32"), std::string::npos) << r.status().message();
    t.shape = {int64_t{1} << 62, 8};  // the element count overflows
    EXPECT_FALSE(safetensors_to_f32(t).ok());
    t.shape = {-2, -1};
    EXPECT_FALSE(safetensors_to_f32(t).ok());
    t.shape = {2};
    EXPECT_TRUE(safetensors_to_f32(t).ok());
}

TEST(Safetensors, OverlapsGapsAndEmptyTensorsAreAccepted) {
    // The spec asks writers for contiguous data; the reader only needs each tensor in bounds and of its size.
    const std::string header =
        R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[4],"data_offsets":[4,8]},)"
        R"("c":{"dtype":"F16","shape":[1],"data_offsets":[14,16]},)"
        R"("z":{"dtype":"BF16","shape":[4611686018427387904,4,0],"data_offsets":[16,16]},"__metadata__":{}})";
    const std::vector<uint8_t> bytes = encode(header, std::vector<uint8_t>(16, 1));
    Result<SafetensorsFile> f = SafetensorsFile::parse(bytes.data(), bytes.size(), "gaps.safetensors");
    ASSERT_TRUE(f.ok()) << f.status().message();
    EXPECT_EQ(f->tensors().size(), 4u);
    EXPECT_EQ(f->find_tensor("z")->num_elements(), 0);
    EXPECT_EQ(f->find_tensor("b")->data, f->find_tensor("a")->data + 4);
    EXPECT_TRUE(safetensors_to_f32(*f->find_tensor("z")).ok());
}

struct BadCase {
    const char* what;
    std::vector<uint8_t> bytes;
    std::string message;  // a substring the error must contain
};

std::vector<BadCase> bad_cases() {
    const auto entry = [](const std::string& body) { return encode("{\"t\":" + body + "}", std::vector<uint8_t>(64)); };
    std::vector<uint8_t> huge(16, 0);
    huge[5] = 1;  // header length 2^40
    std::vector<uint8_t> past_end = encode("{}");
    past_end.pop_back();
    std::string deep = "{\"t\":";
    for (int i = 0; i < 40; ++i) deep += "[";
    for (int i = 0; i < 40; ++i) deep += "]";
    deep += "}";
    std::string many_dims = R"({"t":{"dtype":"U8","shape":[)";
    for (int i = 0; i < 65; ++i) many_dims += i == 0 ? "1" : ",1";
    many_dims += R"(],"data_offsets":[0,1]}})";
    return {
        {"empty file", {}, "too short for the 8-byte header length"},
        {"short file", {1, 0, 0, 0, 0}, "file is 5 bytes"},
        {"absurd header length", huge, "header length 1099511627776 exceeds"},
        {"header past end", past_end, "runs past end of file"},
        {"not json", encode("GGUF"), "does not start with '{'"},
        {"zero header length", encode(""), "does not start with '{'"},
        {"truncated json", encode("{\"t\":"), "not valid JSON"},
        {"trailing garbage", encode("{} x"), "not valid JSON"},
        {"non-UTF-8 name", encode("{\"a\xff\":{}}"), "UTF-8"},
        {"lone surrogate", encode(R"({"\ud800":{}})"), "surrogate"},
        {"deep nesting", encode(deep), "nests deeper than"},
        {"duplicate tensor", encode(R"({"a":{},"a":{}})"), "duplicate tensor name 'a'"},
        {"duplicate key", entry(R"({"dtype":"F32","dtype":"F32"})"), "duplicate key 'dtype'"},
        {"entry not object", entry("5"), "tensor 't' entry must be an object, got number"},
        {"no dtype", entry(R"({"shape":[1],"data_offsets":[0,4]})"), "tensor 't' has no 'dtype'"},
        {"dtype number", entry(R"({"dtype":7,"shape":[1],"data_offsets":[0,4]})"), "dtype must be a string"},
        {"unknown dtype", entry(R"({"dtype":"Q4_K","shape":[1],"data_offsets":[0,4]})"), "unknown dtype 'Q4_K'"},
        {"no shape", entry(R"({"dtype":"F32","data_offsets":[0,4]})"), "tensor 't' has no 'shape'"},
        {"shape object", entry(R"({"dtype":"F32","shape":{},"data_offsets":[0,4]})"), "shape must be an array"},
        {"negative dim", entry(R"({"dtype":"F32","shape":[2,-1],"data_offsets":[0,4]})"), "shape entry 1 is -1"},
        {"float dim", entry(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})"), "shape entry 0 is 1.5"},
        {"string dim", entry(R"({"dtype":"F32","shape":["2"],"data_offsets":[0,4]})"), "expected a non-negative"},
        {"dim past int64", entry(R"({"dtype":"U8","shape":[9223372036854775808],"data_offsets":[0,4]})"),
         "shape entry 0"},
        {"too many dims", encode(many_dims), "65 dimensions"},
        {"overflow", entry(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]})"),
         "overflows 64 bits"},
        {"sub-byte", entry(R"({"dtype":"F4","shape":[3],"data_offsets":[0,2]})"), "not a whole number of bytes"},
        {"no offsets", entry(R"({"dtype":"F32","shape":[1]})"), "has no 'data_offsets'"},
        {"one offset", entry(R"({"dtype":"F32","shape":[1],"data_offsets":[0]})"), "must be [begin, end]"},
        {"string offset", entry(R"({"dtype":"F32","shape":[1],"data_offsets":[0,"4"]})"), "must be [begin, end]"},
        {"negative offset", entry(R"({"dtype":"F32","shape":[1],"data_offsets":[-4,0]})"), "must be [begin, end]"},
        {"begin after end", entry(R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})"), "[8, 4]: begin is after end"},
        {"size mismatch",
         encode(R"({"model.embed_tokens.weight":{"dtype":"BF16","shape":[10,4],"data_offsets":[0,100]}})",
                std::vector<uint8_t>(100)),
         "tensor 'model.embed_tokens.weight' data_offsets [0, 100] do not match shape [10, 4] x BF16 = 80 bytes"},
        {"past end", entry(R"({"dtype":"F32","shape":[20],"data_offsets":[0,80]})"),
         "tensor 't' data_offsets [0, 80] extend past end of file: the data section is 64 bytes"},
        {"offset near 2^64", entry(R"({"dtype":"U8","shape":[1],"data_offsets":[18446744073709551615,0]})"),
         "begin is after end"},
        {"metadata array", encode(R"({"__metadata__":[]})"), "'__metadata__' must be an object of strings, got array"},
        {"metadata number", encode(R"({"__metadata__":{"format":1}})"), "key 'format' must be a string, got number"},
    };
}

TEST(Safetensors, MalformedFilesGiveErrorsNamingTheProblem) {
    for (const BadCase& c : bad_cases()) {
        const std::vector<uint8_t> copy = c.bytes;  // exact size, so ASan sees any over-read
        Result<SafetensorsFile> f = SafetensorsFile::parse(copy.data(), copy.size(), "bad.safetensors");
        ASSERT_FALSE(f.ok()) << c.what;
        const std::string& m = f.status().message();
        EXPECT_EQ(m.rfind("bad.safetensors: ", 0), 0u) << c.what << ": " << m;
        EXPECT_NE(m.find(c.message), std::string::npos) << c.what << ": " << m;
    }
}

TEST(Safetensors, TruncatedAndCorruptedFilesFailCleanly) {
    const std::vector<uint8_t> bytes = encode_tensors(sample_tensors(), {{"format", "pt"}});
    for (size_t n = 0; n < bytes.size(); ++n) {
        const std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
        Result<SafetensorsFile> f = SafetensorsFile::parse(prefix.data(), prefix.size(), "cut.safetensors");
        ASSERT_FALSE(f.ok()) << "prefix of " << n << " bytes parsed";
        EXPECT_FALSE(f.status().message().empty());
    }
    // A truncated file on disk, as a download cut short leaves it.
    const fs::path path = scratch("truncated") / "model.safetensors";
    write_file(path, std::vector<uint8_t>(bytes.begin(), bytes.end() - 3));
    Result<SafetensorsFile> f = SafetensorsFile::open(path.string());
    ASSERT_FALSE(f.ok());
    EXPECT_NE(f.status().message().find(path.string() + ": tensor '"), std::string::npos) << f.status().message();
    EXPECT_NE(f.status().message().find("extend past end of file"), std::string::npos) << f.status().message();

    std::mt19937 rng(7);
    int parsed = 0;
    for (int i = 0; i < 2000; ++i) {
        std::vector<uint8_t> copy = bytes;
        for (int k = 0; k < 3; ++k) copy[rng() % copy.size()] ^= static_cast<uint8_t>(1u << (rng() % 8));
        Result<SafetensorsFile> g = SafetensorsFile::parse(copy.data(), copy.size(), "flip.safetensors");
        if (!g.ok()) {
            EXPECT_FALSE(g.status().message().empty());
            continue;
        }
        ++parsed;
        for (const SafetensorsTensorInfo& t : g->tensors()) {
            ASSERT_GE(t.data, copy.data() + g->data_offset());
            ASSERT_LE(t.data + t.size_bytes(), copy.data() + copy.size());
            if (safetensors_dtype_supported(t.dtype)) {
                EXPECT_TRUE(safetensors_to_f32(t).ok()) << t.name;
            }
        }
    }
    EXPECT_GT(parsed, 0);  // flips in the data section keep the file valid
}

// ---- checkpoints: a folder with model.safetensors, or shards and model.safetensors.index.json ----

std::string index_json(const std::vector<std::pair<std::string, std::string>>& weight_map) {
    nlohmann::json map = nlohmann::json::object();
    for (const auto& [tensor, shard] : weight_map) map[tensor] = shard;
    return nlohmann::json{{"metadata", {{"total_size", 64}}}, {"weight_map", map}}.dump();
}

fs::path sharded_checkpoint(const std::string& sub) {
    const fs::path dir = scratch(sub);
    write_file(dir / "model-00001-of-00002.safetensors",
               encode_tensors({{"b.weight", "F32", {2}, raw<float>({1, 2})},
                               {"a.weight", "BF16", {1}, raw<uint16_t>({0x4040})}}));
    write_file(dir / "model-00002-of-00002.safetensors",
               encode_tensors({{"c.weight", "F16", {2}, raw<uint16_t>({0x3c00, 0x4000})}}));
    write_text(dir / "model.safetensors.index.json", index_json({{"a.weight", "model-00001-of-00002.safetensors"},
                                                                 {"b.weight", "model-00001-of-00002.safetensors"},
                                                                 {"c.weight", "model-00002-of-00002.safetensors"}}));
    return dir;
}

TEST(SafetensorsModel, ReadsAShardedCheckpoint) {
    const fs::path dir = sharded_checkpoint("sharded");
    for (const fs::path& path : {dir, dir / "model.safetensors.index.json"}) {
        Result<SafetensorsModel> m = SafetensorsModel::open(path.string());
        ASSERT_TRUE(m.ok()) << m.status().message();
        EXPECT_EQ(m->shards().size(), 2u);
        EXPECT_EQ(m->tensor_names(), (std::vector<std::string>{"a.weight", "b.weight", "c.weight"}));
        EXPECT_EQ(m->find_tensor("nope"), nullptr);
        ASSERT_NE(m->find_tensor("c.weight"), nullptr);
        EXPECT_EQ(safetensors_to_f32(*m->find_tensor("c.weight")).value(), (std::vector<float>{1.0f, 2.0f}));
        EXPECT_EQ(safetensors_to_f32(*m->find_tensor("a.weight")).value(), (std::vector<float>{3.0f}));
        EXPECT_EQ(safetensors_to_f32(*m->find_tensor("b.weight")).value(), (std::vector<float>{1.0f, 2.0f}));
    }
}

TEST(SafetensorsModel, ReadsASingleFileCheckpoint) {
    const fs::path dir = scratch("single_model");
    write_file(dir / "model.safetensors", encode_tensors(sample_tensors()));
    for (const fs::path& path : {dir, dir / "model.safetensors"}) {
        Result<SafetensorsModel> m = SafetensorsModel::open(path.string());
        ASSERT_TRUE(m.ok()) << m.status().message();
        EXPECT_EQ(m->num_tensors(), sample_tensors().size());
        EXPECT_TRUE(std::is_sorted(m->tensor_names().begin(), m->tensor_names().end()));
        ASSERT_NE(m->find_tensor("scale"), nullptr);
        EXPECT_EQ(safetensors_to_f32(*m->find_tensor("scale")).value(), std::vector<float>{7.0f});
    }
}

TEST(SafetensorsModel, BadCheckpointsGiveErrorsNamingTheProblem) {
    const std::string shard1 = "model-00001-of-00002.safetensors";
    const std::string shard2 = "model-00002-of-00002.safetensors";
    struct Case {
        const char* what;
        std::string index;  // empty: no index file
        std::string message;
    };
    const std::vector<Case> cases = {
        {"missing tensor", index_json({{"a.weight", shard1}, {"c.weight", shard1}}),
         "weight_map puts tensor 'c.weight' in"},
        {"escaping shard", index_json({{"a.weight", "../" + shard1}}), "'../" + shard1 + "', which is not a plain"},
        {"subfolder shard", index_json({{"a.weight", "sub/" + shard1}}), "not a plain file name"},
        {"backslash shard", index_json({{"a.weight", "..\\x.safetensors"}}), "not a plain file name"},
        {"dot-dot shard", index_json({{"a.weight", ".."}}), "not a plain file name"},
        {"missing shard", index_json({{"a.weight", "model-00003.safetensors"}}), "cannot open"},
        {"non-string shard", R"({"weight_map":{"a.weight":3}})", "weight_map entry 'a.weight' must be a shard"},
        {"no weight_map", R"({"metadata":{}})", "index has no 'weight_map' object"},
        {"empty weight_map", R"({"weight_map":{}})", "weight_map lists no tensors"},
        {"duplicate entry", R"({"weight_map":{"a.weight":")" + shard1 + R"(","a.weight":")" + shard1 + "\"}}",
         "duplicate key 'a.weight'"},
        {"invalid json", R"({"weight_map":)", "not valid JSON"},
        {"array index", "[]", "index must be a JSON object"},
        {"no files", "", "holds neither model.safetensors.index.json nor model.safetensors"},
    };
    for (const Case& c : cases) {
        const fs::path dir = sharded_checkpoint("bad_index");
        fs::remove(dir / "model.safetensors.index.json");
        if (!c.index.empty()) write_text(dir / "model.safetensors.index.json", c.index);
        Result<SafetensorsModel> m = SafetensorsModel::open(dir.string());
        ASSERT_FALSE(m.ok()) << c.what;
        EXPECT_NE(m.status().message().find(c.message), std::string::npos) << c.what << ": " << m.status().message();
    }

    // The same tensor in two shards, both listed.
    const fs::path dir = sharded_checkpoint("duplicate_across_shards");
    write_file(dir / shard2, encode_tensors({{"a.weight", "F32", {1}, raw<float>({1})}}));
    Result<SafetensorsModel> m = SafetensorsModel::open(dir.string());
    ASSERT_FALSE(m.ok());
    EXPECT_NE(m.status().message().find("tensor 'a.weight' is in both"), std::string::npos) << m.status().message();

    // A broken shard: the error names the shard file and the tensor.
    const fs::path dir2 = sharded_checkpoint("broken_shard");
    write_file(dir2 / shard2, encode(R"({"c.weight":{"dtype":"F16","shape":[2],"data_offsets":[0,2]}})", {0, 0}));
    m = SafetensorsModel::open(dir2.string());
    ASSERT_FALSE(m.ok());
    const std::string expected = shard2 + ": tensor 'c.weight' data_offsets [0, 2] do not match shape [2] x F16";
    EXPECT_NE(m.status().message().find(expected), std::string::npos) << m.status().message();
}

}  // namespace
}  // namespace frugal
