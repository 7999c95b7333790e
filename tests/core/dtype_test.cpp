// DType: GGML type ids, block layouts, names (and their case-insensitive lookup), row sizes; Tensor views.
#include <gtest/gtest.h>

#include <string>

#include "core/dtype.h"
#include "core/tensor.h"

namespace frugal {
namespace {

struct LayoutCase {
    DType dtype;
    uint32_t ggml_id;
    const char* name;
    int64_t block_size;
    int64_t block_bytes;
};

// Ids, names and geometry as ggml defines them (ggml.h / ggml.c type_traits).
constexpr LayoutCase kLayouts[] = {
    {DType::kF32, 0, "F32", 1, 4},       {DType::kF16, 1, "F16", 1, 2},       {DType::kQ4_0, 2, "Q4_0", 32, 18},
    {DType::kQ4_1, 3, "Q4_1", 32, 20},   {DType::kQ5_0, 6, "Q5_0", 32, 22},   {DType::kQ5_1, 7, "Q5_1", 32, 24},
    {DType::kQ8_0, 8, "Q8_0", 32, 34},   {DType::kQ8_1, 9, "Q8_1", 32, 36},   {DType::kQ4_K, 12, "Q4_K", 256, 144},
    {DType::kQ5_K, 13, "Q5_K", 256, 176}, {DType::kQ6_K, 14, "Q6_K", 256, 210}, {DType::kQ8_K, 15, "Q8_K", 256, 292},
    {DType::kI8, 24, "I8", 1, 1},        {DType::kI16, 25, "I16", 1, 2},      {DType::kI32, 26, "I32", 1, 4},
    {DType::kF64, 28, "F64", 1, 8},      {DType::kBF16, 30, "BF16", 1, 2},
};

TEST(DTypeTest, IdsNamesAndLayoutsMatchGgml) {
    for (const LayoutCase& c : kLayouts) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(static_cast<uint32_t>(c.dtype), c.ggml_id);
        EXPECT_EQ(dtype_name(c.dtype), c.name);
        const DTypeLayout l = dtype_layout(c.dtype);
        EXPECT_EQ(l.block_size, c.block_size);
        EXPECT_EQ(l.block_bytes, c.block_bytes);
        EXPECT_EQ(dtype_is_quantized(c.dtype), c.block_size > 1);
        EXPECT_EQ(dtype_row_bytes(c.dtype, 4096), 4096 / c.block_size * c.block_bytes);
        ASSERT_TRUE(dtype_from_name(c.name).has_value());
        EXPECT_EQ(*dtype_from_name(c.name), c.dtype);
    }
}

TEST(DTypeTest, UnstorableTypesHaveNoLayout) {
    for (DType t : {DType::kQ2_K, DType::kQ3_K, DType::kI64}) {
        EXPECT_EQ(dtype_layout(t).block_size, 0) << dtype_name(t);
        EXPECT_FALSE(dtype_is_quantized(t));
    }
    EXPECT_EQ(dtype_name(DType::kQ2_K), "Q2_K");
    EXPECT_EQ(dtype_name(DType::kQ3_K), "Q3_K");
    // Ids that ggml removed (4, 5: Q4_2, Q4_3) or never had.
    for (uint32_t id : {4u, 5u, 16u, 23u, 29u, 31u, 39u, 1000u}) {
        EXPECT_EQ(dtype_layout(static_cast<DType>(id)).block_size, 0) << id;
        EXPECT_EQ(dtype_name(static_cast<DType>(id)), "unknown") << id;
    }
}

TEST(DTypeTest, NameLookupIsCaseInsensitiveAndExact) {
    EXPECT_EQ(dtype_from_name("q4_k"), DType::kQ4_K);
    EXPECT_EQ(dtype_from_name("Q4_k"), DType::kQ4_K);
    EXPECT_EQ(dtype_from_name("bf16"), DType::kBF16);
    EXPECT_EQ(dtype_from_name("f32"), DType::kF32);
    EXPECT_FALSE(dtype_from_name("").has_value());
    EXPECT_FALSE(dtype_from_name("Q4").has_value());
    EXPECT_FALSE(dtype_from_name("Q4_K_M").has_value());
    EXPECT_FALSE(dtype_from_name("F3").has_value());
    EXPECT_FALSE(dtype_from_name("F32 ").has_value());
    EXPECT_FALSE(dtype_from_name("unknown").has_value());
}

TEST(TensorTest, ShapeRowsAndViews) {
    float data[2 * 3 * 4] = {};
    Tensor t(data, DType::kF32, {4, 3, 2});
    EXPECT_EQ(t.cols(), 4);
    EXPECT_EQ(t.rows(), 6);
    EXPECT_EQ(t.num_elements(), 24);
    EXPECT_EQ(t.row_bytes(), 16);
    EXPECT_EQ(t.size_bytes(), 96);
    EXPECT_EQ(t.shape[3], 1);
    EXPECT_EQ(t.row(5), reinterpret_cast<uint8_t*>(data) + 80);
    const Tensor v = t.rows_view(2, 3);
    EXPECT_EQ(v.data, data + 8);
    EXPECT_EQ(v.cols(), 4);
    EXPECT_EQ(v.rows(), 3);
    const Tensor r = t.reshaped({12, 2});
    EXPECT_EQ(r.cols(), 12);
    EXPECT_EQ(r.rows(), 2);
    EXPECT_EQ(r.data, t.data);

    uint8_t q[2 * 144] = {};
    Tensor qt(q, DType::kQ4_K, {256, 2});
    EXPECT_EQ(qt.row_bytes(), 144);
    EXPECT_EQ(qt.size_bytes(), 288);
    EXPECT_EQ(qt.row(1), q + 144);
}

TEST(TensorDeathTest, ReshapeToADifferentCountAborts) {
    float data[8] = {};
    Tensor t(data, DType::kF32, {8});
    EXPECT_DEATH(t.reshaped({3, 3}), "CHECK failed");
    EXPECT_DEATH(Tensor(data, DType::kF32, {1, 1, 1, 1, 1}), "tensor rank 5");
}

}  // namespace
}  // namespace frugal
