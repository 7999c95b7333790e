// GGUF reader and writer: writer -> reader round trips of every metadata type (through copy_value for the types
// the writer has no setter for) and of tensors of several dtypes (data pointers, alignment, bytes); then hostile
// input: every truncation and many byte flips of a valid file must give an error Status with a message (never a
// crash: run under ASan to catch over-reads, every buffer is an exact-size heap copy), and hand-built files with
// specific defects must give specific errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "format/gguf/gguf_file.h"
#include "format/gguf/gguf_writer.h"

namespace frugal {
namespace {

// ---- a raw GGUF encoder, independent of GgufWriter, for types the writer lacks and for defective files ----

class Raw {
public:
    template <typename T>
    Raw& pod(T v) {
        const auto* p = reinterpret_cast<const uint8_t*>(&v);
        bytes.insert(bytes.end(), p, p + sizeof(T));
        return *this;
    }
    Raw& str(std::string_view s) {
        pod<uint64_t>(s.size());
        bytes.insert(bytes.end(), s.begin(), s.end());
        return *this;
    }
    Raw& header(uint32_t version, uint64_t num_tensors, uint64_t num_kv, uint32_t magic = 0x46554747) {
        return pod(magic).pod(version).pod(num_tensors).pod(num_kv);
    }
    Raw& kv_u32(std::string_view key, uint32_t v) { return str(key).pod<uint32_t>(4).pod(v); }
    Raw& kv_type(std::string_view key, GgufType t) { return str(key).pod(static_cast<uint32_t>(t)); }
    Raw& tensor_info(std::string_view name, std::vector<int64_t> shape, uint32_t type, uint64_t offset) {
        str(name).pod<uint32_t>(static_cast<uint32_t>(shape.size()));
        for (int64_t d : shape) pod(d);
        return pod(type).pod(offset);
    }
    Raw& pad_to(size_t alignment) {
        while (bytes.size() % alignment != 0) bytes.push_back(0);
        return *this;
    }
    Raw& zeros(size_t n) {
        bytes.insert(bytes.end(), n, 0);
        return *this;
    }
    std::vector<uint8_t> bytes;
};

Result<GgufFile> parse(const std::vector<uint8_t>& bytes) { return GgufFile::parse(bytes.data(), bytes.size(), "t.gguf"); }

::testing::AssertionResult fails_with(const std::vector<uint8_t>& bytes, const std::string& needle) {
    Result<GgufFile> r = parse(bytes);
    if (r.ok()) return ::testing::AssertionFailure() << "parsed, expected an error containing '" << needle << "'";
    if (r.status().message().find(needle) == std::string::npos) {
        return ::testing::AssertionFailure() << "error '" << r.status().message() << "' lacks '" << needle << "'";
    }
    return ::testing::AssertionSuccess() << r.status().message();
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> v(n);
    for (auto& b : v) b = static_cast<uint8_t>(rng());
    return v;
}

// A small valid file: every writer setter, and three tensors whose sizes are multiples of 32 bytes (so nothing
// follows the last tensor's data and every proper prefix is a truncated file).
GgufWriter small_writer() {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_uint32("llama.block_count", 2);
    w.set_int32("test.int32", -7);
    w.set_uint64("test.uint64", 1ull << 40);
    w.set_float32("test.float32", 0.25f);
    w.set_bool("test.bool", true);
    w.set_string_array("test.strings", {"a", "", "ccc"});
    w.set_float32_array("test.floats", {1.5f, -2.0f});
    w.set_int32_array("test.ints", {1, -2, 3});
    const std::vector<uint8_t> f32 = random_bytes(8 * 4 * 2, 1);     // F32 {8, 2}
    const std::vector<uint8_t> f16 = random_bytes(16 * 2 * 3, 2);    // F16 {16, 3}
    const std::vector<uint8_t> q8 = random_bytes(34 * 2 * 16, 3);    // Q8_0 {64, 16}: 1088 bytes
    EXPECT_TRUE(w.add_tensor("a", DType::kF32, {8, 2}, f32).ok());
    EXPECT_TRUE(w.add_tensor("b", DType::kF16, {16, 3}, f16).ok());
    EXPECT_TRUE(w.add_tensor("c", DType::kQ8_0, {64, 16}, q8).ok());
    return w;
}

// ---- round trips ----

TEST(GgufRoundTripTest, WriterSettersParseBack) {
    const std::vector<uint8_t> bytes = small_writer().to_bytes();
    Result<GgufFile> r = parse(bytes);
    ASSERT_TRUE(r.ok()) << r.status().message();
    const GgufFile& f = r.value();
    EXPECT_EQ(f.version(), 3u);
    EXPECT_EQ(f.alignment(), 32u);
    EXPECT_EQ(f.metadata().size(), 9u);
    EXPECT_EQ(f.metadata()[0].first, "general.architecture");  // insertion order is kept
    EXPECT_EQ(f.get_string("general.architecture").value(), "llama");
    EXPECT_EQ(f.get_int("llama.block_count").value(), 2);
    EXPECT_EQ(f.find("llama.block_count")->type, GgufType::kUint32);
    EXPECT_EQ(f.get_int("test.int32").value(), -7);
    EXPECT_EQ(f.find("test.uint64")->type, GgufType::kUint64);
    EXPECT_EQ(f.find("test.uint64")->uint_value, 1ull << 40);
    EXPECT_EQ(f.get_int("test.uint64").value(), int64_t{1} << 40);
    EXPECT_EQ(f.get_float("test.float32").value(), 0.25);
    EXPECT_TRUE(f.get_bool_or("test.bool", false));
    const GgufValue* s = f.find("test.strings");
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->type, GgufType::kArray);
    EXPECT_EQ(s->array_type, GgufType::kString);
    ASSERT_EQ(s->array_count, 3u);
    ASSERT_EQ(s->array_strings.size(), 3u);
    EXPECT_EQ(s->array_strings[0], "a");
    EXPECT_EQ(s->array_strings[1], "");
    EXPECT_EQ(s->array_strings[2], "ccc");
    const GgufValue* fl = f.find("test.floats");
    ASSERT_EQ(fl->array_count, 2u);
    EXPECT_EQ(fl->array_float(0), 1.5);
    EXPECT_EQ(fl->array_float(1), -2.0);
    const GgufValue* in = f.find("test.ints");
    ASSERT_EQ(in->array_count, 3u);
    EXPECT_EQ(in->array_int(1), -2);
    EXPECT_EQ(f.find("missing"), nullptr);
}

TEST(GgufRoundTripTest, TypedGettersGiveActionableErrors) {
    const std::vector<uint8_t> bytes = small_writer().to_bytes();
    const GgufFile f = parse(bytes).value();
    EXPECT_NE(f.get_int("general.architecture").status().message().find("expected an integer"), std::string::npos);
    EXPECT_NE(f.get_int("nope").status().message().find("missing metadata key 'nope'"), std::string::npos);
    EXPECT_NE(f.get_string("llama.block_count").status().message().find("expected a string"), std::string::npos);
    EXPECT_NE(f.get_float("test.strings").status().message().find("expected a number"), std::string::npos);
    EXPECT_EQ(f.get_float("llama.block_count").value(), 2.0);  // integers read as floats
    EXPECT_EQ(f.get_int_or("general.architecture", 9), 9);
    EXPECT_EQ(f.get_string_or("llama.block_count", "x"), "x");
    EXPECT_EQ(f.get_float_or("missing", 1.5), 1.5);
    EXPECT_FALSE(f.get_bool_or("missing", false));
}

TEST(GgufRoundTripTest, TensorsHaveAlignedDataPointersAndTheirBytes) {
    GgufWriter w;
    w.set_uint32("general.alignment", 64);
    struct T {
        std::string name;
        DType dtype;
        std::vector<int64_t> shape;
    };
    const std::vector<T> specs = {{"f32", DType::kF32, {3}},          {"f16", DType::kF16, {5, 3}},
                                  {"bf16", DType::kBF16, {7, 1, 2}},  {"q4_0", DType::kQ4_0, {64, 3}},
                                  {"q4_k", DType::kQ4_K, {256, 2}},   {"q6_k", DType::kQ6_K, {512, 1, 1, 2}},
                                  {"i32", DType::kI32, {9}},          {"q8_0", DType::kQ8_0, {32, 2, 3}}};
    std::vector<std::vector<uint8_t>> payloads;
    for (size_t i = 0; i < specs.size(); ++i) {
        int64_t n = 1;
        for (int64_t d : specs[i].shape) n *= d;
        const DTypeLayout l = dtype_layout(specs[i].dtype);
        payloads.push_back(random_bytes(static_cast<size_t>(n / l.block_size * l.block_bytes), 10 + i));
        // Every other tensor is a view of the caller's bytes (add_tensor_view), the rest are copies.
        const Status added = i % 2 == 1 ? w.add_tensor_view(specs[i].name, specs[i].dtype, specs[i].shape, payloads.back())
                                        : w.add_tensor(specs[i].name, specs[i].dtype, specs[i].shape, payloads.back());
        ASSERT_TRUE(added.ok()) << added.message();
    }
    ASSERT_FALSE(w.add_tensor_view("f32", DType::kF32, {3}, payloads[0]).ok()) << "duplicate names are refused";
    GgufWriter moved = std::move(w);  // owned bytes and views both survive a move
    w = std::move(moved);
    // The file on disk (write + open, over a mapping) and in memory (to_bytes + parse) must be identical.
    const std::filesystem::path dir = FRUGAL_TEST_SCRATCH_DIR;
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "gguf_tensors.gguf").string();
    ASSERT_TRUE(w.write(path).ok());
    const std::vector<uint8_t> bytes = w.to_bytes();
    ASSERT_EQ(std::filesystem::file_size(path), bytes.size());

    Result<GgufFile> opened = GgufFile::open(path);
    ASSERT_TRUE(opened.ok()) << opened.status().message();
    Result<GgufFile> parsed = parse(bytes);
    ASSERT_TRUE(parsed.ok()) << parsed.status().message();
    for (const GgufFile* f : {&opened.value(), &parsed.value()}) {
        EXPECT_EQ(f->alignment(), 64u);
        EXPECT_EQ(f->data_offset() % 64, 0u);
        EXPECT_EQ(f->file_size(), bytes.size());
        ASSERT_EQ(f->tensors().size(), specs.size());
        const uint8_t* base = f == &parsed.value() ? bytes.data() : nullptr;
        for (size_t i = 0; i < specs.size(); ++i) {
            SCOPED_TRACE(specs[i].name);
            const GgufTensorInfo* t = f->find_tensor(specs[i].name);
            ASSERT_NE(t, nullptr);
            EXPECT_EQ(t, &f->tensors()[i]);
            EXPECT_EQ(t->dtype, specs[i].dtype);
            EXPECT_EQ(t->shape, specs[i].shape);
            EXPECT_EQ(t->size_bytes, payloads[i].size());
            EXPECT_EQ(t->offset % 64, 0u);
            EXPECT_EQ(t->rows(), t->num_elements() / specs[i].shape[0]);
            if (base != nullptr) {
                EXPECT_EQ(t->data, base + f->data_offset() + t->offset);
            }
            EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data) % 64, base != nullptr ? reinterpret_cast<uintptr_t>(base) % 64 : 0u);
            EXPECT_EQ(std::memcmp(t->data, payloads[i].data(), payloads[i].size()), 0);
        }
        EXPECT_EQ(f->find_tensor("nope"), nullptr);
    }
}

TEST(GgufRoundTripTest, AddTensorRejectsBadInput) {
    GgufWriter w;
    std::vector<uint8_t> four(4), many(18 * 2);
    EXPECT_TRUE(w.add_tensor("x", DType::kF32, {1}, four).ok());
    EXPECT_NE(w.add_tensor("x", DType::kF32, {1}, four).message().find("duplicate"), std::string::npos);
    EXPECT_FALSE(w.add_tensor("y", DType::kF32, {2}, four).ok());          // wrong byte count
    EXPECT_FALSE(w.add_tensor("z", DType::kQ4_0, {16, 2}, many).ok());     // row not a multiple of 32
    EXPECT_FALSE(w.add_tensor("q2", DType::kQ2_K, {256}, four).ok());      // unstorable type
    EXPECT_FALSE(w.add_tensor("r0", DType::kF32, {}, four).ok());          // no dimensions
    EXPECT_FALSE(w.add_tensor("r5", DType::kF32, {1, 1, 1, 1, 1}, four).ok());
    EXPECT_FALSE(w.write("/nonexistent-dir/x.gguf").ok());
}

// Every metadata type, scalar and array, built by hand, parsed, copied through copy_value into a writer, written
// and parsed again: both parses must agree value for value.
TEST(GgufRoundTripTest, CopyValueRoundTripsEveryType) {
    Raw body;
    int num_kv = 0;
    auto kv = [&](std::string_view key, GgufType t) -> Raw& {
        ++num_kv;
        return body.kv_type(key, t);
    };
    kv("u8", GgufType::kUint8).pod<uint8_t>(250);
    kv("i8", GgufType::kInt8).pod<int8_t>(-100);
    kv("u16", GgufType::kUint16).pod<uint16_t>(65000);
    kv("i16", GgufType::kInt16).pod<int16_t>(-30000);
    kv("u32", GgufType::kUint32).pod<uint32_t>(4000000000u);
    kv("i32", GgufType::kInt32).pod<int32_t>(-2000000000);
    kv("f32", GgufType::kFloat32).pod<float>(-1.25e-3f);
    kv("bool0", GgufType::kBool).pod<uint8_t>(0);
    kv("bool1", GgufType::kBool).pod<uint8_t>(1);
    kv("str", GgufType::kString).str(std::string_view("h\xc3\xa9llo\0x", 8));
    kv("u64", GgufType::kUint64).pod<uint64_t>(0xfedcba9876543210ull);  // above INT64_MAX
    kv("i64", GgufType::kInt64).pod<int64_t>(std::numeric_limits<int64_t>::min());
    kv("f64", GgufType::kFloat64).pod<double>(3.141592653589793);
    kv("arr_u8", GgufType::kArray).pod<uint32_t>(0).pod<uint64_t>(3).pod<uint8_t>(0).pod<uint8_t>(128).pod<uint8_t>(255);
    kv("arr_i16", GgufType::kArray).pod<uint32_t>(3).pod<uint64_t>(2).pod<int16_t>(-1).pod<int16_t>(32767);
    kv("arr_bool", GgufType::kArray).pod<uint32_t>(7).pod<uint64_t>(3).pod<uint8_t>(1).pod<uint8_t>(0).pod<uint8_t>(1);
    kv("arr_u64", GgufType::kArray).pod<uint32_t>(10).pod<uint64_t>(2).pod<uint64_t>(0xffffffffffffffffull).pod<uint64_t>(7);
    kv("arr_i64", GgufType::kArray).pod<uint32_t>(11).pod<uint64_t>(2).pod<int64_t>(-5).pod<int64_t>(int64_t{1} << 60);
    kv("arr_f64", GgufType::kArray).pod<uint32_t>(12).pod<uint64_t>(2).pod<double>(1e300).pod<double>(-0.1);
    kv("arr_f32", GgufType::kArray).pod<uint32_t>(6).pod<uint64_t>(1).pod<float>(2.5f);
    kv("arr_u32", GgufType::kArray).pod<uint32_t>(4).pod<uint64_t>(1).pod<uint32_t>(4294967295u);
    kv("arr_str", GgufType::kArray).pod<uint32_t>(8).pod<uint64_t>(3).str("x").str("").str("zz");
    kv("arr_empty", GgufType::kArray).pod<uint32_t>(5).pod<uint64_t>(0);
    Raw file;
    file.header(3, 0, static_cast<uint64_t>(num_kv));
    file.bytes.insert(file.bytes.end(), body.bytes.begin(), body.bytes.end());

    Result<GgufFile> first = parse(file.bytes);
    ASSERT_TRUE(first.ok()) << first.status().message();
    const GgufFile& a = first.value();
    ASSERT_EQ(a.metadata().size(), static_cast<size_t>(num_kv));
    // Spot checks of the decoding itself.
    EXPECT_EQ(a.find("u8")->int_value, 250);
    EXPECT_EQ(a.find("i8")->int_value, -100);
    EXPECT_EQ(a.find("u32")->int_value, 4000000000ll);
    EXPECT_EQ(a.find("u64")->uint_value, 0xfedcba9876543210ull);
    EXPECT_EQ(a.find("i64")->int_value, std::numeric_limits<int64_t>::min());
    EXPECT_EQ(a.find("f64")->float_value, 3.141592653589793);
    EXPECT_EQ(a.find("f32")->float_value, static_cast<double>(-1.25e-3f));
    EXPECT_EQ(a.find("str")->string_value, std::string_view("h\xc3\xa9llo\0x", 8));
    EXPECT_EQ(a.find("arr_u8")->array_int(2), 255);
    EXPECT_EQ(a.find("arr_i16")->array_int(0), -1);
    EXPECT_EQ(a.find("arr_f64")->array_float(0), 1e300);
    EXPECT_EQ(a.find("arr_u32")->array_int(0), 4294967295ll);

    GgufWriter w;
    for (const auto& [key, value] : a.metadata()) w.copy_value(key, value);
    const std::vector<uint8_t> copied = w.to_bytes();
    Result<GgufFile> second = parse(copied);
    ASSERT_TRUE(second.ok()) << second.status().message();
    const GgufFile& b = second.value();
    ASSERT_EQ(b.metadata().size(), a.metadata().size());
    for (size_t i = 0; i < a.metadata().size(); ++i) {
        const auto& [key, va] = a.metadata()[i];
        SCOPED_TRACE(key);
        ASSERT_EQ(b.metadata()[i].first, key);
        const GgufValue& vb = b.metadata()[i].second;
        ASSERT_EQ(vb.type, va.type);
        EXPECT_EQ(vb.int_value, va.int_value);
        EXPECT_EQ(vb.uint_value, va.uint_value);
        EXPECT_EQ(vb.float_value, va.float_value);
        EXPECT_EQ(vb.string_value, va.string_value);
        if (va.type != GgufType::kArray) continue;
        ASSERT_EQ(vb.array_type, va.array_type);
        ASSERT_EQ(vb.array_count, va.array_count);
        EXPECT_EQ(vb.array_strings, va.array_strings);
        if (va.array_type != GgufType::kString && va.array_count > 0) {
            // Numeric arrays: the packed little-endian payload must be byte-identical.
            const size_t elem = va.array_type == GgufType::kUint8 || va.array_type == GgufType::kInt8 ||
                                        va.array_type == GgufType::kBool
                                    ? 1
                                : va.array_type == GgufType::kUint16 || va.array_type == GgufType::kInt16 ? 2
                                : va.array_type == GgufType::kUint32 || va.array_type == GgufType::kInt32 ||
                                        va.array_type == GgufType::kFloat32
                                    ? 4
                                    : 8;
            EXPECT_EQ(std::memcmp(vb.array_data, va.array_data, elem * va.array_count), 0);
        }
    }
    // The copy is byte-identical to the hand-built original (same order, same encodings).
    EXPECT_EQ(copied.size(), (file.bytes.size() + 31) / 32 * 32);
    EXPECT_EQ(std::memcmp(copied.data(), file.bytes.data(), file.bytes.size()), 0);
}

TEST(GgufRoundTripTest, SettingAKeyTwiceKeepsOneEntryWithTheLastValue) {
    GgufWriter w;
    w.set_uint32("k", 1);
    w.set_string("k", "two");
    const std::vector<uint8_t> bytes = w.to_bytes();
    const GgufFile f = parse(bytes).value();
    EXPECT_EQ(f.metadata().size(), 1u);
    EXPECT_EQ(f.get_string("k").value(), "two");
}

// The writer must lay tensors out at the alignment the reader will use, whatever integer type carries
// general.alignment (a copied key from another file may be uint64 or int32, both accepted by the reader).
TEST(GgufRoundTripTest, AlignmentKeyOfAnyIntegerTypeIsHonoured) {
    for (GgufType t : {GgufType::kUint32, GgufType::kInt32, GgufType::kUint64}) {
        GgufValue v;
        v.type = t;
        v.int_value = 64;
        v.uint_value = 64;
        GgufWriter w;
        w.copy_value("general.alignment", v);
        const std::vector<uint8_t> a(4 * 3, 1), b(4 * 5, 2);
        ASSERT_TRUE(w.add_tensor("a", DType::kF32, {3}, a).ok());
        ASSERT_TRUE(w.add_tensor("b", DType::kF32, {5}, b).ok());
        const std::vector<uint8_t> bytes = w.to_bytes();
        Result<GgufFile> f = parse(bytes);
        ASSERT_TRUE(f.ok()) << gguf_type_name(t) << ": " << f.status().message();
        EXPECT_EQ(f->alignment(), 64u) << gguf_type_name(t);
        ASSERT_EQ(f->tensors().size(), 2u);
        EXPECT_EQ(std::memcmp(f->tensors()[1].data, b.data(), b.size()), 0) << gguf_type_name(t);
    }
}

// ---- hostile input ----

TEST(GgufMalformedTest, EveryTruncationIsAnError) {
    const std::vector<uint8_t> full = small_writer().to_bytes();
    const GgufFile f = parse(full).value();
    const GgufTensorInfo& last = f.tensors().back();
    const size_t end = f.data_offset() + last.offset + last.size_bytes;
    ASSERT_EQ(end, full.size()) << "the fixture must end with the last tensor's bytes";
    for (size_t n = 0; n < full.size(); ++n) {
        std::vector<uint8_t> prefix(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
        Result<GgufFile> r = GgufFile::parse(prefix.data(), prefix.size(), "t.gguf");
        ASSERT_FALSE(r.ok()) << "a prefix of " << n << " of " << full.size() << " bytes parsed";
        ASSERT_FALSE(r.status().message().empty()) << n;
        ASSERT_NE(r.status().message().find("t.gguf"), std::string::npos) << "error names the file: "
                                                                          << r.status().message();
    }
}

TEST(GgufMalformedTest, ByteFlipsNeverCrash) {
    const std::vector<uint8_t> full = small_writer().to_bytes();
    const size_t header_end = parse(full).value().data_offset();
    int errors = 0;
    for (size_t i = 0; i < header_end; ++i) {
        for (uint8_t v : {uint8_t{0x00}, uint8_t{0xff}, uint8_t{0x80}, static_cast<uint8_t>(full[i] ^ 1),
                          static_cast<uint8_t>(full[i] ^ 0x40), uint8_t{0x7f}}) {
            std::vector<uint8_t> copy = full;
            copy[i] = v;
            Result<GgufFile> r = GgufFile::parse(copy.data(), copy.size(), "t.gguf");
            if (!r.ok()) {
                ++errors;
                ASSERT_FALSE(r.status().message().empty());
                continue;
            }
            // Accepted: everything it describes must lie inside the buffer.
            for (const GgufTensorInfo& t : r->tensors()) {
                ASSERT_GE(t.data, copy.data());
                ASSERT_LE(t.data + t.size_bytes, copy.data() + copy.size()) << "byte " << i << " = " << int{v};
            }
            for (const auto& [key, value] : r->metadata()) {
                for (std::string_view s : value.array_strings) {
                    ASSERT_GE(reinterpret_cast<const uint8_t*>(s.data()), copy.data());
                    ASSERT_LE(reinterpret_cast<const uint8_t*>(s.data() + s.size()), copy.data() + copy.size());
                }
            }
        }
    }
    EXPECT_GT(errors, 100);  // most header bytes matter
}

TEST(GgufMalformedTest, RandomGarbageNeverCrashes) {
    std::mt19937 rng(std::random_device{}());
    for (int i = 0; i < 2000; ++i) {
        std::vector<uint8_t> bytes = random_bytes(rng() % 200, static_cast<uint32_t>(rng()));
        if (bytes.size() >= 8 && i % 2 == 0) {
            // A valid magic and version, so the parser gets past the first checks.
            const uint32_t magic = 0x46554747, version = 3;
            std::memcpy(bytes.data(), &magic, 4);
            std::memcpy(bytes.data() + 4, &version, 4);
        }
        Result<GgufFile> r = GgufFile::parse(bytes.data(), bytes.size());
        if (!r.ok()) {
            ASSERT_FALSE(r.status().message().empty());
        }
    }
}

TEST(GgufMalformedTest, EmptyAndNonexistentFiles) {
    EXPECT_TRUE(fails_with({}, "truncated"));
    Result<GgufFile> r = GgufFile::open("/nonexistent/model.gguf");
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("/nonexistent/model.gguf"), std::string::npos) << r.status().message();
}

TEST(GgufMalformedTest, BadMagic) {
    std::vector<uint8_t> bytes = small_writer().to_bytes();
    bytes[0] = 'X';
    EXPECT_TRUE(fails_with(bytes, "bad magic"));
    Raw ggml;  // an old GGML/GGJT file
    ggml.pod<uint32_t>(0x67676a74).pod<uint32_t>(3).zeros(64);
    EXPECT_TRUE(fails_with(ggml.bytes, "not a GGUF file"));
}

TEST(GgufMalformedTest, UnsupportedVersions) {
    for (uint32_t version : {0u, 1u, 4u, 0xffffffffu}) {
        Raw r;
        r.header(version, 0, 0);
        EXPECT_TRUE(fails_with(r.bytes, "unsupported GGUF version " + std::to_string(version))) << version;
    }
    Raw v2;  // version 2 is read
    v2.header(2, 0, 1).kv_u32("k", 5);
    Result<GgufFile> f = parse(v2.bytes);
    ASSERT_TRUE(f.ok()) << f.status().message();
    EXPECT_EQ(f->version(), 2u);
}

TEST(GgufMalformedTest, CountsLargerThanTheFile) {
    Raw kv;
    kv.header(3, 0, 1ull << 40).zeros(64);
    EXPECT_TRUE(fails_with(kv.bytes, "metadata count"));
    Raw t;
    t.header(3, 0xffffffffffffffffull, 0).zeros(64);
    EXPECT_TRUE(fails_with(t.bytes, "tensor count"));
    Raw arr;
    arr.header(3, 0, 1).kv_type("a", GgufType::kArray).pod<uint32_t>(4).pod<uint64_t>(1ull << 62).zeros(16);
    EXPECT_TRUE(fails_with(arr.bytes, "cannot fit"));
    Raw sarr;
    sarr.header(3, 0, 1).kv_type("a", GgufType::kArray).pod<uint32_t>(8).pod<uint64_t>(1ull << 40).zeros(16);
    EXPECT_TRUE(fails_with(sarr.bytes, "cannot fit"));
    Raw str;
    str.header(3, 0, 1).kv_type("s", GgufType::kString).pod<uint64_t>(1000).zeros(10);
    EXPECT_TRUE(fails_with(str.bytes, "length 1000"));
    Raw key;
    key.header(3, 0, 1).pod<uint64_t>(0xffffffffffffff00ull).zeros(12);
    EXPECT_TRUE(fails_with(key.bytes, "metadata key"));
}

TEST(GgufMalformedTest, BadMetadataTypesAndValues) {
    Raw bad_type;
    bad_type.header(3, 0, 1).kv_type("k", static_cast<GgufType>(13)).pod<uint32_t>(0);
    EXPECT_TRUE(fails_with(bad_type.bytes, "invalid type 13"));
    Raw nested;
    nested.header(3, 0, 1).kv_type("n", GgufType::kArray).pod<uint32_t>(9).pod<uint64_t>(1).pod<uint32_t>(4)
        .pod<uint64_t>(1).pod<uint32_t>(7);
    EXPECT_TRUE(fails_with(nested.bytes, "nested"));
    Raw bad_elem;
    bad_elem.header(3, 0, 1).kv_type("n", GgufType::kArray).pod<uint32_t>(77).pod<uint64_t>(0);
    EXPECT_TRUE(fails_with(bad_elem.bytes, "77"));
    Raw bad_bool;
    bad_bool.header(3, 0, 1).kv_type("b", GgufType::kBool).pod<uint8_t>(2);
    EXPECT_TRUE(fails_with(bad_bool.bytes, "neither 0 nor 1"));
    Raw dup;
    dup.header(3, 0, 2).kv_u32("general.x", 1).kv_u32("general.x", 2);
    EXPECT_TRUE(fails_with(dup.bytes, "duplicate metadata key 'general.x'"));
    for (uint32_t alignment : {0u, 3u, 48u, 1u << 21}) {
        Raw al;
        al.header(3, 0, 1).kv_u32("general.alignment", alignment);
        EXPECT_TRUE(fails_with(al.bytes, "power of two")) << alignment;
    }
    Raw al_str;
    al_str.header(3, 0, 1).kv_type("general.alignment", GgufType::kString).str("32");
    EXPECT_TRUE(fails_with(al_str.bytes, "general.alignment"));
}

// A file with one tensor of the given description, data section padded with 64 bytes of zeros.
std::vector<uint8_t> one_tensor(std::vector<int64_t> shape, uint32_t type, uint64_t offset, size_t data_bytes = 64) {
    Raw r;
    r.header(3, 1, 0).tensor_info("w", std::move(shape), type, offset).pad_to(32).zeros(data_bytes);
    return r.bytes;
}

TEST(GgufMalformedTest, TensorDefects) {
    // A baseline that parses, so the failures below are about the one defect each.
    ASSERT_TRUE(parse(one_tensor({16}, 0, 0)).ok());
    EXPECT_TRUE(fails_with(one_tensor({16}, 0, 32), "extends past end of file"));       // 32 + 64 > 64
    EXPECT_TRUE(fails_with(one_tensor({17}, 0, 0), "extends past end of file"));        // 68 bytes > 64
    EXPECT_TRUE(fails_with(one_tensor({16}, 0, 1ull << 63), "extends past end of file"));
    EXPECT_TRUE(fails_with(one_tensor({16}, 0, 0xffffffffffffffe0ull), "extends past end of file"));
    EXPECT_TRUE(fails_with(one_tensor({4}, 0, 8), "not a multiple of the alignment 32"));
    EXPECT_TRUE(fails_with(one_tensor({256}, 10, 0), "unsupported type 10 (Q2_K)"));
    EXPECT_TRUE(fails_with(one_tensor({256}, 11, 0), "unsupported type 11"));
    EXPECT_TRUE(fails_with(one_tensor({32}, 9, 0), "unsupported type 9"));  // Q8_1 is an activation format only
    EXPECT_TRUE(fails_with(one_tensor({16}, 27, 0), "unsupported type 27"));  // I64
    EXPECT_TRUE(fails_with(one_tensor({16}, 4, 0), "unsupported type 4"));
    EXPECT_TRUE(fails_with(one_tensor({16}, 40, 0), "unsupported type 40"));
    EXPECT_TRUE(fails_with(one_tensor({16}, 0xffffffffu, 0), "unsupported type"));
    EXPECT_TRUE(fails_with(one_tensor({48}, 2, 0), "not a multiple of the block size 32"));  // Q4_0 row of 48
    EXPECT_TRUE(fails_with(one_tensor({}, 0, 0), "0 dimensions"));
    EXPECT_TRUE(fails_with(one_tensor({1, 1, 1, 1, 1}, 0, 0), "5 dimensions"));
    EXPECT_TRUE(fails_with(one_tensor({-4}, 0, 0), "invalid dimension"));
    EXPECT_TRUE(fails_with(one_tensor({1ll << 40, 1ll << 40}, 0, 0), "invalid dimension"));  // product overflows
    Raw dup;
    dup.header(3, 2, 0).tensor_info("w", {8}, 0, 0).tensor_info("w", {8}, 0, 32).pad_to(32).zeros(64);
    EXPECT_TRUE(fails_with(dup.bytes, "duplicate tensor name 'w'"));
    // A tensor info cut short after its name.
    Raw cut;
    cut.header(3, 1, 0).str("w").pod<uint32_t>(2).pod<int64_t>(8);
    cut.zeros(32 - cut.bytes.size() % 32);
    EXPECT_FALSE(parse(cut.bytes).ok());
}

TEST(GgufMalformedTest, ZeroSizedTensorAtEndOfFileIsAccepted) {
    // Edge, not a defect: a tensor with a zero dimension occupies no bytes and may sit exactly at the end.
    Raw r;
    r.header(3, 1, 0).tensor_info("empty", {0, 4}, 0, 0).pad_to(32);
    Result<GgufFile> f = parse(r.bytes);
    ASSERT_TRUE(f.ok()) << f.status().message();
    EXPECT_EQ(f->tensors()[0].size_bytes, 0u);
}

}  // namespace
}  // namespace frugal
