// Op conformance of the CUDA backend: every Backend op on the GPU against the CPU's scalar reference ops
// (reference_ops.h) or the dtype's reference dequantizer, over the dtypes and shapes the kernels special-case
// (token counts on both sides of the matrix-vector / GEMM switch, head dims per register tiling, split-KV decode),
// plus the fused products (matmul_shared_input, matmul_glu, matmul_add), a run of products over one input buffer
// changed in between (whatever the backend keeps between products must follow the buffer), and run_graph.
//
// Every case draws fresh random inputs: the seed comes from std::random_device (or FRUGAL_TEST_SEED to replay) and
// is printed with any failure. Every buffer an op touches lives in its own device allocation with poisoned NaN
// words before and after it (an op that writes out of bounds changes them) and, for outputs, a poisoned body
// (an element the op leaves unwritten still holds the poison). Without a GPU every test reports itself skipped.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "backend/cpu/reference/reference_ops.h"
#include "backend/cuda/cuda_backend.h"
#include "core/half.h"
#include "quant/quant_traits.h"

namespace frugal {
namespace {

// ---- error thresholds ----

// rms_norm: the GPU's normalizing factor may differ from the reference's (double sum of squares, double 1/sqrt) by
// a few float ulps (summation order and precision, a float rsqrt); the result by a few more roundings.
constexpr double kRmsNormRel = 2e-6;
// rope: both sides compute the angle in double and rotate with float cos/sin; the GPU may contract
// x0 * cos - x1 * sin into an FMA and its double pow/cos/sin may differ from glibc's by a double ulp, which moves
// the float cos/sin by at most one ulp. Relative to |x0| + |x1| of the pair. Dimensions past n_rot: bit-exact.
constexpr double kRopeRel = 5e-7;
// glu: CUDA's expf/tanhf are within 2 ulp, glibc's within 1: a few float ulps of the result, plus gelu's 1 + tanh(u),
// which cancels for negative gates: 3 ulps of tanh near -1 (2^-24 each) times 0.5 |gate * up|.
constexpr double kGluRel = 2e-6;
constexpr double kGluCancel = 2e-7;
// attention: float scores and an online softmax with __expf (a few ulps) against the reference's double scores and
// softmax; outputs are convex combinations of V rows, so the bound scales with max |v|.
constexpr double kAttentionRel = 1e-4;
// matmul float rounding, relative to the sum of the magnitudes of the products (and of the per-block offset terms
// the quantized kernels subtract): float accumulation errors grow like sqrt(K) * 2^-24 for random-sign terms,
// about 3e-6 at K = 4096; 1e-5 leaves room while a wrong element or block scale still shows.
constexpr double kMatmulRel = 1e-5;
constexpr double kMatmulAbs = 1e-6;
// Activations quantized per 32 values to int8 with scale d = amax / 127 (n <= 16 tokens, quantized weights): half
// a step per element, plus the float rounding of x / d before rounding to an integer (a few 2^-24 of 127 steps).
constexpr double kInt8StepError = (0.5 + 1e-4) / 127.0;
// BF16 operands of the tensor-core path (n > 16, weights other than F32): round-to-nearest to 8 significant bits is
// within 2^-8 relative, on the activations and on the dequantized weights (BF16 weights: already exact); the GPU's
// dequantized weight may be a float ulp (2^-23) off the reference's before that rounding (FMA contraction).
constexpr double kBf16Rel = 1.0 / 256.0 + 1.0 / (1 << 23);

constexpr uint32_t kPoisonBits = 0xffc0beefu;  // a negative quiet NaN with a payload no op produces
constexpr int64_t kGuardBytes = 256;           // before and after every buffer; keeps the body 256-byte aligned

// The token count up to which matmul takes the matrix-vector kernels (CudaBackendOptions::max_matvec_tokens).
constexpr int64_t kMaxMatvecTokens = 16;

// ---- seed ----

uint32_t base_seed() {
    static const uint32_t seed = [] {
        if (const char* s = std::getenv("FRUGAL_TEST_SEED")) return static_cast<uint32_t>(std::strtoul(s, nullptr, 0));
        return static_cast<uint32_t>(std::random_device{}());
    }();
    return seed;
}

// ---- guarded device buffers ----

uint8_t poison_byte(int64_t offset) { return static_cast<uint8_t>(kPoisonBits >> (8 * (offset % 4))); }

// A buffer's whole allocation (guard, body, guard) copied back to the host after an op.
struct Snapshot {
    std::vector<uint8_t> all;
    int64_t bytes = 0;  // of the body

    const uint8_t* body() const { return all.data() + kGuardBytes; }
    float f32(int64_t i) const {
        float f;
        std::memcpy(&f, body() + 4 * i, 4);
        return f;
    }
    bool f32_is_poison(int64_t i) const {
        uint32_t u;
        std::memcpy(&u, body() + 4 * i, 4);
        return u == kPoisonBits;
    }
    ::testing::AssertionResult guards_intact() const {
        for (int64_t i = 0; i < kGuardBytes; ++i) {
            if (all[static_cast<size_t>(i)] != poison_byte(i)) {
                return ::testing::AssertionFailure() << "write " << (kGuardBytes - i) << " bytes before the buffer";
            }
            const int64_t j = kGuardBytes + bytes + i;
            if (all[static_cast<size_t>(j)] != poison_byte(j)) {
                return ::testing::AssertionFailure() << "write " << i << " bytes past the end of the buffer";
            }
        }
        return ::testing::AssertionSuccess();
    }
};

// `bytes` of device memory in an allocation of its own, with kGuardBytes of poison on each side. The body starts
// poisoned too (the pattern runs on from the guard, so every F32 element of the body reads as the poison NaN);
// upload() overwrites the part an op reads.
class GuardedBuffer {
  public:
    GuardedBuffer(Backend& backend, int64_t bytes)
        : backend_(&backend), bytes_(bytes), storage_(backend.allocate(static_cast<size_t>(bytes + 2 * kGuardBytes))) {
        poison();
    }

    void* data() const { return static_cast<uint8_t*>(storage_->data()) + kGuardBytes; }
    int64_t bytes() const { return bytes_; }
    Tensor tensor(DType dtype, std::initializer_list<int64_t> shape) const {
        Tensor t(data(), dtype, shape);
        CHECK(t.size_bytes() <= bytes_) << "tensor of " << t.size_bytes() << " bytes in a buffer of " << bytes_;
        return t;
    }
    void upload(const void* src, size_t n) {
        CHECK(static_cast<int64_t>(n) <= bytes_);
        backend_->copy_to_device(Tensor(data(), DType::kI8, {static_cast<int64_t>(n)}), src, n);
    }
    template <typename T>
    void upload(const std::vector<T>& v) {
        upload(v.data(), v.size() * sizeof(T));
    }
    // Poisons guards and body again (before an op whose output must be written in full).
    void poison() {
        const int64_t total = bytes_ + 2 * kGuardBytes;
        std::vector<uint8_t> p(static_cast<size_t>(total));
        for (int64_t i = 0; i < total; ++i) p[static_cast<size_t>(i)] = poison_byte(i);
        backend_->copy_to_device(Tensor(storage_->data(), DType::kI8, {total}), p.data(), p.size());
    }
    Snapshot snapshot() const {
        Snapshot s;
        s.bytes = bytes_;
        s.all.resize(static_cast<size_t>(bytes_ + 2 * kGuardBytes));
        backend_->copy_to_host(s.all.data(), Tensor(storage_->data(), DType::kI8, {bytes_ + 2 * kGuardBytes}),
                               s.all.size());
        return s;
    }

  private:
    Backend* backend_;
    int64_t bytes_;
    std::unique_ptr<DeviceBuffer> storage_;
};

template <typename T>
std::unique_ptr<GuardedBuffer> upload_new(Backend& be, const std::vector<T>& v) {
    auto b = std::make_unique<GuardedBuffer>(be, static_cast<int64_t>(v.size() * sizeof(T)));
    b->upload(v);
    return b;
}

// ---- helpers ----

std::vector<float> normal_floats(std::mt19937& rng, int64_t n, float scale) {
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& f : v) f = dist(rng);
    return v;
}

// Compares the first want.size() F32 elements of out with |got - want| <= tol[i]; rejects NaN/Inf and unwritten
// (still poisoned) elements.
::testing::AssertionResult all_close(const Snapshot& out, const std::vector<double>& want,
                                     const std::vector<double>& tol, const std::string& against) {
    int failures = 0;
    ::testing::AssertionResult r = ::testing::AssertionFailure();
    for (size_t i = 0; i < want.size(); ++i) {
        const auto e = static_cast<int64_t>(i);
        const float got = out.f32(e);
        std::string why;
        if (out.f32_is_poison(e)) {
            why = "not written";
        } else if (!std::isfinite(got)) {
            why = "not finite";
        } else if (!(std::fabs(got - want[i]) <= tol[i])) {
            why = "off by " + std::to_string(std::fabs(got - want[i]));
        } else {
            continue;
        }
        if (++failures <= 5) {
            r << "\n  [" << i << "] got " << got << ", " << against << " " << want[i] << ", tolerance " << tol[i]
              << ": " << why;
        }
    }
    if (failures == 0) return ::testing::AssertionSuccess();
    return r << "\n  " << failures << " of " << want.size() << " elements differ from " << against;
}

std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }
std::vector<double> uniform_tol(size_t n, double t) { return std::vector<double>(n, t); }
std::vector<double> rel_tol(const std::vector<double>& want, double rel, double abs) {
    std::vector<double> t(want.size());
    for (size_t i = 0; i < want.size(); ++i) t[i] = rel * std::fabs(want[i]) + abs;
    return t;
}

// Quantizes rows of floats into `dtype` with its reference quantizer; *deq receives the dequantized values.
std::vector<uint8_t> quantize_rows(DType dtype, const std::vector<float>& src, int64_t cols, int64_t rows,
                                   std::vector<float>* deq) {
    const QuantTraits& qt = quant_traits(dtype);
    const int64_t row_bytes = dtype_row_bytes(dtype, cols);
    std::vector<uint8_t> q(static_cast<size_t>(row_bytes * rows));
    deq->assign(src.size(), 0.0f);
    for (int64_t r = 0; r < rows; ++r) {
        qt.quantize_row(src.data() + r * cols, q.data() + r * row_bytes, cols);
        qt.dequantize_row(q.data() + r * row_bytes, deq->data() + r * cols, cols);
    }
    return q;
}

// ---- the case table ----

struct OpCase {
    std::string name;
    // Builds inputs from rng, runs the op on the backend and checks it with gtest assertions.
    std::function<void(Backend& backend, std::mt19937& rng)> run;
};

// get_rows: the GPU keeps the file's bits (or expands Q4_1/Q5_1 to F32 exactly), so rows are bit-exact against the
// dtype's reference dequantizer. `placed`: the table is a weight (place_weight, which repacks); otherwise an F32
// activation buffer (the model gathers the logits rows from its hidden states this way).
void check_get_rows(Backend& be, std::mt19937& rng, DType dtype, int64_t d, int64_t rows, int64_t n, bool placed) {
    const std::vector<float> src = normal_floats(rng, d * rows, 1.0f);
    std::vector<float> deq;
    const std::vector<uint8_t> table = quantize_rows(dtype, src, d, rows, &deq);
    std::unique_ptr<GuardedBuffer> table_buf;
    Tensor table_t;
    if (placed) {
        Result<Tensor> w = be.place_weight(fmt::format("get_rows.{}.{}x{}", dtype_name(dtype), rows, d), dtype,
                                           {d, rows}, table.data());
        ASSERT_TRUE(w.ok()) << w.status().message();
        table_t = w.value();
    } else {
        CHECK(dtype == DType::kF32) << "activation tables are F32";
        table_buf = upload_new(be, table);
        table_t = table_buf->tensor(DType::kF32, {d, rows});
    }

    std::vector<int32_t> ids(static_cast<size_t>(n));
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(rows - 1));
    for (int32_t& id : ids) id = pick(rng);
    ids.front() = static_cast<int32_t>(rows - 1);  // the last row, the first, and a repeat
    if (n > 2) ids[1] = 0;
    if (n > 3) ids[2] = ids[1];
    auto ids_buf = upload_new(be, ids);
    GuardedBuffer out(be, n * d * 4);

    be.get_rows(table_t, ids_buf->tensor(DType::kI32, {n}), out.tensor(DType::kF32, {d, n}));
    const Snapshot got = out.snapshot();
    ASSERT_TRUE(got.guards_intact());
    ASSERT_TRUE(ids_buf->snapshot().guards_intact());
    if (table_buf) {
        ASSERT_TRUE(table_buf->snapshot().guards_intact());
    }

    std::vector<double> want(static_cast<size_t>(n * d));
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < d; ++j) want[i * d + j] = deq[static_cast<size_t>(ids[i]) * d + j];
    }
    ASSERT_TRUE(all_close(got, want, uniform_tol(want.size(), 0.0), "dequantize_row"));
}

void check_rms_norm(Backend& be, std::mt19937& rng, int64_t d, int64_t rows, float magnitude, bool in_place) {
    const float eps = 1e-5f;
    const std::vector<float> x = normal_floats(rng, d * rows, magnitude);
    const std::vector<float> w = normal_floats(rng, d, 1.0f);
    auto xbuf = upload_new(be, x);
    auto wbuf = upload_new(be, w);
    GuardedBuffer obuf(be, d * rows * 4);
    GuardedBuffer& out = in_place ? *xbuf : obuf;
    be.rms_norm(xbuf->tensor(DType::kF32, {d, rows}), wbuf->tensor(DType::kF32, {d}), eps,
                out.tensor(DType::kF32, {d, rows}));
    const Snapshot got = out.snapshot();
    ASSERT_TRUE(xbuf->snapshot().guards_intact());
    ASSERT_TRUE(wbuf->snapshot().guards_intact());
    ASSERT_TRUE(obuf.snapshot().guards_intact());
    if (!in_place) {
        ASSERT_EQ(std::memcmp(xbuf->snapshot().body(), x.data(), x.size() * 4), 0) << "rms_norm modified its input";
    }

    std::vector<float> ref(x.size());
    reference::rms_norm(x.data(), w.data(), eps, d, 0, rows, ref.data());
    const std::vector<double> want = to_double(ref);
    ASSERT_TRUE(all_close(got, want, rel_tol(want, kRmsNormRel, 1e-30), "reference::rms_norm"));
}

// Which arithmetic the GPU's matmul uses for a weight dtype and token count (cuda_backend.cu, matmul()).
enum class MatmulPath { kInt8Activations, kFloat, kBf16 };

MatmulPath matmul_path(DType dtype, int64_t n) {
    // Q4_1 / Q5_1 have no GPU kernel: they are placed as F32.
    const bool f32_on_gpu = dtype == DType::kF32 || dtype == DType::kQ4_1 || dtype == DType::kQ5_1;
    const bool float_weights = f32_on_gpu || dtype == DType::kF16 || dtype == DType::kBF16;
    if (n <= kMaxMatvecTokens) return float_weights ? MatmulPath::kFloat : MatmulPath::kInt8Activations;
    return f32_on_gpu ? MatmulPath::kFloat : MatmulPath::kBf16;
}

// A weight quantized from random floats and placed on the backend, with what checking products needs.
struct PlacedWeight {
    DType dtype = DType::kF32;
    int64_t in = 0, out = 0;
    Tensor tensor;
    std::vector<float> deq;  // [out, in] the reference dequantization
    // Largest |w| of each weight's 32-block: bounds the offset terms (Q4_0's -8, K-quant mins, Q6_K's -32) that
    // the int8 kernels subtract per block, whose float rounding counts as well.
    std::vector<double> block_max;  // [out, in]
};

void place_random_weight(Backend& be, std::mt19937& rng, DType dtype, int64_t in, int64_t out, PlacedWeight* w) {
    w->dtype = dtype;
    w->in = in;
    w->out = out;
    const std::vector<uint8_t> bytes = quantize_rows(dtype, normal_floats(rng, in * out, 0.5f), in, out, &w->deq);
    static int counter = 0;  // names only label error messages, but keep them distinct
    Result<Tensor> placed = be.place_weight(fmt::format("w{}.{}.{}x{}", counter++, dtype_name(dtype), out, in), dtype,
                                            {in, out}, bytes.data());
    ASSERT_TRUE(placed.ok()) << placed.status().message();
    w->tensor = placed.value();
    w->block_max.assign(w->deq.size(), 0.0);
    for (int64_t o = 0; o < out; ++o) {
        for (int64_t b = 0; b < in; b += 32) {
            const int64_t e = std::min<int64_t>(b + 32, in);
            double m = 0;
            for (int64_t i = b; i < e; ++i) m = std::max(m, std::fabs(double{w->deq[o * in + i]}));
            for (int64_t i = b; i < e; ++i) w->block_max[o * in + i] = m;
        }
    }
}

// What y = x * w^T for n tokens of activations x (the floats the device buffer held) should be, two ways:
//  (1) want/loose: the double product of the dequantized weights and the float activations, with a bound derived
//      from the activation (and, for BF16, weight) rounding of the path the GPU takes;
//  (2) exact_q/tight, for the int8 path: the double product with the activations quantized exactly as the GPU does
//      (q = round(x / d), d = amax / 127 in float), where only float rounding remains: catches small errors
//      (a wrong scale for one block, stale quantized activations) that the loose bound of (1) would absorb.
struct MatmulExpectation {
    MatmulPath path = MatmulPath::kFloat;
    std::vector<double> want, loose, exact_q, tight;  // [n, out]
};

MatmulExpectation expect_matmul(const PlacedWeight& w, const std::vector<float>& x, int64_t n) {
    const int64_t in = w.in, out = w.out;
    CHECK(static_cast<int64_t>(x.size()) >= n * in);
    MatmulExpectation e;
    e.path = matmul_path(w.dtype, n);
    // Per-element activation error bound x_err and, for the int8 path, the activations the GPU multiplies.
    std::vector<double> x_err(static_cast<size_t>(n * in), 0.0);
    std::vector<float> x_q(x.begin(), x.begin() + n * in);
    if (e.path == MatmulPath::kInt8Activations) {
        for (int64_t t = 0; t < n; ++t) {
            for (int64_t b = 0; b < in; b += 32) {
                float amax = 0;
                for (int64_t i = b; i < b + 32; ++i) amax = std::max(amax, std::fabs(x[t * in + i]));
                const float scale = amax / 127.0f;
                for (int64_t i = b; i < b + 32; ++i) {
                    x_err[t * in + i] = amax * kInt8StepError;
                    const float q = amax == 0.0f ? 0.0f : std::nearbyint(x[t * in + i] / scale);
                    x_q[t * in + i] = q * scale;
                }
            }
        }
    } else if (e.path == MatmulPath::kBf16) {
        for (size_t i = 0; i < x_err.size(); ++i) x_err[i] = std::fabs(x[i]) * kBf16Rel;
    }
    const double w_rel = e.path == MatmulPath::kBf16 && w.dtype != DType::kBF16 ? kBf16Rel : 0.0;

    const auto size = static_cast<size_t>(n * out);
    e.want.resize(size);
    e.loose.resize(size);
    e.exact_q.resize(size);
    e.tight.resize(size);
    for (int64_t t = 0; t < n; ++t) {
        for (int64_t o = 0; o < out; ++o) {
            double s = 0, sq = 0, err = 0, mag = 0, mag_q = 0;
            for (int64_t i = 0; i < in; ++i) {
                const double wi = w.deq[o * in + i];
                const double xi = x[t * in + i];
                const double ei = x_err[t * in + i];
                s += wi * xi;
                sq += wi * x_q[t * in + i];
                // |w'x' - wx| <= |w| ex + ew |x| + ew ex, with ew = w_rel |w|.
                err += std::fabs(wi) * ei + w_rel * std::fabs(wi) * (std::fabs(xi) + ei);
                const double wm =
                    e.path == MatmulPath::kInt8Activations ? std::fabs(wi) + w.block_max[o * in + i] : std::fabs(wi);
                mag += wm * (std::fabs(xi) + ei);
                mag_q += wm * std::fabs(double{x_q[t * in + i]});
            }
            const auto k = static_cast<size_t>(t * out + o);
            e.want[k] = s;
            e.loose[k] = err + kMatmulRel * mag + kMatmulAbs;
            e.exact_q[k] = sq;
            e.tight[k] = kMatmulRel * mag_q + kMatmulAbs;
        }
    }
    return e;
}

// Checks a product's output against expect_matmul: the loose bound always, the tight one on the int8 path.
void verify_matmul(const Snapshot& got, const PlacedWeight& w, const std::vector<float>& x, int64_t n) {
    ASSERT_TRUE(got.guards_intact());
    const MatmulExpectation e = expect_matmul(w, x, n);
    ASSERT_TRUE(all_close(got, e.want, e.loose, "double product of the unquantized activations"));
    if (e.path == MatmulPath::kInt8Activations) {
        ASSERT_TRUE(all_close(got, e.exact_q, e.tight, "double product of the int8-quantized activations"));
    }
}

// Activations for a product test: normal with an all-zero 32-block and an outlier (300) in the next block of one row.
std::vector<float> product_activations(std::mt19937& rng, int64_t in, int64_t n) {
    std::vector<float> x = normal_floats(rng, in * n, 2.0f);
    const int64_t r = n > 1 ? 1 : 0;
    for (int64_t i = 0; i < std::min<int64_t>(32, in); ++i) x[r * in + i] = 0.0f;
    if (in > 40) x[r * in + 40] = 300.0f;
    return x;
}

// matmul for every token count in ns with one placed weight.
void check_matmul(Backend& be, std::mt19937& rng, DType dtype, int64_t in, int64_t out,
                  const std::vector<int64_t>& ns) {
    PlacedWeight w;
    place_random_weight(be, rng, dtype, in, out, &w);
    if (::testing::Test::HasFatalFailure()) return;
    for (int64_t n : ns) {
        SCOPED_TRACE(fmt::format("n = {} tokens", n));
        const std::vector<float> x = product_activations(rng, in, n);
        auto xbuf = upload_new(be, x);
        GuardedBuffer y(be, n * out * 4);
        be.matmul(w.tensor, xbuf->tensor(DType::kF32, {in, n}), y.tensor(DType::kF32, {out, n}));
        const Snapshot got = y.snapshot();
        const Snapshot x_after = xbuf->snapshot();
        ASSERT_TRUE(x_after.guards_intact());
        ASSERT_EQ(std::memcmp(x_after.body(), x.data(), x.size() * 4), 0) << "matmul modified its input x";
        verify_matmul(got, w, x, n);
        if (::testing::Test::HasFatalFailure()) return;
    }
}

// matmul_shared_input: ys[i] = ws[i] x for weights of the given dtypes (same input width), for each n. The
// backend may fuse them into one launch (same format, up to three) or fall back to separate products.
void check_matmul_shared_input(Backend& be, std::mt19937& rng, const std::vector<DType>& dtypes, int64_t in,
                               const std::vector<int64_t>& outs, const std::vector<int64_t>& ns) {
    CHECK_EQ(dtypes.size(), outs.size());
    const auto count = static_cast<int>(dtypes.size());
    std::vector<PlacedWeight> ws(dtypes.size());
    std::vector<Tensor> w_tensors;
    for (int i = 0; i < count; ++i) {
        place_random_weight(be, rng, dtypes[i], in, outs[i], &ws[i]);
        if (::testing::Test::HasFatalFailure()) return;
        w_tensors.push_back(ws[i].tensor);
    }
    for (int64_t n : ns) {
        SCOPED_TRACE(fmt::format("n = {} tokens", n));
        const std::vector<float> x = product_activations(rng, in, n);
        auto xbuf = upload_new(be, x);
        std::vector<std::unique_ptr<GuardedBuffer>> ys;
        std::vector<Tensor> y_tensors;
        for (int i = 0; i < count; ++i) {
            ys.push_back(std::make_unique<GuardedBuffer>(be, n * outs[i] * 4));
            y_tensors.push_back(ys.back()->tensor(DType::kF32, {outs[i], n}));
        }
        be.matmul_shared_input(w_tensors.data(), y_tensors.data(), count, xbuf->tensor(DType::kF32, {in, n}));
        const Snapshot x_after = xbuf->snapshot();
        ASSERT_TRUE(x_after.guards_intact());
        ASSERT_EQ(std::memcmp(x_after.body(), x.data(), x.size() * 4), 0) << "the product modified its input x";
        for (int i = 0; i < count; ++i) {
            SCOPED_TRACE(fmt::format("product {} of {} ({})", i, count, dtype_name(dtypes[i])));
            verify_matmul(ys[i]->snapshot(), ws[i], x, n);
            if (::testing::Test::HasFatalFailure()) return;
        }
    }
}

// matmul_glu: out = act(w_gate x) * (w_up x). The expected value and bound come from the two products' (loose and
// tight) expectations carried through act: |act'| <= kGluSlope for silu and tanh-gelu, so
// |act(g') u' - act(g) u| <= kGluSlope dg (|u| + du) + |act(g)| du, plus the glu's own float rounding.
constexpr double kGluSlope = 1.2;  // max |silu'| = 1.0998, max |gelu_tanh'| = 1.129

double glu_activation(GluKind kind, double g) {
    if (kind == GluKind::kSilu) return g / (1.0 + std::exp(-g));
    return 0.5 * g * (1.0 + std::tanh(std::sqrt(2.0 / 3.14159265358979323846) * (g + 0.044715 * g * g * g)));
}

void check_matmul_glu(Backend& be, std::mt19937& rng, DType dtype, int64_t in, int64_t ffn, GluKind kind,
                      bool out_is_gate, const std::vector<int64_t>& ns) {
    PlacedWeight wg, wu;
    place_random_weight(be, rng, dtype, in, ffn, &wg);
    place_random_weight(be, rng, dtype, in, ffn, &wu);
    if (::testing::Test::HasFatalFailure()) return;
    for (int64_t n : ns) {
        SCOPED_TRACE(fmt::format("n = {} tokens", n));
        const std::vector<float> x = product_activations(rng, in, n);
        auto xbuf = upload_new(be, x);
        GuardedBuffer gate(be, n * ffn * 4), up(be, n * ffn * 4), obuf(be, n * ffn * 4);
        GuardedBuffer& out = out_is_gate ? gate : obuf;
        be.matmul_glu(wg.tensor, wu.tensor, xbuf->tensor(DType::kF32, {in, n}), kind,
                      gate.tensor(DType::kF32, {ffn, n}), up.tensor(DType::kF32, {ffn, n}),
                      out.tensor(DType::kF32, {ffn, n}));
        const Snapshot got = out.snapshot();
        ASSERT_TRUE(gate.snapshot().guards_intact());
        ASSERT_TRUE(up.snapshot().guards_intact());
        ASSERT_TRUE(obuf.snapshot().guards_intact());
        const Snapshot x_after = xbuf->snapshot();
        ASSERT_TRUE(x_after.guards_intact());
        ASSERT_EQ(std::memcmp(x_after.body(), x.data(), x.size() * 4), 0) << "the product modified its input x";

        const MatmulExpectation eg = expect_matmul(wg, x, n), eu = expect_matmul(wu, x, n);
        const bool quantized = eg.path == MatmulPath::kInt8Activations;
        for (int pass = 0; pass < (quantized ? 2 : 1); ++pass) {
            const std::vector<double>& g = pass == 0 ? eg.want : eg.exact_q;
            const std::vector<double>& u = pass == 0 ? eu.want : eu.exact_q;
            const std::vector<double>& dg = pass == 0 ? eg.loose : eg.tight;
            const std::vector<double>& du = pass == 0 ? eu.loose : eu.tight;
            std::vector<double> want(g.size()), tol(g.size());
            for (size_t i = 0; i < g.size(); ++i) {
                const double a = glu_activation(kind, g[i]);
                want[i] = a * u[i];
                tol[i] = kGluSlope * dg[i] * (std::fabs(u[i]) + du[i]) + std::fabs(a) * du[i] +
                         kGluRel * std::fabs(want[i]) + kGluCancel * std::fabs(g[i] * u[i]) + 1e-30;
            }
            ASSERT_TRUE(all_close(got, want, tol,
                                  pass == 0 ? "act(gate) * up over the unquantized activations"
                                            : "act(gate) * up over the int8-quantized activations"));
        }
    }
}

// matmul_add: residual += w x. The float add of the product onto the residual rounds once more (2^-24 of the sum).
void check_matmul_add(Backend& be, std::mt19937& rng, DType dtype, int64_t in, int64_t out,
                      const std::vector<int64_t>& ns) {
    PlacedWeight w;
    place_random_weight(be, rng, dtype, in, out, &w);
    if (::testing::Test::HasFatalFailure()) return;
    for (int64_t n : ns) {
        SCOPED_TRACE(fmt::format("n = {} tokens", n));
        const std::vector<float> x = product_activations(rng, in, n);
        const std::vector<float> r = normal_floats(rng, out * n, 3.0f);
        auto xbuf = upload_new(be, x);
        auto residual = upload_new(be, r);
        GuardedBuffer scratch(be, n * out * 4);
        be.matmul_add(w.tensor, xbuf->tensor(DType::kF32, {in, n}), scratch.tensor(DType::kF32, {out, n}),
                      residual->tensor(DType::kF32, {out, n}));
        const Snapshot got = residual->snapshot();
        ASSERT_TRUE(got.guards_intact());
        ASSERT_TRUE(scratch.snapshot().guards_intact());
        const Snapshot x_after = xbuf->snapshot();
        ASSERT_TRUE(x_after.guards_intact());
        ASSERT_EQ(std::memcmp(x_after.body(), x.data(), x.size() * 4), 0) << "the product modified its input x";

        const MatmulExpectation e = expect_matmul(w, x, n);
        const bool quantized = e.path == MatmulPath::kInt8Activations;
        for (int pass = 0; pass < (quantized ? 2 : 1); ++pass) {
            const std::vector<double>& s = pass == 0 ? e.want : e.exact_q;
            const std::vector<double>& ds = pass == 0 ? e.loose : e.tight;
            std::vector<double> want(s.size()), tol(s.size());
            for (size_t i = 0; i < s.size(); ++i) {
                want[i] = r[i] + s[i];
                tol[i] = ds[i] + 0x1p-23 * (std::fabs(r[i]) + std::fabs(s[i]) + ds[i]);
            }
            ASSERT_TRUE(all_close(got, want, tol,
                                  pass == 0 ? "residual + product over the unquantized activations"
                                            : "residual + product over the int8-quantized activations"));
        }
    }
}

// A run of products over one input buffer x ([cap][in] F32) for the sequence tests below. product(w, n) multiplies
// x's first n rows into the next output and checks it against x's contents read back from the device at that moment,
// so only the products are judged. Outputs are allocated (and poisoned, which copies to the device) up front: a copy
// between two products would itself be a write that resets whatever the backend keeps, and hide what the tests look
// for.
class ProductRun {
  public:
    ProductRun(Backend& be, GuardedBuffer& x, int64_t in, int64_t cap, int max_steps)
        : be_(be), x_(x), in_(in), cap_(cap) {
        for (int i = 0; i < max_steps; ++i) outputs_.push_back(std::make_unique<GuardedBuffer>(be, cap * 64 * 4));
    }

    // w has at most 64 outputs.
    void product(const PlacedWeight& w, int64_t n) {
        if (::testing::Test::HasFatalFailure()) return;  // report the first wrong step only
        ASSERT_LT(step_, static_cast<int>(outputs_.size()));
        SCOPED_TRACE(fmt::format("step {}: {} x {} tokens", step_, dtype_name(w.dtype), n));
        const Snapshot s = x_.snapshot();
        std::vector<float> x(static_cast<size_t>(cap_ * in_));
        std::memcpy(x.data(), s.body(), x.size() * 4);
        const GuardedBuffer& y = *outputs_[static_cast<size_t>(step_++)];
        be_.matmul(w.tensor, x_.tensor(DType::kF32, {in_, n}), y.tensor(DType::kF32, {w.out, n}));
        verify_matmul(y.snapshot(), w, x, n);
    }

  private:
    Backend& be_;
    GuardedBuffer& x_;
    int64_t in_, cap_;
    int step_ = 0;
    std::vector<std::unique_ptr<GuardedBuffer>> outputs_;
};

// A run of products over one activation buffer, as a layer issues them (q/k/v, gate/up share an input), with the
// buffer changed in between by each kind of write: a copy from the host, in-place ops, an op writing into it, a
// product on a prefix of its rows, and products on other paths in between. Whatever the backend keeps between
// products (quantized activations), every product must follow the buffer's current contents; the expected input
// is read back from the device after every change, so only the products are judged.
void check_matmul_sequence(Backend& be, std::mt19937& rng) {
    const int64_t in = 512, cap = 24;
    PlacedWeight wa, wb, wc, wd, we;
    place_random_weight(be, rng, DType::kQ4_K, in, 64, &wa);
    place_random_weight(be, rng, DType::kQ8_0, in, 40, &wb);
    place_random_weight(be, rng, DType::kF16, in, 24, &wc);
    place_random_weight(be, rng, DType::kQ6_K, in, 16, &wd);
    place_random_weight(be, rng, DType::kF32, in, 64, &we);
    if (::testing::Test::HasFatalFailure()) return;
    GuardedBuffer xbuf(be, cap * in * 4), other(be, cap * in * 4), norm_w(be, in * 4), add_scratch(be, cap * 64 * 4);
    xbuf.upload(normal_floats(rng, cap * in, 2.0f));
    other.upload(normal_floats(rng, cap * in, 2.0f));
    norm_w.upload(normal_floats(rng, in, 1.0f));
    ProductRun run(be, xbuf, in, cap, 32);
    auto product = [&](const PlacedWeight& w, int64_t n) { run.product(w, n); };
    const Tensor x5 = xbuf.tensor(DType::kF32, {in, 5});
    product(wa, 5);
    product(wb, 5);  // same input, another quantized format
    product(wc, 5);  // float path in between
    product(wa, 3);  // a prefix of the rows
    product(wd, 5);
    be.scale(x5, -0.5f);
    product(wb, 5);
    xbuf.upload(normal_floats(rng, 5 * in, 1.0f));
    product(wd, 5);
    be.add(x5, other.tensor(DType::kF32, {in, 5}), x5);
    product(wa, 5);
    be.rms_norm(other.tensor(DType::kF32, {in, 5}), norm_w.tensor(DType::kF32, {in}), 1e-5f, x5);
    product(wb, 5);
    be.glu(x5, other.tensor(DType::kF32, {in, 5}), GluKind::kSilu, x5);
    product(wa, 5);
    xbuf.upload(normal_floats(rng, cap * in, 3.0f));
    product(wa, 20);  // tensor-core path
    product(wb, 5);
    product(wb, 16);
    {
        const std::vector<int32_t> ids = {3, 0, 7, 7, 1};
        auto ids_buf = upload_new(be, ids);
        be.get_rows(other.tensor(DType::kF32, {in, cap}), ids_buf->tensor(DType::kI32, {5}), x5);
    }
    product(wd, 5);
    // Products of another input whose outputs land in x: on the float matrix-vector path, on the FP32 GEMM path
    // (F32 weights, more than 16 tokens) and on the int8 path.
    auto* x_floats = static_cast<float*>(xbuf.data());
    be.matmul(wc.tensor, other.tensor(DType::kF32, {in, 5}), Tensor(x_floats, DType::kF32, {wc.out, 5}));
    product(wa, 5);
    be.matmul(we.tensor, other.tensor(DType::kF32, {in, 20}), Tensor(x_floats, DType::kF32, {we.out, 20}));
    product(wa, 5);
    be.matmul(wb.tensor, other.tensor(DType::kF32, {in, 5}), Tensor(x_floats + 100, DType::kF32, {wb.out, 5}));
    product(wa, 5);
    be.matmul_add(wc.tensor, other.tensor(DType::kF32, {in, 5}), add_scratch.tensor(DType::kF32, {wc.out, 5}),
                  Tensor(x_floats + 200, DType::kF32, {wc.out, 5}));
    product(wa, 5);
    // An output in the same allocation as x but past the rows x covers: x stays as it was.
    be.matmul(wd.tensor, x5, Tensor(x_floats + 5 * in, DType::kF32, {wd.out, 5}));
    product(wa, 5);
    be.fill_zero(x5);
    product(wa, 5);
}

// The prefill path's counterpart: a GEMM reads x as BF16, converted once for consecutive products of one input, or
// written by the op that produced x (rms_norm, glu write it in the same pass). Every product of this run over one
// input buffer must see x as it is now, whichever writes came between (each kind the backend must notice), and
// whether or not x's copy was the last one made.
void check_gemm_sequence(Backend& be, std::mt19937& rng) {
    const int64_t in = 256, n = 24;
    PlacedWeight wa, wb, wc, we;
    place_random_weight(be, rng, DType::kQ4_K, in, 64, &wa);
    place_random_weight(be, rng, DType::kBF16, in, 40, &wb);
    place_random_weight(be, rng, DType::kQ8_0, in, 32, &wc);
    place_random_weight(be, rng, DType::kF32, in, 64, &we);
    if (::testing::Test::HasFatalFailure()) return;
    GuardedBuffer xbuf(be, n * in * 4), other(be, n * in * 4), other2(be, n * in * 4), norm_w(be, in * 4),
        add_scratch(be, n * 64 * 4);
    xbuf.upload(normal_floats(rng, n * in, 2.0f));
    other.upload(normal_floats(rng, n * in, 2.0f));
    other2.upload(normal_floats(rng, n * in, 1.0f));
    norm_w.upload(normal_floats(rng, in, 1.0f));
    ProductRun run(be, xbuf, in, n, 24);
    auto product = [&](const PlacedWeight& w) { run.product(w, n); };
    const Tensor x = xbuf.tensor(DType::kF32, {in, n});
    const Tensor o = other.tensor(DType::kF32, {in, n});
    const Tensor o2 = other2.tensor(DType::kF32, {in, n});
    product(wa);
    product(wb);  // the same input: one conversion for the three
    product(wc);
    be.scale(x, -0.5f);
    product(wa);
    xbuf.upload(normal_floats(rng, n * in, 1.0f));
    product(wb);
    be.add(x, o, x);
    product(wc);
    be.rms_norm(o, norm_w.tensor(DType::kF32, {in}), 1e-5f, x);  // the norm writes x's BF16 copy
    product(wa);
    product(wb);
    be.rms_norm(x, norm_w.tensor(DType::kF32, {in}), 1e-5f, o2);  // a copy of another buffer: not x's
    product(wc);
    be.glu(x, o, GluKind::kSilu, x);  // in place, writing x's copy
    product(wa);
    be.glu(o, o2, GluKind::kSilu, o2);
    product(wb);
    // Products of another input whose outputs land in x: BF16 GEMM, FP32 GEMM, int8 matrix-vector, GEMM + add.
    auto* x_floats = static_cast<float*>(xbuf.data());
    be.matmul(wb.tensor, o, Tensor(x_floats, DType::kF32, {wb.out, n}));
    product(wa);
    be.matmul(we.tensor, o, Tensor(x_floats + 7, DType::kF32, {we.out, n}));
    product(wa);
    be.matmul(wc.tensor, other.tensor(DType::kF32, {in, 5}), Tensor(x_floats + 300, DType::kF32, {wc.out, 5}));
    product(wb);
    be.matmul_add(wb.tensor, o, add_scratch.tensor(DType::kF32, {wb.out, n}),
                  Tensor(x_floats + 100, DType::kF32, {wb.out, n}));
    product(wc);
    {
        std::vector<int32_t> ids(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) ids[static_cast<size_t>(i)] = static_cast<int32_t>((i * 7) % n);
        auto ids_buf = upload_new(be, ids);
        be.get_rows(o, ids_buf->tensor(DType::kI32, {n}), x);
    }
    product(wa);
    be.fill_zero(x);
    product(wb);
}

// A one-token GLU whose output feeds the next quantized product (a down projection). The down product must see
// exactly the quantization of the GLU's float output, on every repetition, whichever kernel made the int8 copy
// (the quantization kernel today; a GLU kernel writing the copy itself was tried, see docs/perf/h200.md).
void check_glu_feeds_product(Backend& be, std::mt19937& rng, DType gate_dtype, DType down_dtype) {
    const int64_t in = 512, ffn = 256, out = 40;
    PlacedWeight wg, wu, wd;
    place_random_weight(be, rng, gate_dtype, in, ffn, &wg);
    place_random_weight(be, rng, gate_dtype, in, ffn, &wu);
    place_random_weight(be, rng, down_dtype, ffn, out, &wd);
    if (::testing::Test::HasFatalFailure()) return;
    GuardedBuffer gate(be, ffn * 4), up(be, ffn * 4), h(be, ffn * 4), y(be, out * 4);
    for (int rep = 0; rep < 3; ++rep) {
        SCOPED_TRACE(fmt::format("repetition {}", rep));
        auto xbuf = upload_new(be, product_activations(rng, in, 1));
        be.matmul_glu(wg.tensor, wu.tensor, xbuf->tensor(DType::kF32, {in, 1}), GluKind::kSilu,
                      gate.tensor(DType::kF32, {ffn, 1}), up.tensor(DType::kF32, {ffn, 1}),
                      h.tensor(DType::kF32, {ffn, 1}));
        be.matmul(wd.tensor, h.tensor(DType::kF32, {ffn, 1}), y.tensor(DType::kF32, {out, 1}));
        const Snapshot hs = h.snapshot();
        ASSERT_TRUE(hs.guards_intact());
        std::vector<float> hv(static_cast<size_t>(ffn));
        std::memcpy(hv.data(), hs.body(), hv.size() * 4);
        verify_matmul(y.snapshot(), wd, hv, 1);
        if (::testing::Test::HasFatalFailure()) return;
    }
}

void check_add(Backend& be, std::mt19937& rng, int64_t d, int64_t rows, bool broadcast, bool in_place) {
    const std::vector<float> a = normal_floats(rng, d * rows, 1.0f);
    const std::vector<float> b = normal_floats(rng, broadcast ? d : d * rows, 1.0f);
    auto abuf = upload_new(be, a);
    auto bbuf = upload_new(be, b);
    GuardedBuffer obuf(be, d * rows * 4);
    GuardedBuffer& out = in_place ? *abuf : obuf;
    const Tensor bt = broadcast ? bbuf->tensor(DType::kF32, {d}) : bbuf->tensor(DType::kF32, {d, rows});
    be.add(abuf->tensor(DType::kF32, {d, rows}), bt, out.tensor(DType::kF32, {d, rows}));
    const Snapshot got = out.snapshot();
    ASSERT_TRUE(abuf->snapshot().guards_intact());
    ASSERT_TRUE(bbuf->snapshot().guards_intact());
    ASSERT_TRUE(obuf.snapshot().guards_intact());
    std::vector<double> want(a.size());
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = 0; i < d; ++i) want[r * d + i] = a[r * d + i] + b[broadcast ? i : r * d + i];  // float sum
    }
    ASSERT_TRUE(all_close(got, want, uniform_tol(want.size(), 0.0), "a + b"));
}

void check_scale(Backend& be, std::mt19937& rng, int64_t n, float s) {
    const std::vector<float> x = normal_floats(rng, n, 3.0f);
    auto buf = upload_new(be, x);
    be.scale(buf->tensor(DType::kF32, {n}), s);
    const Snapshot got = buf->snapshot();
    ASSERT_TRUE(got.guards_intact());
    std::vector<double> want(x.size());
    for (size_t i = 0; i < x.size(); ++i) want[i] = x[i] * s;  // float product
    ASSERT_TRUE(all_close(got, want, uniform_tol(want.size(), 0.0), "x * s"));
}

void check_rope(Backend& be, std::mt19937& rng, RopeMode mode, int64_t heads, int64_t head_dim, int n_rot,
                bool with_factors, float freq_base, float freq_scale) {
    const int64_t n = 7;
    const std::vector<float> x = normal_floats(rng, n * heads * head_dim, 1.0f);
    std::vector<int32_t> pos(n);
    std::uniform_int_distribution<int32_t> pick(0, 8191);
    for (int32_t& p : pos) p = pick(rng);
    pos[0] = 0;
    pos[1] = 1;
    std::vector<float> factors(static_cast<size_t>(n_rot / 2));
    std::uniform_real_distribution<float> fdist(1.0f, 8.0f);
    for (float& f : factors) f = fdist(rng);
    auto xbuf = upload_new(be, x);
    auto pbuf = upload_new(be, pos);
    auto fbuf = upload_new(be, factors);
    const Tensor factors_dev = fbuf->tensor(DType::kF32, {n_rot / 2});
    RopeParams p;
    p.mode = mode;
    p.n_rot = n_rot;
    p.freq_base = freq_base;
    p.freq_scale = freq_scale;
    p.freq_factors = with_factors ? &factors_dev : nullptr;
    be.rope(xbuf->tensor(DType::kF32, {head_dim, heads, n}), pbuf->tensor(DType::kI32, {n}), p);
    const Snapshot got = xbuf->snapshot();
    ASSERT_TRUE(got.guards_intact());
    ASSERT_TRUE(pbuf->snapshot().guards_intact());
    ASSERT_TRUE(fbuf->snapshot().guards_intact());

    std::vector<float> ref = x;
    const Tensor factors_host(factors.data(), DType::kF32, {n_rot / 2});
    p.freq_factors = with_factors ? &factors_host : nullptr;
    reference::rope(ref.data(), heads, head_dim, pos.data(), p, 0, n);
    std::vector<double> tol(x.size(), 0.0);
    const int half = n_rot / 2;
    for (int64_t th = 0; th < n * heads; ++th) {
        for (int k = 0; k < half; ++k) {
            const int64_t i0 = th * head_dim + (mode == RopeMode::kNormal ? 2 * k : k);
            const int64_t i1 = th * head_dim + (mode == RopeMode::kNormal ? 2 * k + 1 : k + half);
            tol[i0] = tol[i1] = kRopeRel * (std::fabs(x[i0]) + std::fabs(x[i1])) + 1e-30;
        }
    }
    ASSERT_TRUE(all_close(got, to_double(ref), tol, "reference::rope"));
}

void check_glu(Backend& be, std::mt19937& rng, GluKind kind, int64_t d, int64_t rows, bool in_place) {
    std::vector<float> gate = normal_floats(rng, d * rows, 3.0f);
    // Extremes: large negative gates (exp overflow in silu), large positive, zero.
    gate[0] = -100.0f;
    gate[1] = 100.0f;
    gate[2] = 0.0f;
    if (gate.size() > 4) gate[3] = -20.0f;
    const std::vector<float> up = normal_floats(rng, d * rows, 1.0f);
    auto gbuf = upload_new(be, gate);
    auto ubuf = upload_new(be, up);
    GuardedBuffer obuf(be, d * rows * 4);
    GuardedBuffer& out = in_place ? *gbuf : obuf;
    be.glu(gbuf->tensor(DType::kF32, {d, rows}), ubuf->tensor(DType::kF32, {d, rows}), kind,
           out.tensor(DType::kF32, {d, rows}));
    const Snapshot got = out.snapshot();
    ASSERT_TRUE(gbuf->snapshot().guards_intact());
    ASSERT_TRUE(ubuf->snapshot().guards_intact());
    ASSERT_TRUE(obuf.snapshot().guards_intact());

    std::vector<float> ref(gate.size());
    reference::glu(gate.data(), up.data(), kind, 0, d * rows, ref.data());
    std::vector<double> tol(ref.size());
    for (size_t i = 0; i < ref.size(); ++i) {
        tol[i] = kGluRel * std::fabs(ref[i]) + kGluCancel * std::fabs(gate[i] * up[i]) + 1e-30;
    }
    ASSERT_TRUE(all_close(got, to_double(ref), tol, "reference::glu"));
}

// store_kv: caches start poisoned; afterwards they must equal, byte for byte, poisoned host caches that
// reference::store_kv wrote (so slots not in the mapping stay untouched).
void check_store_kv(Backend& be, std::mt19937& rng, DType cache_dtype, int64_t kv_heads, int64_t head_dim,
                    int64_t num_slots, int64_t n) {
    const int64_t row = kv_heads * head_dim;
    const std::vector<float> k = normal_floats(rng, n * row, 2.0f);
    const std::vector<float> v = normal_floats(rng, n * row, 2.0f);
    // n distinct slots in random order, always including the first and the last slot of the cache.
    std::vector<int32_t> slots(static_cast<size_t>(num_slots - 2));
    std::iota(slots.begin(), slots.end(), 1);
    std::shuffle(slots.begin(), slots.end(), rng);
    slots.resize(static_cast<size_t>(std::max<int64_t>(0, n - 2)));
    slots.insert(slots.begin(), static_cast<int32_t>(num_slots - 1));
    if (n > 1) slots.insert(slots.begin() + static_cast<std::ptrdiff_t>(slots.size() / 2 + 1), 0);
    ASSERT_EQ(static_cast<int64_t>(slots.size()), n);
    const int64_t elem = cache_dtype == DType::kF32 ? 4 : 2;
    auto kbuf = upload_new(be, k);
    auto vbuf = upload_new(be, v);
    auto sbuf = upload_new(be, slots);
    GuardedBuffer kc(be, num_slots * row * elem), vc(be, num_slots * row * elem);
    be.store_kv(kbuf->tensor(DType::kF32, {head_dim, kv_heads, n}), vbuf->tensor(DType::kF32, {head_dim, kv_heads, n}),
                sbuf->tensor(DType::kI32, {n}), kc.tensor(cache_dtype, {head_dim, kv_heads, num_slots}),
                vc.tensor(cache_dtype, {head_dim, kv_heads, num_slots}));
    const Snapshot kgot = kc.snapshot(), vgot = vc.snapshot();
    ASSERT_TRUE(kgot.guards_intact());
    ASSERT_TRUE(vgot.guards_intact());
    ASSERT_TRUE(kbuf->snapshot().guards_intact());
    ASSERT_TRUE(vbuf->snapshot().guards_intact());
    ASSERT_TRUE(sbuf->snapshot().guards_intact());

    const size_t cache_bytes = static_cast<size_t>(num_slots * row * elem);
    std::vector<uint8_t> kw(cache_bytes), vw(cache_bytes);
    for (size_t i = 0; i < cache_bytes; ++i) kw[i] = vw[i] = poison_byte(static_cast<int64_t>(i));
    reference::store_kv(k.data(), v.data(), slots.data(), row, cache_dtype, kw.data(), vw.data(), 0, n);
    for (int c = 0; c < 2; ++c) {
        const uint8_t* got = c == 0 ? kgot.body() : vgot.body();
        const std::vector<uint8_t>& want = c == 0 ? kw : vw;
        size_t first = cache_bytes;
        for (size_t i = 0; i < cache_bytes && first == cache_bytes; ++i) {
            if (got[i] != want[i]) first = i;
        }
        ASSERT_EQ(first, cache_bytes) << (c == 0 ? "k" : "v") << " cache differs from reference::store_kv at slot "
                                      << first / static_cast<size_t>(row * elem) << ", element "
                                      << first % static_cast<size_t>(row * elem) / static_cast<size_t>(elem);
    }
}

// Random positions below max_position for n tokens, and n distinct slots of num_slots in random order.
void random_positions_and_slots(std::mt19937& rng, int64_t n, int64_t num_slots, int32_t max_position,
                                std::vector<int32_t>* pos, std::vector<int32_t>* slots) {
    pos->resize(static_cast<size_t>(n));
    std::uniform_int_distribution<int32_t> pick(0, max_position - 1);
    for (int32_t& p : *pos) p = pick(rng);
    slots->resize(static_cast<size_t>(num_slots));
    std::iota(slots->begin(), slots->end(), 0);
    std::shuffle(slots->begin(), slots->end(), rng);
    slots->resize(static_cast<size_t>(n));
}

// Asserts that a fused op left each buffer exactly as its composition did (and its guards intact).
void expect_same_buffers(const std::vector<Snapshot>& composed, const std::vector<Snapshot>& fused,
                         const std::vector<const char*>& names, const char* what) {
    for (size_t b = 0; b < names.size(); ++b) {
        ASSERT_TRUE(fused[b].guards_intact()) << names[b];
        ASSERT_EQ(composed[b].bytes, fused[b].bytes);
        ASSERT_EQ(std::memcmp(composed[b].body(), fused[b].body(), static_cast<size_t>(composed[b].bytes)), 0)
            << names[b] << " differs between " << what;
    }
}

// rope_store_kv (one fused launch on the GPU) must produce exactly what its three ops produce one by one (each
// checked against the references above): q and k rotated, k and v written into the caches at the slots.
void check_rope_store_kv(Backend& be, std::mt19937& rng, RopeMode mode, DType cache_dtype, int64_t heads,
                         int64_t kv_heads, int64_t head_dim, int n_rot, int64_t num_slots, int64_t n) {
    const std::vector<float> q = normal_floats(rng, n * heads * head_dim, 1.0f);
    const std::vector<float> k = normal_floats(rng, n * kv_heads * head_dim, 1.0f);
    const std::vector<float> v = normal_floats(rng, n * kv_heads * head_dim, 1.0f);
    std::vector<int32_t> pos, slots;
    random_positions_and_slots(rng, n, num_slots, 4096, &pos, &slots);
    const int64_t elem = cache_dtype == DType::kF32 ? 4 : 2;
    const int64_t row = kv_heads * head_dim;
    RopeParams p;
    p.mode = mode;
    p.n_rot = n_rot;
    p.freq_base = 500000.0f;
    std::vector<Snapshot> results[2];
    for (int fused = 0; fused < 2; ++fused) {
        auto qb = upload_new(be, q);
        auto kb = upload_new(be, k);
        auto vb = upload_new(be, v);
        auto pb = upload_new(be, pos);
        auto sb = upload_new(be, slots);
        GuardedBuffer kc(be, num_slots * row * elem), vc(be, num_slots * row * elem);
        const Tensor qt = qb->tensor(DType::kF32, {head_dim, heads, n});
        const Tensor kt = kb->tensor(DType::kF32, {head_dim, kv_heads, n});
        const Tensor vt = vb->tensor(DType::kF32, {head_dim, kv_heads, n});
        const Tensor pt = pb->tensor(DType::kI32, {n});
        const Tensor st = sb->tensor(DType::kI32, {n});
        const Tensor kct = kc.tensor(cache_dtype, {head_dim, kv_heads, num_slots});
        const Tensor vct = vc.tensor(cache_dtype, {head_dim, kv_heads, num_slots});
        if (fused) {
            be.rope_store_kv(qt, kt, vt, pt, p, st, kct, vct);
        } else {
            be.Backend::rope_store_kv(qt, kt, vt, pt, p, st, kct, vct);  // the composition of the three ops
        }
        results[fused] = {qb->snapshot(), kb->snapshot(), kc.snapshot(), vc.snapshot()};
    }
    expect_same_buffers(results[0], results[1], {"q", "k", "k cache", "v cache"},
                        "the fused launch and rope + rope + store_kv");
}

// matmul_qkv_rope_store_kv (on the GPU, for one token of Q4_K, Q5_K or Q8_0 weights: the rotation and the cache
// write in the epilogue of the two-row or bulk-copy product kernel) must produce exactly what its composition
// produces: matmul_shared_input, then rope_store_kv (each checked against the references above). Other formats,
// NeoX rotation and several tokens take the composition on both sides.
void check_matmul_qkv_rope_store_kv(Backend& be, std::mt19937& rng, DType dtype, RopeMode mode, DType cache_dtype,
                                    int64_t heads, int64_t kv_heads, int64_t head_dim, int n_rot, bool factors,
                                    int64_t n) {
    constexpr int64_t kIn = 512, kSlots = 40;
    PlacedWeight w[3];
    const int64_t outs[3] = {heads * head_dim, kv_heads * head_dim, kv_heads * head_dim};
    for (int i = 0; i < 3; ++i) {
        place_random_weight(be, rng, dtype, kIn, outs[i], &w[i]);
        if (::testing::Test::HasFatalFailure()) return;
    }
    const Tensor ws[3] = {w[0].tensor, w[1].tensor, w[2].tensor};
    const std::vector<float> x = product_activations(rng, kIn, n);
    std::vector<int32_t> pos, slots;
    random_positions_and_slots(rng, n, kSlots, 8192, &pos, &slots);
    std::vector<float> freq(static_cast<size_t>(n_rot / 2));
    std::uniform_real_distribution<float> divisor(1.0f, 8.0f);
    for (float& f : freq) f = divisor(rng);
    const int64_t elem = cache_dtype == DType::kF32 ? 4 : 2;
    std::vector<Snapshot> results[2];
    for (int fused = 0; fused < 2; ++fused) {
        auto xb = upload_new(be, x);
        auto pb = upload_new(be, pos);
        auto sb = upload_new(be, slots);
        auto fb = upload_new(be, freq);
        GuardedBuffer q(be, n * outs[0] * 4), k(be, n * outs[1] * 4), v(be, n * outs[2] * 4);
        GuardedBuffer kc(be, kSlots * outs[1] * elem), vc(be, kSlots * outs[2] * elem);
        const Tensor ft = fb->tensor(DType::kF32, {n_rot / 2});
        RopeParams p;
        p.mode = mode;
        p.n_rot = n_rot;
        p.freq_base = 500000.0f;
        p.freq_scale = 0.5f;
        p.freq_factors = factors ? &ft : nullptr;
        const Tensor args[] = {xb->tensor(DType::kF32, {kIn, n}),
                               q.tensor(DType::kF32, {head_dim, heads, n}),
                               k.tensor(DType::kF32, {head_dim, kv_heads, n}),
                               v.tensor(DType::kF32, {head_dim, kv_heads, n}),
                               pb->tensor(DType::kI32, {n}),
                               sb->tensor(DType::kI32, {n}),
                               kc.tensor(cache_dtype, {head_dim, kv_heads, kSlots}),
                               vc.tensor(cache_dtype, {head_dim, kv_heads, kSlots})};
        if (fused) {
            be.matmul_qkv_rope_store_kv(ws, args[0], args[1], args[2], args[3], args[4], p, args[5], args[6], args[7]);
        } else {
            be.Backend::matmul_qkv_rope_store_kv(ws, args[0], args[1], args[2], args[3], args[4], p, args[5], args[6],
                                                 args[7]);
        }
        results[fused] = {q.snapshot(), k.snapshot(), v.snapshot(), kc.snapshot(), vc.snapshot()};
    }
    const std::vector<const char*> names = {"q", "k", "v", "k cache", "v cache"};
    expect_same_buffers(results[0], results[1], names, "matmul_qkv_rope_store_kv and its composition");
    if (::testing::Test::HasFatalFailure()) return;
    for (int b = 0; b < 3; ++b) {
        for (int64_t i = 0; i < results[1][b].bytes / 4; ++i) {
            ASSERT_FALSE(results[1][b].f32_is_poison(i)) << names[b] << " element " << i << " was not written";
        }
    }
}

// Sequences in an attention batch: tokens at positions [first, last] are queried; keys [0, last] are cached.
struct SeqChunk {
    int first;
    int last;
};

struct AttentionSetup {
    int64_t heads = 4;
    int64_t kv_heads = 2;
    int64_t head_dim = 64;
    int block_size = 16;
    int sliding_window = 0;
    float softcap = 0.0f;
    float q_scale = 1.0f;  // larger values sharpen the softmax
    DType cache_dtype = DType::kF32;
    std::vector<SeqChunk> seqs;
    // The engine's layout: each sequence's tokens contiguous and in order, with seq_starts / max_seq_tokens set
    // (the flash kernel then tiles per sequence). Otherwise tokens are shuffled and those fields stay empty.
    bool contiguous = false;
    // At least this many block-table entries per sequence (the rest unused, -1): the engine sizes its tables for
    // the whole context, and the CUDA backend picks its decode launch from that capacity, not from the keys in use.
    int64_t table_blocks = 0;
};

// An attention case of `heads` query and `kv_heads` KV heads of head_dim over a cache of type `cache`; the other
// fields at their defaults.
AttentionSetup attention_case(int64_t heads, int64_t kv_heads, int64_t head_dim, DType cache) {
    AttentionSetup a;
    a.heads = heads;
    a.kv_heads = kv_heads;
    a.head_dim = head_dim;
    a.cache_dtype = cache;
    return a;
}

// A decode token deep in a sequence, a prefill chunk continuing a sequence, a fresh prompt, and a one-token
// sequence at position 0: contexts under 64 keys, so one key range per (token, head) (no split).
const std::vector<SeqChunk> kMixedBatch = {{45, 45}, {10, 27}, {0, 6}, {0, 0}};
// Decode: one token per sequence with long contexts, so few (token, head) blocks and a split key range.
const std::vector<SeqChunk> kLongDecode = {{299, 299}, {999, 999}, {76, 76}};
// Decode next to a prefill chunk late in a long sequence.
const std::vector<SeqChunk> kLongMixed = {{999, 999}, {290, 299}, {0, 3}};
// Prefill: a 200-token prompt, a 64-token chunk continuing a sequence, and two decode tokens (266 query tokens,
// many 64-token tiles of the tensor-core kernel, each holding tokens of several sequences after the shuffle).
const std::vector<SeqChunk> kLongPrefill = {{0, 199}, {300, 363}, {500, 500}, {0, 0}};

void check_attention(Backend& be, std::mt19937& rng, const AttentionSetup& a) {
    const std::vector<SeqChunk>& seqs = a.seqs;
    const auto num_seqs = static_cast<int64_t>(seqs.size());
    const int bs = a.block_size;
    int64_t max_blocks = 0;
    for (const SeqChunk& s : seqs) max_blocks = std::max<int64_t>(max_blocks, s.last / bs + 1);
    max_blocks += 1;  // one trailing unused (-1) entry per table
    max_blocks = std::max(max_blocks, a.table_blocks);
    // Block ids scattered over a pool with spare blocks, shuffled so no sequence's blocks are contiguous.
    int64_t needed = 0;
    for (const SeqChunk& s : seqs) needed += s.last / bs + 1;
    const int64_t num_blocks = needed + 5;
    std::vector<int32_t> pool(static_cast<size_t>(num_blocks));
    std::iota(pool.begin(), pool.end(), 0);
    std::shuffle(pool.begin(), pool.end(), rng);
    std::vector<int32_t> tables(static_cast<size_t>(num_seqs * max_blocks), -1);
    size_t next = 0;
    for (int64_t s = 0; s < num_seqs; ++s) {
        for (int64_t b = 0; b <= seqs[s].last / bs; ++b) tables[s * max_blocks + b] = pool[next++];
    }

    // Tokens of all sequences, interleaved in a shuffled order.
    std::vector<int32_t> positions, token_seq;
    for (int64_t s = 0; s < num_seqs; ++s) {
        for (int p = seqs[s].first; p <= seqs[s].last; ++p) {
            positions.push_back(p);
            token_seq.push_back(static_cast<int32_t>(s));
        }
    }
    const auto n = static_cast<int64_t>(positions.size());
    std::vector<size_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    if (!a.contiguous) std::shuffle(order.begin(), order.end(), rng);
    {
        std::vector<int32_t> p2(positions.size()), s2(token_seq.size());
        for (size_t i = 0; i < order.size(); ++i) {
            p2[i] = positions[order[i]];
            s2[i] = token_seq[order[i]];
        }
        positions.swap(p2);
        token_seq.swap(s2);
    }

    // Caches: random K/V where some query may see them; NaN everywhere no query may look (unassigned blocks,
    // positions past a sequence's last token, keys that slid out of every query's window), so reading past the
    // causal or window bound poisons the output.
    const int64_t kv_row = a.kv_heads * a.head_dim;
    const int64_t num_slots = num_blocks * bs;
    std::vector<float> kf(static_cast<size_t>(num_slots * kv_row), std::numeric_limits<float>::quiet_NaN());
    std::vector<float> vf(kf.size(), std::numeric_limits<float>::quiet_NaN());
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (int64_t s = 0; s < num_seqs; ++s) {
        const int lo = a.sliding_window > 0 ? std::max(0, seqs[s].first - a.sliding_window + 1) : 0;
        for (int p = lo; p <= seqs[s].last; ++p) {
            const int64_t slot = static_cast<int64_t>(tables[s * max_blocks + p / bs]) * bs + p % bs;
            for (int64_t i = 0; i < kv_row; ++i) {
                kf[slot * kv_row + i] = dist(rng);
                vf[slot * kv_row + i] = dist(rng);
            }
        }
    }
    double v_max = 0;
    for (float f : vf) {
        if (!std::isnan(f)) v_max = std::max(v_max, std::fabs(double{f}));
    }
    // The cache bytes both sides read: F32 as is, or converted to F16 once.
    std::vector<uint8_t> kc, vc;
    if (a.cache_dtype == DType::kF32) {
        kc.resize(kf.size() * 4);
        vc.resize(vf.size() * 4);
        std::memcpy(kc.data(), kf.data(), kc.size());
        std::memcpy(vc.data(), vf.data(), vc.size());
    } else {
        kc.resize(kf.size() * 2);
        vc.resize(vf.size() * 2);
        for (size_t i = 0; i < kf.size(); ++i) {
            const uint16_t kh = fp32_to_fp16(kf[i]), vh = fp32_to_fp16(vf[i]);
            std::memcpy(kc.data() + 2 * i, &kh, 2);
            std::memcpy(vc.data() + 2 * i, &vh, 2);
        }
    }

    const std::vector<float> q = normal_floats(rng, n * a.heads * a.head_dim, a.q_scale);
    auto qbuf = upload_new(be, q);
    auto kbuf = upload_new(be, kc);
    auto vbuf = upload_new(be, vc);
    auto pbuf = upload_new(be, positions);
    auto sbuf = upload_new(be, token_seq);
    auto tbuf = upload_new(be, tables);
    std::vector<int32_t> starts(1, 0);
    int64_t max_seq_tokens = 0;
    for (const SeqChunk& s : seqs) {
        starts.push_back(starts.back() + s.last - s.first + 1);
        max_seq_tokens = std::max<int64_t>(max_seq_tokens, s.last - s.first + 1);
    }
    auto startbuf = upload_new(be, starts);
    GuardedBuffer out(be, n * a.heads * a.head_dim * 4);
    AttentionBatch batch;
    batch.positions = pbuf->tensor(DType::kI32, {n});
    batch.token_seq = sbuf->tensor(DType::kI32, {n});
    batch.block_tables = tbuf->tensor(DType::kI32, {max_blocks, num_seqs});
    batch.block_size = bs;
    if (a.contiguous) {
        batch.seq_starts = startbuf->tensor(DType::kI32, {num_seqs + 1});
        batch.max_seq_tokens = max_seq_tokens;
    }
    AttentionParams params;
    params.scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim));
    params.sliding_window = a.sliding_window;
    params.softcap = a.softcap;
    be.attention(qbuf->tensor(DType::kF32, {a.head_dim, a.heads, n}),
                 kbuf->tensor(a.cache_dtype, {a.head_dim, a.kv_heads, num_slots}),
                 vbuf->tensor(a.cache_dtype, {a.head_dim, a.kv_heads, num_slots}), batch, params,
                 out.tensor(DType::kF32, {a.head_dim, a.heads, n}));
    const Snapshot got = out.snapshot();
    ASSERT_TRUE(got.guards_intact());
    for (const GuardedBuffer* b : {qbuf.get(), kbuf.get(), vbuf.get(), pbuf.get(), sbuf.get(), tbuf.get()}) {
        ASSERT_TRUE(b->snapshot().guards_intact());
    }
    ASSERT_EQ(std::memcmp(kbuf->snapshot().body(), kc.data(), kc.size()), 0) << "attention modified the k cache";
    ASSERT_EQ(std::memcmp(vbuf->snapshot().body(), vc.data(), vc.size()), 0) << "attention modified the v cache";

    const int64_t total = n * a.heads * a.head_dim;
    reference::AttentionShape rs;
    rs.heads = a.heads;
    rs.kv_heads = a.kv_heads;
    rs.head_dim = a.head_dim;
    rs.max_blocks_per_seq = max_blocks;
    rs.block_size = bs;
    rs.cache_dtype = a.cache_dtype;
    std::vector<float> ref(static_cast<size_t>(total));
    reference::attention(q.data(), kc.data(), vc.data(), positions.data(), token_seq.data(), tables.data(), rs, params,
                         0, n * a.heads, ref.data());
    ASSERT_TRUE(all_close(got, to_double(ref), uniform_tol(ref.size(), kAttentionRel * v_max), "reference::attention"));

    // The output projection reads out next; whatever the backend hands it along with out (the split merge writes
    // out's int8 copy), the product must follow out's contents, judged against them as read back.
    const int64_t width = a.heads * a.head_dim;
    if (width % 32 == 0) {
        PlacedWeight wo;
        place_random_weight(be, rng, DType::kQ8_0, width, 16, &wo);
        if (::testing::Test::HasFatalFailure()) return;
        GuardedBuffer y(be, n * 16 * 4);
        be.matmul(wo.tensor, out.tensor(DType::kF32, {width, n}), y.tensor(DType::kF32, {16, n}));
        std::vector<float> values(static_cast<size_t>(total));
        std::memcpy(values.data(), got.body(), values.size() * 4);
        SCOPED_TRACE("the product after attention, over its output");
        verify_matmul(y.snapshot(), wo, values, n);
    }
}

// gtest names allow only letters, digits and '_'.
std::string sanitize(std::string s) {
    for (char& c : s) {
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    }
    return s;
}

std::vector<OpCase> build_cases() {
    std::vector<OpCase> cases;
    auto add = [&](const std::string& name, std::function<void(Backend&, std::mt19937&)> fn) {
        cases.push_back({sanitize(name), std::move(fn)});
    };
    const std::vector<DType> weight_dtypes = {DType::kF32,  DType::kF16,  DType::kBF16, DType::kQ4_0,
                                              DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ8_0,
                                              DType::kQ4_K, DType::kQ5_K, DType::kQ6_K};

    for (DType t : weight_dtypes) {
        for (auto [d, rows, n] : {std::tuple<int64_t, int64_t, int64_t>{256, 50, 1}, {512, 9, 7}, {256, 300, 40}}) {
            add(fmt::format("get_rows_{}_d{}_rows{}_n{}", dtype_name(t), d, rows, n),
                [=](Backend& be, std::mt19937& rng) { check_get_rows(be, rng, t, d, rows, n, true); });
        }
    }
    for (auto [d, rows, n] : {std::tuple<int64_t, int64_t, int64_t>{64, 40, 3}, {5, 7, 9}}) {
        add(fmt::format("get_rows_F32_activations_d{}_rows{}_n{}", d, rows, n),
            [=](Backend& be, std::mt19937& rng) { check_get_rows(be, rng, DType::kF32, d, rows, n, false); });
    }

    const std::vector<int64_t> token_counts = {1, 2, 3, 5, 8, 16, 17, 40};
    for (DType t : weight_dtypes) {
        const bool k_quant = dtype_layout(t).block_size == 256;
        std::vector<std::pair<int64_t, int64_t>> shapes = {{256, 13}, {512, 64}, {2304, 37}, {4096, 8}};
        if (!k_quant) shapes.push_back({96, 5});  // rows of three 32-blocks: fewer than one per lane
        if (t == DType::kF32 || t == DType::kF16 || t == DType::kBF16)
            shapes.push_back({172, 11});  // not a multiple of 8
        for (auto [in, out] : shapes) {
            add(fmt::format("matmul_{}_in{}_out{}", dtype_name(t), in, out),
                [=](Backend& be, std::mt19937& rng) { check_matmul(be, rng, t, in, out, token_counts); });
        }
    }

    for (auto [d, rows, mag] : {std::tuple<int64_t, int64_t, float>{64, 1, 1.0f},
                                {4096, 3, 1e-3f},
                                {64, 600, 1.0f},
                                {320, 70, 1e3f},
                                {5, 4, 1.0f},
                                {10000, 2, 1.0f}}) {
        for (bool in_place : {false, true}) {
            add(fmt::format("rms_norm_d{}_rows{}_mag{}{}", d, rows, mag >= 1 ? static_cast<int>(mag) : 0,
                            in_place ? "_inplace" : ""),
                [=](Backend& be, std::mt19937& rng) { check_rms_norm(be, rng, d, rows, mag, in_place); });
        }
    }

    for (auto [d, rows] : {std::pair<int64_t, int64_t>{7, 3}, {4096, 9}}) {
        for (bool broadcast : {false, true}) {
            for (bool in_place : {false, true}) {
                add(fmt::format("add_d{}_rows{}{}{}", d, rows, broadcast ? "_broadcast" : "",
                                in_place ? "_inplace" : ""),
                    [=](Backend& be, std::mt19937& rng) { check_add(be, rng, d, rows, broadcast, in_place); });
            }
        }
    }

    // Fused products: q/k/v-like triples (GQA widths), pairs, singles, more than three (not fused), and mixed
    // formats (Q4_K_M files keep some projections in Q6_K; not fused).
    const std::vector<int64_t> fused_counts = {1, 3, 16, 17};
    for (DType t : weight_dtypes) {
        const int64_t in = t == DType::kF32 || t == DType::kF16 ? 172 : 512;
        for (const std::vector<int64_t>& outs :
             {std::vector<int64_t>{64, 16, 16}, std::vector<int64_t>{40, 24}, std::vector<int64_t>{13}}) {
            add(fmt::format("matmul_shared_input_{}_in{}_count{}", dtype_name(t), in, outs.size()),
                [=](Backend& be, std::mt19937& rng) {
                    check_matmul_shared_input(be, rng, std::vector<DType>(outs.size(), t), in, outs, fused_counts);
                });
        }
    }
    add("matmul_shared_input_Q4_K_count4", [=](Backend& be, std::mt19937& rng) {
        check_matmul_shared_input(be, rng, std::vector<DType>(4, DType::kQ4_K), 512, {32, 8, 8, 5}, fused_counts);
    });
    add("matmul_shared_input_Q4_K_Q4_K_Q6_K", [=](Backend& be, std::mt19937& rng) {
        check_matmul_shared_input(be, rng, {DType::kQ4_K, DType::kQ4_K, DType::kQ6_K}, 512, {64, 16, 16}, fused_counts);
    });
    for (DType t : weight_dtypes) {
        const int64_t in = t == DType::kF32 || t == DType::kF16 ? 172 : 512;
        for (GluKind kind : {GluKind::kSilu, GluKind::kGeluTanh}) {
            for (bool out_is_gate : {true, false}) {
                add(fmt::format("matmul_glu_{}_{}_in{}_ffn37{}", dtype_name(t),
                                kind == GluKind::kSilu ? "silu" : "gelu_tanh", in, out_is_gate ? "_out_is_gate" : ""),
                    [=](Backend& be, std::mt19937& rng) {
                        check_matmul_glu(be, rng, t, in, 37, kind, out_is_gate, fused_counts);
                    });
            }
        }
        // A down projection: the 172-wide hidden of stories260K for F32/F16, a K-quant width otherwise.
        add(fmt::format("matmul_add_{}_in{}_out64", dtype_name(t), in), [=](Backend& be, std::mt19937& rng) {
            check_matmul_add(be, rng, t, in, 64, {1, 2, 5, 16, 17, 40});
        });
    }

    // Model-wide rows: the one-token kernel splits such a row across the warps of a block (sm_90) and sums the
    // parts in shared memory.
    for (DType t : {DType::kQ8_0, DType::kQ4_K, DType::kBF16}) {
        for (int64_t in : {4096, 14336}) {
            add(fmt::format("matmul_glu_{}_in{}_ffn37", dtype_name(t), in), [=](Backend& be, std::mt19937& rng) {
                check_matmul_glu(be, rng, t, in, 37, GluKind::kSilu, false, {1, 2});
            });
            add(fmt::format("matmul_add_{}_in{}_out9", dtype_name(t), in), [=](Backend& be, std::mt19937& rng) {
                check_matmul_add(be, rng, t, in, 9, {1, 2});
            });
        }
    }

    for (DType g : {DType::kQ8_0, DType::kQ4_K}) {
        for (DType d : {DType::kQ4_K, DType::kQ8_0, DType::kQ6_K}) {
            add(fmt::format("matmul_glu_{}_feeds_{}", dtype_name(g), dtype_name(d)),
                [=](Backend& be, std::mt19937& rng) { check_glu_feeds_product(be, rng, g, d); });
        }
    }
    add("matmul_sequence_over_one_input", [](Backend& be, std::mt19937& rng) { check_matmul_sequence(be, rng); });
    add("gemm_sequence_over_one_input", [](Backend& be, std::mt19937& rng) { check_gemm_sequence(be, rng); });

    for (int64_t n : {1, 33, 50000}) {
        add(fmt::format("scale_n{}", n), [=](Backend& be, std::mt19937& rng) { check_scale(be, rng, n, -0.37f); });
    }

    for (RopeMode mode : {RopeMode::kNormal, RopeMode::kNeox}) {
        const char* m = mode == RopeMode::kNormal ? "normal" : "neox";
        for (bool factors : {false, true}) {
            for (auto [head_dim, n_rot] : {std::pair<int64_t, int>{64, 64}, {128, 128}, {128, 64}, {64, 32}}) {
                add(fmt::format("rope_{}_hd{}_rot{}{}", m, head_dim, n_rot, factors ? "_factors" : ""),
                    [=](Backend& be, std::mt19937& rng) {
                        check_rope(be, rng, mode, 3, head_dim, n_rot, factors, 10000.0f, 1.0f);
                    });
            }
            add(fmt::format("rope_{}_theta1e6_scale0_25{}", m, factors ? "_factors" : ""),
                [=](Backend& be, std::mt19937& rng) { check_rope(be, rng, mode, 2, 128, 128, factors, 1e6f, 0.25f); });
        }
    }

    for (GluKind kind : {GluKind::kSilu, GluKind::kGeluTanh}) {
        for (auto [d, rows] : {std::pair<int64_t, int64_t>{5, 1}, {172, 3}, {1024, 9}}) {
            for (bool in_place : {false, true}) {
                add(fmt::format("glu_{}_d{}_rows{}{}", kind == GluKind::kSilu ? "silu" : "gelu_tanh", d, rows,
                                in_place ? "_inplace" : ""),
                    [=](Backend& be, std::mt19937& rng) { check_glu(be, rng, kind, d, rows, in_place); });
            }
        }
    }

    for (RopeMode mode : {RopeMode::kNormal, RopeMode::kNeox}) {
        for (DType t : {DType::kF32, DType::kF16}) {
            for (auto [heads, kv_heads, head_dim, n_rot, n] : {std::tuple<int64_t, int64_t, int64_t, int, int64_t>{
                                                                   32, 8, 128, 128, 1},
                                                               {4, 1, 256, 256, 9},
                                                               {8, 4, 8, 8, 3},
                                                               {4, 2, 128, 64, 20},
                                                               // prefill-sized: heads in groups of 8 per thread,
                                                               // whole groups, then a partial last group
                                                               {32, 8, 128, 128, 24},
                                                               {12, 3, 64, 32, 17}}) {
                add(fmt::format("rope_store_kv_{}_{}_h{}_kvh{}_hd{}_rot{}_n{}", mode == RopeMode::kNormal ? "normal" : "neox",
                                dtype_name(t), heads, kv_heads, head_dim, n_rot, n),
                    [=](Backend& be, std::mt19937& rng) {
                        check_rope_store_kv(be, rng, mode, t, heads, kv_heads, head_dim, n_rot, 64, n);
                    });
            }
        }
    }

    // The fused q/k/v epilogue (one token, adjacent pairs), and the cases that take the composition (other formats,
    // n = 3, NeoX).
    for (DType w : {DType::kQ4_K, DType::kQ5_K, DType::kQ8_0, DType::kBF16}) {
        for (DType t : {DType::kF32, DType::kF16}) {
            for (auto [heads, kv_heads, head_dim, n_rot, factors] :
                 {std::tuple<int64_t, int64_t, int64_t, int, bool>{32, 8, 128, 128, true},
                  {8, 2, 64, 32, false},
                  {6, 3, 8, 8, false},
                  {4, 4, 256, 256, true}}) {
                for (int64_t n : {1, 3}) {
                    add(fmt::format("matmul_qkv_rope_store_kv_{}_{}_h{}_kvh{}_hd{}_rot{}{}_n{}", dtype_name(w),
                                    dtype_name(t), heads, kv_heads, head_dim, n_rot, factors ? "_factors" : "", n),
                        [=](Backend& be, std::mt19937& rng) {
                            check_matmul_qkv_rope_store_kv(be, rng, w, RopeMode::kNormal, t, heads, kv_heads, head_dim,
                                                           n_rot, factors, n);
                        });
                }
            }
        }
    }
    add("matmul_qkv_rope_store_kv_Q4_K_neox", [](Backend& be, std::mt19937& rng) {
        check_matmul_qkv_rope_store_kv(be, rng, DType::kQ4_K, RopeMode::kNeox, DType::kF16, 8, 2, 128, 128, false, 1);
    });

    for (DType t : {DType::kF32, DType::kF16}) {
        for (auto [kv_heads, head_dim, slots, n] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{1, 8, 4, 1},
                                                    {2, 64, 64, 10},
                                                    {4, 128, 48, 48},
                                                    {8, 128, 1000, 37}}) {
            add(fmt::format("store_kv_{}_kvh{}_hd{}_slots{}_n{}", dtype_name(t), kv_heads, head_dim, slots, n),
                [=](Backend& be, std::mt19937& rng) { check_store_kv(be, rng, t, kv_heads, head_dim, slots, n); });
        }
    }

    auto add_attention = [&](const std::string& name, const AttentionSetup& a) {
        add(name, [=](Backend& be, std::mt19937& rng) { check_attention(be, rng, a); });
    };
    for (DType t : {DType::kF32, DType::kF16}) {
        const std::string dt(dtype_name(t));
        for (auto [heads, kv_heads] : {std::pair<int64_t, int64_t>{4, 4}, {8, 2}, {4, 1}, {32, 8}, {7, 1}}) {
            for (int64_t head_dim : {8, 64, 128, 256}) {
                for (int bs : {16, 4}) {
                    for (int window : {0, 5}) {
                        AttentionSetup a = attention_case(heads, kv_heads, head_dim, t);
                        a.block_size = bs;
                        a.sliding_window = window;
                        a.seqs = kMixedBatch;
                        add_attention(fmt::format("attention_{}_h{}_kvh{}_hd{}_bs{}_window{}", dt, heads, kv_heads,
                                                  head_dim, bs, window),
                                      a);
                    }
                }
            }
        }
        // Long contexts: split key ranges, alone and next to a prefill chunk, full and with a window wide
        // enough to keep several splits.
        for (auto [heads, kv_heads, head_dim] :
             {std::tuple<int64_t, int64_t, int64_t>{4, 1, 128}, {32, 8, 128}, {8, 2, 64}, {7, 1, 256}, {4, 4, 8}}) {
            for (int window : {0, 300}) {
                for (bool mixed : {false, true}) {
                    AttentionSetup a = attention_case(heads, kv_heads, head_dim, t);
                    a.block_size = 16;
                    a.sliding_window = window;
                    a.seqs = mixed ? kLongMixed : kLongDecode;
                    add_attention(fmt::format("attention_{}_long_{}_h{}_kvh{}_hd{}_window{}", dt,
                                              mixed ? "mixed" : "decode", heads, kv_heads, head_dim, window),
                                  a);
                }
            }
        }
        // The engine's decode batches: one token per sequence, each sequence's tokens contiguous, so the kernel
        // reads the keys before each token's position ahead of its wait (early_keys). Block size 12 is not a power
        // of two (block ids by division, not shift).
        for (auto [heads, kv_heads, head_dim] :
             {std::tuple<int64_t, int64_t, int64_t>{32, 8, 128}, {8, 2, 64}, {7, 1, 256}, {4, 4, 8}, {4, 2, 32},
              {8, 8, 16}, {4, 2, 96}}) {
            for (int bs : {16, 12}) {
                AttentionSetup a = attention_case(heads, kv_heads, head_dim, t);
                a.block_size = bs;
                a.contiguous = true;
                a.seqs = kLongDecode;
                a.seqs.push_back({0, 0});
                a.seqs.push_back({17, 17});
                add_attention(fmt::format("attention_{}_long_decode_contiguous_h{}_kvh{}_hd{}_bs{}", dt, heads,
                                          kv_heads, head_dim, bs),
                              a);
            }
        }
        // Batch-1 and batch-2 decode as the engine runs it: tables sized for 1024 keys, so the CUDA backend picks
        // its key splits from that capacity, not from the keys in use. Contexts that fill every split, leave most
        // of them empty (41 keys, 1 key), and slide a window; a GQA group of 7 (a full and a partial group of 4
        // query heads per block).
        for (auto [heads, kv_heads, head_dim] : {std::tuple<int64_t, int64_t, int64_t>{32, 8, 128},
                                                 {8, 2, 64},
                                                 {4, 1, 256},
                                                 {7, 1, 256},
                                                 {4, 2, 32},
                                                 {8, 8, 16}}) {
            for (const std::vector<SeqChunk>& seqs :
                 {std::vector<SeqChunk>{{999, 999}}, std::vector<SeqChunk>{{40, 40}}, std::vector<SeqChunk>{{0, 0}},
                  std::vector<SeqChunk>{{700, 700}, {13, 13}}}) {
                for (int window : {0, 300}) {
                    if (window > 0 && seqs.front().last < window) continue;
                    AttentionSetup a = attention_case(heads, kv_heads, head_dim, t);
                    a.sliding_window = window;
                    a.contiguous = true;
                    a.table_blocks = 64;
                    a.seqs = seqs;
                    add_attention(fmt::format("attention_{}_decode_cap1024_h{}_kvh{}_hd{}_pos{}_n{}_window{}", dt,
                                              heads, kv_heads, head_dim, seqs.front().last, seqs.size(), window),
                                  a);
                }
            }
        }
        // Prefill-sized batches (the tensor-core kernel when the cache is F16 and head_dim 64, 128 or 256).
        for (auto [heads, kv_heads, head_dim] :
             {std::tuple<int64_t, int64_t, int64_t>{32, 8, 128}, {8, 1, 256}, {4, 2, 64}, {4, 4, 8}}) {
            for (int window : {0, 100}) {
                AttentionSetup a = attention_case(heads, kv_heads, head_dim, t);
                a.sliding_window = window;
                a.seqs = kLongPrefill;
                add_attention(
                    fmt::format("attention_{}_prefill_h{}_kvh{}_hd{}_window{}", dt, heads, kv_heads, head_dim, window),
                    a);
            }
        }
        AttentionSetup sharp;
        sharp.cache_dtype = t;
        sharp.q_scale = 8.0f;
        sharp.seqs = kMixedBatch;
        add_attention(fmt::format("attention_{}_sharp_softmax", dt), sharp);
        AttentionSetup capped = sharp;
        capped.softcap = 5.0f;
        add_attention(fmt::format("attention_{}_softcap", dt), capped);
        capped.sliding_window = 1;  // a window of one: each token sees only itself
        add_attention(fmt::format("attention_{}_softcap_window1", dt), capped);
        AttentionSetup capped_prefill = capped;
        capped_prefill.sliding_window = 0;
        capped_prefill.head_dim = 128;
        capped_prefill.seqs = kLongPrefill;
        add_attention(fmt::format("attention_{}_softcap_sharp_prefill", dt), capped_prefill);
        // The engine's batches under load: many sequences' decode tokens next to prefill chunks, each sequence's
        // tokens contiguous, so the flash kernel gives every sequence its own query tiles.
        AttentionSetup many;
        many.cache_dtype = t;
        many.heads = 8;
        many.kv_heads = 2;
        many.head_dim = 128;
        many.contiguous = true;
        for (int s = 0; s < 40; ++s) many.seqs.push_back({30 + 7 * s, 30 + 7 * s});
        many.seqs.push_back({0, 99});
        many.seqs.push_back({200, 263});
        many.seqs.push_back({0, 0});
        add_attention(fmt::format("attention_{}_many_decodes_and_prefill_contiguous", dt), many);
        AttentionSetup prefill_contiguous = capped_prefill;
        prefill_contiguous.contiguous = true;
        add_attention(fmt::format("attention_{}_softcap_sharp_prefill_contiguous", dt), prefill_contiguous);
        AttentionSetup capped_long = capped;
        capped_long.sliding_window = 0;
        capped_long.heads = 8;
        capped_long.kv_heads = 1;
        capped_long.head_dim = 128;
        capped_long.seqs = kLongDecode;
        add_attention(fmt::format("attention_{}_softcap_long_decode", dt), capped_long);
        AttentionSetup capped_one = capped_long;
        capped_one.seqs = {{999, 999}};
        capped_one.contiguous = true;
        capped_one.table_blocks = 64;
        add_attention(fmt::format("attention_{}_softcap_sharp_decode_cap1024", dt), capped_one);
    }
    return cases;
}

const std::vector<OpCase>& all_cases() {
    static const std::vector<OpCase> cases = build_cases();
    return cases;
}

// One CUDA backend for the whole table; every case skips, with the reason, where no GPU is usable.
class CudaOpsTest : public ::testing::TestWithParam<size_t> {
  protected:
    static void SetUpTestSuite() {
        std::string why;
        if (!cuda_device_available(&why)) {
            skip_reason_ = why;
            return;
        }
        Result<std::unique_ptr<Backend>> be = create_cuda_backend(CudaBackendOptions{});
        if (be.ok()) {
            backend_ = std::move(be).value();
        } else {
            create_error_ = be.status().message();
        }
    }
    static void TearDownTestSuite() { backend_.reset(); }

    static std::unique_ptr<Backend> backend_;
    static std::string skip_reason_;
    static std::string create_error_;
};

std::unique_ptr<Backend> CudaOpsTest::backend_;
std::string CudaOpsTest::skip_reason_;
std::string CudaOpsTest::create_error_;

TEST_P(CudaOpsTest, MatchesReference) {
    if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
    ASSERT_NE(backend_, nullptr) << "a CUDA device is present but the backend failed: " << create_error_;
    const size_t i = GetParam();
    const uint32_t seed = base_seed() ^ static_cast<uint32_t>(i * 0x9e3779b9u);
    SCOPED_TRACE("case " + all_cases()[i].name + " on " + backend_->name() + ", seed " + std::to_string(seed) +
                 " (replay with FRUGAL_TEST_SEED=" + std::to_string(base_seed()) + ")");
    std::mt19937 rng(seed);
    all_cases()[i].run(*backend_, rng);
}

INSTANTIATE_TEST_SUITE_P(AllOps, CudaOpsTest, ::testing::Range<size_t>(0, all_cases().size()),
                         [](const ::testing::TestParamInfo<size_t>& info) { return all_cases()[info.param].name; });

std::unique_ptr<Backend> make_backend_or_skip(std::string* skip) {
    if (!cuda_device_available(skip)) return nullptr;
    Result<std::unique_ptr<Backend>> be = create_cuda_backend(CudaBackendOptions{});
    EXPECT_TRUE(be.ok()) << be.status().message();
    return be.ok() ? std::move(be).value() : nullptr;
}

// A backend holding only float weights (an F32/F16/BF16 model) has its norms write no int8 copy of their output.
// On a fresh backend: the norm without that copy (checked against the reference), float products of its output;
// then a Q8_0 weight arrives, and its product of the same output (whose copy the norm never made) must quantize
// it first; from then on the norms write the copy, and each Q8_0 product must read the latest norm's.
TEST(CudaOpsSequenceTest, FloatOnlyWeightsSkipTheNormsInt8Copy) {
    std::string why;
    std::unique_ptr<Backend> be = make_backend_or_skip(&why);
    if (!why.empty()) GTEST_SKIP() << why;
    ASSERT_NE(be, nullptr);
    const uint32_t seed = base_seed() ^ 0x3c6ef372u;
    SCOPED_TRACE("seed " + std::to_string(seed) + " (replay with FRUGAL_TEST_SEED=" + std::to_string(base_seed()) +
                 ")");
    std::mt19937 rng(seed);
    const int64_t in = 512, n = 3;
    PlacedWeight wf, wh, wq;
    place_random_weight(*be, rng, DType::kBF16, in, 48, &wf);
    place_random_weight(*be, rng, DType::kF16, in, 32, &wh);
    if (::testing::Test::HasFatalFailure()) return;
    GuardedBuffer xbuf(*be, n * in * 4), src(*be, n * in * 4), src2(*be, n * in * 4), norm_w(*be, in * 4);
    const std::vector<float> s1 = normal_floats(rng, n * in, 2.0f), s2 = normal_floats(rng, n * in, 3.0f);
    const std::vector<float> g = normal_floats(rng, in, 1.0f);
    src.upload(s1);
    src2.upload(s2);
    norm_w.upload(g);
    const Tensor x = xbuf.tensor(DType::kF32, {in, n});
    ProductRun run(*be, xbuf, in, n, 8);
    be->rms_norm(src.tensor(DType::kF32, {in, n}), norm_w.tensor(DType::kF32, {in}), 1e-5f, x);
    std::vector<float> ref(s1.size());
    reference::rms_norm(s1.data(), g.data(), 1e-5f, in, 0, n, ref.data());
    const std::vector<double> want = to_double(ref);
    ASSERT_TRUE(all_close(xbuf.snapshot(), want, rel_tol(want, kRmsNormRel, 1e-30), "reference::rms_norm"));
    run.product(wf, n);
    run.product(wh, n);
    place_random_weight(*be, rng, DType::kQ8_0, in, 40, &wq);
    if (::testing::Test::HasFatalFailure()) return;
    run.product(wq, n);  // the norm made no int8 copy: quantized here
    be->rms_norm(src2.tensor(DType::kF32, {in, n}), norm_w.tensor(DType::kF32, {in}), 1e-5f, x);
    run.product(wq, n);  // the norm's own int8 copy
    run.product(wf, n);
    be->rms_norm(src.tensor(DType::kF32, {in, n}), norm_w.tensor(DType::kF32, {in}), 1e-5f, x);
    run.product(wq, n);
}

// Sanity of the harness on the device: a write into a guard shows, and so does an element left poisoned;
// otherwise a broken harness would make every case above pass vacuously.
TEST(CudaOpsHarnessTest, GuardsAndPoisonDetectMistakes) {
    std::string why;
    std::unique_ptr<Backend> be = make_backend_or_skip(&why);
    if (!why.empty()) GTEST_SKIP() << why;
    ASSERT_NE(be, nullptr);
    GuardedBuffer g(*be, 16);
    EXPECT_TRUE(g.snapshot().guards_intact());
    EXPECT_TRUE(g.snapshot().f32_is_poison(3));
    const uint8_t zero = 0;
    be->copy_to_device(Tensor(static_cast<uint8_t*>(g.data()) + 16, DType::kI8, {1}), &zero, 1);
    EXPECT_FALSE(g.snapshot().guards_intact());
    GuardedBuffer h(*be, 16);
    be->copy_to_device(Tensor(static_cast<uint8_t*>(h.data()) - 1, DType::kI8, {1}), &zero, 1);
    EXPECT_FALSE(h.snapshot().guards_intact());
    GuardedBuffer o(*be, 8);
    const float one = 1.0f;
    o.upload(&one, 4);
    EXPECT_FALSE(all_close(o.snapshot(), {1.0, 0.0}, {0.0, 1.0}, "x"));  // element 1 never written
    const std::vector<float> both = {1.0f, 0.5f};
    o.upload(both);
    EXPECT_TRUE(all_close(o.snapshot(), {1.0, 0.0}, {0.0, 1.0}, "x"));
    o.poison();
    EXPECT_FALSE(all_close(o.snapshot(), {1.0, 0.0}, {1e300, 1e300}, "x"));
}

// run_graph: a recorded op sequence (rms_norm -> matmul -> residual add) replays over new buffer contents: the
// output follows the new inputs, the ops are issued only when recording, and clear_graphs() forces a new recording.
// Q4_K weights take the int8 matrix-vector path, whose activation scratch is allocated while recording.
TEST(CudaGraphTest, ReplayFollowsNewInputs) {
    std::string why;
    std::unique_ptr<Backend> be = make_backend_or_skip(&why);
    if (!why.empty()) GTEST_SKIP() << why;
    ASSERT_NE(be, nullptr);
    const uint32_t seed = base_seed() ^ 0x6a09e667u;
    SCOPED_TRACE("seed " + std::to_string(seed) + " (replay with FRUGAL_TEST_SEED=" + std::to_string(base_seed()) +
                 ")");
    std::mt19937 rng(seed);
    const int64_t in = 512, out = 48, n = 3;
    const float eps = 1e-5f;
    std::vector<float> w_deq;
    const std::vector<uint8_t> wq = quantize_rows(DType::kQ4_K, normal_floats(rng, in * out, 0.5f), in, out, &w_deq);
    Result<Tensor> w = be->place_weight("graph.w", DType::kQ4_K, {in, out}, wq.data());
    ASSERT_TRUE(w.ok()) << w.status().message();
    const std::vector<float> norm_w = normal_floats(rng, in, 1.0f);
    auto norm_buf = upload_new(*be, norm_w);
    GuardedBuffer x(*be, in * n * 4), xn(*be, in * n * 4), residual(*be, out * n * 4), y(*be, out * n * 4);
    int issued = 0;
    auto issue = [&] {
        ++issued;
        be->rms_norm(x.tensor(DType::kF32, {in, n}), norm_buf->tensor(DType::kF32, {in}), eps,
                     xn.tensor(DType::kF32, {in, n}));
        be->matmul(w.value(), xn.tensor(DType::kF32, {in, n}), y.tensor(DType::kF32, {out, n}));
        be->add(y.tensor(DType::kF32, {out, n}), residual.tensor(DType::kF32, {out, n}),
                y.tensor(DType::kF32, {out, n}));
    };
    // Expected y for given inputs: rms_norm by the reference, then the double product with the dequantized weights;
    // tolerance as in check_matmul's int8 bound, plus the residual's float add.
    auto expect = [&](const std::vector<float>& xv, const std::vector<float>& rv, std::vector<double>* want,
                      std::vector<double>* tol) {
        std::vector<float> xnv(xv.size());
        reference::rms_norm(xv.data(), norm_w.data(), eps, in, 0, n, xnv.data());
        want->assign(static_cast<size_t>(out * n), 0.0);
        tol->assign(want->size(), 0.0);
        for (int64_t t = 0; t < n; ++t) {
            for (int64_t o = 0; o < out; ++o) {
                double s = 0, err = 0, mag = 0;
                for (int64_t b = 0; b < in; b += 32) {
                    double amax = 0, wmax = 0;
                    for (int64_t i = b; i < b + 32; ++i) {
                        amax = std::max(amax, std::fabs(double{xnv[t * in + i]}));
                        wmax = std::max(wmax, std::fabs(double{w_deq[o * in + i]}));
                    }
                    for (int64_t i = b; i < b + 32; ++i) {
                        const double wi = w_deq[o * in + i], xi = xnv[t * in + i];
                        s += wi * xi;
                        err += std::fabs(wi) * amax * kInt8StepError;
                        mag += (std::fabs(wi) + wmax) * (std::fabs(xi) + amax * kInt8StepError);
                    }
                }
                const size_t k = static_cast<size_t>(t * out + o);
                (*want)[k] = s + rv[k];
                (*tol)[k] = err + kMatmulRel * mag + 1e-6 * std::fabs((*want)[k]) + kMatmulAbs;
            }
        }
    };

    const uint64_t key = 42;
    std::vector<double> want, tol;
    for (int round = 0; round < 4; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        const std::vector<float> xv = normal_floats(rng, in * n, round % 2 == 0 ? 1.0f : 30.0f);
        const std::vector<float> rv = normal_floats(rng, out * n, 5.0f);
        x.upload(xv);
        residual.upload(rv);
        y.poison();
        if (round == 3) be->clear_graphs();
        be->run_graph(key, issue);
        const Snapshot got = y.snapshot();
        ASSERT_TRUE(got.guards_intact());
        ASSERT_TRUE(x.snapshot().guards_intact());
        ASSERT_TRUE(xn.snapshot().guards_intact());
        expect(xv, rv, &want, &tol);
        ASSERT_TRUE(all_close(got, want, tol, "rms_norm -> matmul -> add on the host"));
        EXPECT_EQ(issued, round < 3 ? 1 : 2) << "ops issued again although the key was recorded";
    }
}

// A recording starts from nothing the backend kept from earlier eager work: the recorded product reads an input
// that an eager product has just used (and quantized, where the backend keeps quantized activations between
// products), so a recording that relied on that state would replay stale activations once the input changes.
TEST(CudaGraphTest, RecordingDoesNotReuseEarlierState) {
    std::string why;
    std::unique_ptr<Backend> be = make_backend_or_skip(&why);
    if (!why.empty()) GTEST_SKIP() << why;
    ASSERT_NE(be, nullptr);
    const uint32_t seed = base_seed() ^ 0xbb67ae85u;
    SCOPED_TRACE("seed " + std::to_string(seed) + " (replay with FRUGAL_TEST_SEED=" + std::to_string(base_seed()) +
                 ")");
    std::mt19937 rng(seed);
    const int64_t in = 512, n = 4;
    PlacedWeight w1, w2;
    place_random_weight(*be, rng, DType::kQ4_K, in, 32, &w1);
    place_random_weight(*be, rng, DType::kQ8_0, in, 24, &w2);
    ASSERT_FALSE(::testing::Test::HasFatalFailure());
    GuardedBuffer x(*be, n * in * 4), y1(*be, n * w1.out * 4), y2(*be, n * w2.out * 4);
    int issued = 0;
    auto issue = [&] {
        ++issued;
        be->matmul(w1.tensor, x.tensor(DType::kF32, {in, n}), y1.tensor(DType::kF32, {w1.out, n}));
    };
    for (int round = 0; round < 3; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        const std::vector<float> xv = normal_floats(rng, n * in, 1.0f + static_cast<float>(round));
        x.upload(xv);
        y1.poison();
        be->matmul(w2.tensor, x.tensor(DType::kF32, {in, n}), y2.tensor(DType::kF32, {w2.out, n}));
        be->run_graph(7, issue);  // nothing between the eager product and the recording
        verify_matmul(y1.snapshot(), w1, xv, n);
        ASSERT_FALSE(::testing::Test::HasFatalFailure());
        verify_matmul(y2.snapshot(), w2, xv, n);
        ASSERT_FALSE(::testing::Test::HasFatalFailure());
    }
    EXPECT_EQ(issued, 1);
    // And eager products after a replay follow new contents too.
    const std::vector<float> xv = normal_floats(rng, n * in, 2.0f);
    x.upload(xv);
    be->matmul(w1.tensor, x.tensor(DType::kF32, {in, n}), y1.tensor(DType::kF32, {w1.out, n}));
    verify_matmul(y1.snapshot(), w1, xv, n);
}

}  // namespace
}  // namespace frugal
