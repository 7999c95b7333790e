// Op conformance: every Backend op of the CPU backend, on every ISA variant this processor runs, with 1 and 3
// threads, over several shapes, against two references: the scalar reference ops (reference_ops.h, the ground
// truth the style guide names) and a textbook formula written here in double precision, so a bug shared by the
// backend and its reference (the backend calls the reference for several ops) still shows.
//
// Every case draws fresh random inputs: the seed comes from std::random_device (or FRUGAL_TEST_SEED to replay)
// and is printed with any failure. Outputs live in guarded buffers: poisoned NaN words before and after (caught
// if an op writes out of bounds) and, for out-of-place ops, a poisoned output region (caught if an op leaves an
// element unwritten).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <numbers>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/reference/reference_ops.h"
#include "core/half.h"
#include "quant/quant_traits.h"

namespace frugal {
namespace {

// ---- error thresholds, one named constant per op ----

// get_rows copies dequantized rows: bit-exact against the dtype's dequantizer.
// rms_norm: float products after a double sum of squares.
constexpr double kRmsNormRel = 2e-6;
// rope: float rotation with float cos/sin, vs double throughout, relative to |x0| + |x1| of the pair; plus an
// allowance for an angle computed in float (as ggml does), relative to the angle.
constexpr double kRopeRel = 5e-7;
constexpr double kRopeAngleRel = 4e-7;
// glu: float exp/tanh vs double, relative to the result, plus an absolute term for gelu's 1 + tanh(u), which
// cancels for negative gates: one float ulp of tanh near -1, times |gate * up|.
constexpr double kGluRel = 2e-6;
constexpr double kGluCancel = 1.2e-7;
// attention: float scores and weights vs a double two-pass softmax; outputs are convex combinations of V rows, so
// the bound scales with max |v|.
constexpr double kAttentionAbs = 5e-5;
// matmul against the exact product of dequantized weights and the *quantized* activations the kernels see:
// only float rounding differs (per-block scale products, float accumulation), relative to sum |w_i x_i|.
constexpr double kMatmulRel = 1e-5;
// Q4_1/Q5_1 multiply their block minimum m by the activation block's sum s = d * sum(q), which Q8_1 stores in
// fp16 from the unrounded d: s differs from the sum of the dequantized activations by up to 2 * 2^-11 of it. The
// bound per block is kQ8_1SumError * |m| * sum |x_i|, with |m| at most the block's largest |w|.
constexpr double kQ8_1SumError = 2.5 / 2048;
// Worst-case activation quantization error per element, in units of its block's amax (Q8_0, Q8_1 and Q8_K keep
// q = round(x / d) with d = amax / 127: half a step, plus the fp16 rounding of d for Q8_0/Q8_1: 127 * 2^-11 steps).
constexpr double kQ8StepError = (0.5 + 127.0 / 2048.0 + 1e-3) / 127.0;

constexpr uint32_t kPoisonBits = 0xffc0beefu;  // a negative quiet NaN with a payload no op produces
constexpr int64_t kGuardBytes = 256;           // before and after every output, a multiple of 64

// ---- seed ----

uint32_t base_seed() {
    static const uint32_t seed = [] {
        if (const char* s = std::getenv("FRUGAL_TEST_SEED")) return static_cast<uint32_t>(std::strtoul(s, nullptr, 0));
        return static_cast<uint32_t>(std::random_device{}());
    }();
    return seed;
}

// ---- guarded buffers ----

// A 64-byte-aligned region of `bytes` bytes with kGuardBytes of poison on each side. The region itself starts
// poisoned too; callers overwrite the parts an op reads.
class Guarded {
public:
    explicit Guarded(int64_t bytes) : bytes_(bytes), storage_(static_cast<size_t>(bytes + 2 * kGuardBytes + 64 + 3)) {
        const auto addr = reinterpret_cast<uintptr_t>(storage_.data());
        begin_ = storage_.data() + ((64 - addr % 64) % 64);
        poison(begin_, kGuardBytes + bytes_ + kGuardBytes);
    }
    Guarded(const Guarded&) = delete;
    Guarded& operator=(const Guarded&) = delete;

    void* data() { return begin_ + kGuardBytes; }
    const void* data() const { return begin_ + kGuardBytes; }
    float* f32() { return reinterpret_cast<float*>(data()); }
    int64_t bytes() const { return bytes_; }
    void poison_body() { poison(begin_ + kGuardBytes, bytes_); }
    void set(const void* src, size_t n) {
        CHECK(static_cast<int64_t>(n) <= bytes_);
        std::memcpy(data(), src, n);
    }

    ::testing::AssertionResult guards_intact() const {
        for (int64_t i = 0; i < kGuardBytes; ++i) {
            if (begin_[i] != poison_byte(i)) {
                return ::testing::AssertionFailure() << "write " << (kGuardBytes - i) << " bytes before the buffer";
            }
            const int64_t j = kGuardBytes + bytes_ + i;
            if (begin_[j] != poison_byte(j)) {
                return ::testing::AssertionFailure() << "write " << i << " bytes past the end of the buffer";
            }
        }
        return ::testing::AssertionSuccess();
    }
    // Whether F32 element i still holds the poison pattern.
    bool f32_is_poison(int64_t i) const {
        uint32_t u;
        std::memcpy(&u, begin_ + kGuardBytes + 4 * i, 4);
        return u == kPoisonBits;
    }

private:
    // The pattern is kPoisonBits repeated from the start of the guard (a multiple of 4 bytes before the body),
    // so every F32 element of the body, and of the guards, reads as the poison NaN.
    static uint8_t poison_byte(int64_t i) { return static_cast<uint8_t>(kPoisonBits >> (8 * (i % 4))); }
    void poison(uint8_t* p, int64_t n) {
        const int64_t off = p - begin_;
        for (int64_t i = 0; i < n; ++i) p[i] = poison_byte(off + i);
    }
    int64_t bytes_;
    std::vector<uint8_t> storage_;
    uint8_t* begin_;
};

// ---- helpers ----

std::vector<float> normal_floats(std::mt19937& rng, int64_t n, float scale) {
    std::normal_distribution<float> dist(0.0f, scale);
    std::vector<float> v(static_cast<size_t>(n));
    for (float& f : v) f = dist(rng);
    return v;
}

// Compares n outputs against want with |got - want| <= tol[i]; rejects NaN/Inf and unwritten (poison) outputs.
::testing::AssertionResult all_close(const Guarded& out, const std::vector<double>& want,
                                     const std::vector<double>& tol, const std::string& against) {
    const auto* got = static_cast<const float*>(out.data());
    int failures = 0;
    ::testing::AssertionResult r = ::testing::AssertionFailure();
    for (size_t i = 0; i < want.size(); ++i) {
        std::string why;
        if (out.f32_is_poison(static_cast<int64_t>(i))) {
            why = "not written";
        } else if (!std::isfinite(got[i])) {
            why = "not finite";
        } else if (!(std::fabs(got[i] - want[i]) <= tol[i])) {
            why = "off by " + std::to_string(std::fabs(got[i] - want[i]));
        } else {
            continue;
        }
        if (++failures <= 5) {
            r << "\n  [" << i << "] got " << got[i] << ", " << against << " " << want[i] << ", tolerance " << tol[i]
              << ": " << why;
        }
    }
    if (failures == 0) return ::testing::AssertionSuccess();
    return r << "\n  " << failures << " of " << want.size() << " elements differ from " << against;
}

std::vector<double> to_double(const float* p, int64_t n) { return std::vector<double>(p, p + n); }
std::vector<double> uniform_tol(int64_t n, double t) { return std::vector<double>(static_cast<size_t>(n), t); }
std::vector<double> rel_tol(const std::vector<double>& want, double rel, double abs) {
    std::vector<double> t(want.size());
    for (size_t i = 0; i < want.size(); ++i) t[i] = rel * std::fabs(want[i]) + abs;
    return t;
}

// ---- the case table ----

struct OpCase {
    std::string name;
    // Builds inputs from rng, runs the op on the backend and checks it. Uses gtest assertions.
    std::function<void(CpuBackend& backend, std::mt19937& rng)> run;
};

// get_rows: any storable dtype; exact against the dtype's dequantizer, and the dequantized values are close to
// the floats that were quantized (catches a dequantizer that is consistently wrong).
void check_get_rows(CpuBackend& be, std::mt19937& rng, DType dtype, int64_t d, int64_t rows, int64_t n) {
    const QuantTraits& qt = quant_traits(dtype);
    const std::vector<float> src = normal_floats(rng, d * rows, 1.0f);
    const int64_t row_bytes = dtype_row_bytes(dtype, d);
    std::vector<uint8_t> table(static_cast<size_t>(row_bytes * rows));
    for (int64_t r = 0; r < rows; ++r) qt.quantize_row(src.data() + r * d, table.data() + r * row_bytes, d);
    std::vector<int32_t> ids(static_cast<size_t>(n));
    std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(rows - 1));
    for (int32_t& id : ids) id = pick(rng);
    ids.front() = static_cast<int32_t>(rows - 1);  // the last row, and a repeat
    if (n > 2) ids[1] = 0;
    if (n > 3) ids[2] = ids[1];

    Guarded out(n * d * 4);
    be.get_rows(Tensor(table.data(), dtype, {d, rows}), Tensor(ids.data(), DType::kI32, {n}),
                Tensor(out.data(), DType::kF32, {d, n}));
    ASSERT_TRUE(out.guards_intact());

    std::vector<float> ref(static_cast<size_t>(n * d));
    reference::get_rows(Tensor(table.data(), dtype, {d, rows}), ids.data(), 0, n, ref.data());
    ASSERT_TRUE(all_close(out, to_double(ref.data(), n * d), uniform_tol(n * d, 0.0), "reference::get_rows"));

    // Independent: dequantize_row of each chosen row, and closeness to the original floats. Quantization error
    // bounds per format, relative to the row's largest magnitude (loose: they only catch a wrong row or layout).
    double bound = 0;
    switch (dtype) {
        case DType::kF32: bound = 0; break;
        case DType::kF16: bound = 1.0 / 2048; break;
        case DType::kBF16: bound = 1.0 / 256; break;
        case DType::kQ8_0: bound = 0.01; break;
        case DType::kQ6_K: bound = 0.05; break;
        default: bound = 0.25; break;  // 4-bit formats
    }
    std::vector<double> want(static_cast<size_t>(n * d)), tol(static_cast<size_t>(n * d));
    for (int64_t i = 0; i < n; ++i) {
        const float* s = src.data() + static_cast<int64_t>(ids[i]) * d;
        double amax = 0;
        for (int64_t j = 0; j < d; ++j) amax = std::max(amax, static_cast<double>(std::fabs(s[j])));
        for (int64_t j = 0; j < d; ++j) {
            want[i * d + j] = s[j];
            tol[i * d + j] =
                dtype == DType::kF16 || dtype == DType::kBF16 ? bound * std::fabs(s[j]) + 3e-8 : bound * amax;
        }
    }
    ASSERT_TRUE(all_close(out, want, tol, "the unquantized row"));
}

void check_rms_norm(CpuBackend& be, std::mt19937& rng, int64_t d, int64_t rows, float magnitude, bool in_place) {
    const float eps = 1e-5f;
    const std::vector<float> x = normal_floats(rng, d * rows, magnitude);
    const std::vector<float> w = normal_floats(rng, d, 1.0f);
    Guarded xbuf(d * rows * 4);
    xbuf.set(x.data(), x.size() * 4);
    Guarded obuf(d * rows * 4);
    Guarded& out = in_place ? xbuf : obuf;
    be.rms_norm(Tensor(xbuf.data(), DType::kF32, {d, rows}), Tensor(const_cast<float*>(w.data()), DType::kF32, {d}),
                eps, Tensor(out.data(), DType::kF32, {d, rows}));
    ASSERT_TRUE(xbuf.guards_intact());
    ASSERT_TRUE(obuf.guards_intact());

    std::vector<float> ref(x.size());
    reference::rms_norm(x.data(), w.data(), eps, d, 0, rows, ref.data());
    const std::vector<double> want_ref = to_double(ref.data(), d * rows);
    ASSERT_TRUE(all_close(out, want_ref, rel_tol(want_ref, kRmsNormRel, 1e-30), "reference::rms_norm"));

    std::vector<double> want(x.size());
    for (int64_t r = 0; r < rows; ++r) {
        double ss = 0;
        for (int64_t i = 0; i < d; ++i) ss += static_cast<double>(x[r * d + i]) * x[r * d + i];
        const double inv = 1.0 / std::sqrt(ss / d + eps);
        for (int64_t i = 0; i < d; ++i) want[r * d + i] = x[r * d + i] * inv * w[i];
    }
    ASSERT_TRUE(all_close(out, want, rel_tol(want, kRmsNormRel, 1e-30), "double rms_norm"));
}

// matmul: against (1) the exact product of dequantized weights and the dequantized quantized activations (tight:
// only float rounding differs) and (2) reference::matmul on the unquantized activations, with a bound derived
// from the activation format's worst-case quantization error per element.
void check_matmul(CpuBackend& be, std::mt19937& rng, DType dtype, int64_t in, int64_t out, int64_t n) {
    const QuantTraits& wt = quant_traits(dtype);
    const QuantTraits& xt = quant_traits(wt.vec_dot_type);
    const std::vector<float> wf = normal_floats(rng, in * out, 0.5f);
    const int64_t w_row_bytes = dtype_row_bytes(dtype, in);
    std::vector<uint8_t> w(static_cast<size_t>(w_row_bytes * out));
    std::vector<float> w_deq(wf.size());
    for (int64_t o = 0; o < out; ++o) {
        wt.quantize_row(wf.data() + o * in, w.data() + o * w_row_bytes, in);
        wt.dequantize_row(w.data() + o * w_row_bytes, w_deq.data() + o * in, in);
    }
    std::vector<float> x = normal_floats(rng, in * n, 2.0f);
    // One activation row with a large outlier block and one all-zero block, where n allows.
    if (n > 1) {
        for (int64_t i = 0; i < 32; ++i) x[in + i] = 0.0f;
        x[in + 40] = 300.0f;
    }
    const int64_t x_row_bytes = dtype_row_bytes(wt.vec_dot_type, in);
    std::vector<uint8_t> xq(static_cast<size_t>(x_row_bytes * n));
    std::vector<float> x_deq(x.size());
    for (int64_t t = 0; t < n; ++t) {
        xt.quantize_row(x.data() + t * in, xq.data() + t * x_row_bytes, in);
        xt.dequantize_row(xq.data() + t * x_row_bytes, x_deq.data() + t * in, in);
    }

    Guarded y(n * out * 4);
    std::vector<float> x_input = x;  // the op must not modify x; keep a pristine copy to compare
    be.matmul(Tensor(w.data(), dtype, {in, out}), Tensor(x_input.data(), DType::kF32, {in, n}),
              Tensor(y.data(), DType::kF32, {out, n}));
    ASSERT_TRUE(y.guards_intact());
    ASSERT_EQ(std::memcmp(x_input.data(), x.data(), x.size() * 4), 0) << "matmul modified its input x";

    // The backend's reference_matmul mode multiplies the unquantized activations in double.
    const bool reference_mode = be.name().find("reference") != std::string::npos;
    if (reference_mode) x_deq = x;
    const bool q8_1 = wt.vec_dot_type == DType::kQ8_1 && !reference_mode;
    const bool quantized_x = wt.vec_dot_type != DType::kF32 && !reference_mode;
    const double rel = kMatmulRel;
    const int64_t act_block = quantized_x ? dtype_layout(wt.vec_dot_type).block_size : 1;
    std::vector<double> exact(static_cast<size_t>(n * out)), tight(exact.size()), loose(exact.size());
    for (int64_t t = 0; t < n; ++t) {
        // Worst-case activation error of each element: a fixed fraction of its block's amax.
        std::vector<double> x_err(static_cast<size_t>(in), 0.0);
        if (quantized_x) {
            for (int64_t b = 0; b < in; b += act_block) {
                double amax = 0;
                for (int64_t i = b; i < b + act_block; ++i) amax = std::max(amax, std::fabs(double{x[t * in + i]}));
                for (int64_t i = b; i < b + act_block; ++i) x_err[i] = amax * kQ8StepError;
            }
        }
        for (int64_t o = 0; o < out; ++o) {
            double s = 0, mag = 0, err = 0, sum_error = 0;
            for (int64_t i = 0; i < in; ++i) {
                const double wi = w_deq[o * in + i];
                s += wi * x_deq[t * in + i];
                mag += std::fabs(wi * x_deq[t * in + i]);
                err += std::fabs(wi) * x_err[i];
            }
            if (q8_1) {
                for (int64_t b = 0; b < in; b += act_block) {
                    double w_max = 0, x_abs = 0;
                    for (int64_t i = b; i < b + act_block; ++i) {
                        w_max = std::max(w_max, std::fabs(double{w_deq[o * in + i]}));
                        x_abs += std::fabs(double{x_deq[t * in + i]});
                    }
                    sum_error += kQ8_1SumError * 1.1 * w_max * x_abs;
                }
            }
            exact[t * out + o] = s;
            tight[t * out + o] = rel * mag + sum_error + 1e-6;
            loose[t * out + o] = err + rel * mag + sum_error + 1e-6;
        }
    }
    ASSERT_TRUE(all_close(y, exact, tight, "exact product over quantized activations"));

    std::vector<float> ref(static_cast<size_t>(n * out));
    reference::matmul(Tensor(w.data(), dtype, {in, out}), x.data(), n, ref.data(), 0, out);
    ASSERT_TRUE(all_close(y, to_double(ref.data(), n * out), loose, "reference::matmul"));
}

void check_add(CpuBackend& be, std::mt19937& rng, int64_t d, int64_t rows, bool broadcast, bool in_place) {
    const std::vector<float> a = normal_floats(rng, d * rows, 1.0f);
    const std::vector<float> b = normal_floats(rng, broadcast ? d : d * rows, 1.0f);
    Guarded abuf(d * rows * 4), obuf(d * rows * 4);
    abuf.set(a.data(), a.size() * 4);
    Guarded& out = in_place ? abuf : obuf;
    const Tensor bt = broadcast ? Tensor(const_cast<float*>(b.data()), DType::kF32, {d})
                                : Tensor(const_cast<float*>(b.data()), DType::kF32, {d, rows});
    be.add(Tensor(abuf.data(), DType::kF32, {d, rows}), bt, Tensor(out.data(), DType::kF32, {d, rows}));
    ASSERT_TRUE(abuf.guards_intact());
    ASSERT_TRUE(obuf.guards_intact());
    std::vector<double> want(a.size());
    for (int64_t r = 0; r < rows; ++r) {
        for (int64_t i = 0; i < d; ++i) want[r * d + i] = a[r * d + i] + b[broadcast ? i : r * d + i];  // float sum
    }
    for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<float>(want[i]);
    ASSERT_TRUE(all_close(out, want, uniform_tol(d * rows, 0.0), "a + b"));
}

void check_scale(CpuBackend& be, std::mt19937& rng, int64_t n, float s) {
    const std::vector<float> x = normal_floats(rng, n, 3.0f);
    Guarded buf(n * 4);
    buf.set(x.data(), x.size() * 4);
    be.scale(Tensor(buf.data(), DType::kF32, {n}), s);
    ASSERT_TRUE(buf.guards_intact());
    std::vector<double> want(x.size());
    for (size_t i = 0; i < x.size(); ++i) want[i] = x[i] * s;  // float product
    ASSERT_TRUE(all_close(buf, want, uniform_tol(n, 0.0), "x * s"));
}

void check_rope(CpuBackend& be, std::mt19937& rng, RopeMode mode, int64_t heads, int64_t head_dim, int n_rot,
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
    const Tensor factors_t(factors.data(), DType::kF32, {n_rot / 2});
    RopeParams p;
    p.mode = mode;
    p.n_rot = n_rot;
    p.freq_base = freq_base;
    p.freq_scale = freq_scale;
    p.freq_factors = with_factors ? &factors_t : nullptr;

    Guarded buf(static_cast<int64_t>(x.size()) * 4);
    buf.set(x.data(), x.size() * 4);
    be.rope(Tensor(buf.data(), DType::kF32, {head_dim, heads, n}), Tensor(pos.data(), DType::kI32, {n}), p);
    ASSERT_TRUE(buf.guards_intact());

    std::vector<float> ref = x;
    reference::rope(ref.data(), heads, head_dim, pos.data(), p, 0, n);
    const std::vector<double> want_ref = to_double(ref.data(), static_cast<int64_t>(ref.size()));
    ASSERT_TRUE(all_close(buf, want_ref, rel_tol(want_ref, 0.0, 1e-6), "reference::rope"));

    // Textbook: pair k rotates by pos * freq_scale * base^(-2k / n_rot) / factor_k; dimensions past n_rot pass
    // through untouched (bit for bit).
    std::vector<double> want(x.size()), tol(x.size(), 0.0);
    for (size_t i = 0; i < x.size(); ++i) want[i] = x[i];
    for (int64_t t = 0; t < n; ++t) {
        for (int64_t h = 0; h < heads; ++h) {
            const int64_t base = (t * heads + h) * head_dim;
            for (int k = 0; k < n_rot / 2; ++k) {
                const int64_t i0 = mode == RopeMode::kNormal ? 2 * k : k;
                const int64_t i1 = mode == RopeMode::kNormal ? 2 * k + 1 : k + n_rot / 2;
                double theta = pos[t] * static_cast<double>(freq_scale) *
                               std::pow(static_cast<double>(freq_base), -2.0 * k / n_rot);
                if (with_factors) theta /= factors[k];
                const double x0 = x[base + i0], x1 = x[base + i1];
                want[base + i0] = x0 * std::cos(theta) - x1 * std::sin(theta);
                want[base + i1] = x0 * std::sin(theta) + x1 * std::cos(theta);
                const double t_err = std::fabs(theta) * kRopeAngleRel;
                tol[base + i0] = tol[base + i1] = (kRopeRel + t_err) * (std::fabs(x0) + std::fabs(x1)) + 1e-7;
            }
        }
    }
    ASSERT_TRUE(all_close(buf, want, tol, "textbook rope"));
}

double silu_d(double x) { return x / (1.0 + std::exp(-x)); }
double gelu_tanh_d(double x) {
    return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / std::numbers::pi) * (x + 0.044715 * x * x * x)));
}

void check_glu(CpuBackend& be, std::mt19937& rng, GluKind kind, int64_t d, int64_t rows, bool in_place) {
    std::vector<float> gate = normal_floats(rng, d * rows, 3.0f);
    // Extremes: large negative gates (exp overflow in silu), large positive, zero.
    gate[0] = -100.0f;
    gate[1] = 100.0f;
    gate[2] = 0.0f;
    if (gate.size() > 4) gate[3] = -20.0f;
    const std::vector<float> up = normal_floats(rng, d * rows, 1.0f);
    Guarded gbuf(d * rows * 4), obuf(d * rows * 4);
    gbuf.set(gate.data(), gate.size() * 4);
    Guarded& out = in_place ? gbuf : obuf;
    be.glu(Tensor(gbuf.data(), DType::kF32, {d, rows}), Tensor(const_cast<float*>(up.data()), DType::kF32, {d, rows}),
           kind, Tensor(out.data(), DType::kF32, {d, rows}));
    ASSERT_TRUE(gbuf.guards_intact());
    ASSERT_TRUE(obuf.guards_intact());

    // SIMD variants evaluate exp / tanh with their own polynomial approximations: both comparisons allow a few
    // float ulps of the result (kGluRel) plus the cancellation term.
    std::vector<double> want(gate.size());
    for (size_t i = 0; i < gate.size(); ++i) {
        want[i] = (kind == GluKind::kSilu ? silu_d(gate[i]) : gelu_tanh_d(gate[i])) * up[i];
    }
    std::vector<double> tol(want.size());
    for (size_t i = 0; i < want.size(); ++i) {
        tol[i] = kGluRel * std::fabs(want[i]) + kGluCancel * std::fabs(gate[i] * up[i]) + 1e-30;
    }
    std::vector<float> ref(gate.size());
    reference::glu(gate.data(), up.data(), kind, 0, d * rows, ref.data());
    ASSERT_TRUE(all_close(out, to_double(ref.data(), d * rows), tol, "reference::glu"));
    ASSERT_TRUE(all_close(out, want, tol, "double glu"));
}

void check_store_kv(CpuBackend& be, std::mt19937& rng, DType cache_dtype, int64_t kv_heads, int64_t head_dim,
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
    CHECK_EQ(static_cast<int64_t>(slots.size()), n);
    const int64_t elem = cache_dtype == DType::kF32 ? 4 : 2;
    Guarded kc(num_slots * row * elem), vc(num_slots * row * elem);
    be.store_kv(Tensor(const_cast<float*>(k.data()), DType::kF32, {head_dim, kv_heads, n}),
                Tensor(const_cast<float*>(v.data()), DType::kF32, {head_dim, kv_heads, n}),
                Tensor(slots.data(), DType::kI32, {n}), Tensor(kc.data(), cache_dtype, {head_dim, kv_heads, num_slots}),
                Tensor(vc.data(), cache_dtype, {head_dim, kv_heads, num_slots}));
    ASSERT_TRUE(kc.guards_intact());
    ASSERT_TRUE(vc.guards_intact());

    // Expected caches: poison everywhere except the written slots (so untouched slots must stay untouched).
    Guarded kw(num_slots * row * elem), vw(num_slots * row * elem);
    reference::store_kv(k.data(), v.data(), slots.data(), row, cache_dtype, kw.data(), vw.data(), 0, n);
    ASSERT_EQ(std::memcmp(kc.data(), kw.data(), static_cast<size_t>(kc.bytes())), 0) << "k cache != reference";
    ASSERT_EQ(std::memcmp(vc.data(), vw.data(), static_cast<size_t>(vc.bytes())), 0) << "v cache != reference";

    // Independent: the written values round-trip to within the cache format's precision.
    for (int64_t t = 0; t < n; ++t) {
        for (int64_t i = 0; i < row; ++i) {
            const int64_t at = slots[t] * row + i;
            const float kv[2] = {k[t * row + i], v[t * row + i]};
            Guarded* caches[2] = {&kc, &vc};
            for (int c = 0; c < 2; ++c) {
                const float got = cache_dtype == DType::kF32
                                      ? static_cast<const float*>(caches[c]->data())[at]
                                      : fp16_to_fp32(static_cast<const uint16_t*>(caches[c]->data())[at]);
                const double tol = cache_dtype == DType::kF32 ? 0.0 : std::fabs(kv[c]) / 2048.0 + 3e-8;
                ASSERT_LE(std::fabs(got - kv[c]), tol) << (c ? "v" : "k") << " token " << t << " element " << i;
            }
        }
    }
}

struct AttentionSetup {
    int64_t heads = 4;
    int64_t kv_heads = 2;
    int64_t head_dim = 32;
    int block_size = 16;
    int sliding_window = 0;
    float softcap = 0.0f;
    float q_scale = 1.0f;  // larger values sharpen the softmax
    DType cache_dtype = DType::kF32;
};

// Sequences in the batch: tokens [first, last] of each are queried; keys [0, last] are in the cache.
struct SeqChunk {
    int first;
    int last;
};

void check_attention(CpuBackend& be, std::mt19937& rng, const AttentionSetup& a) {
    // Decode of one token deep in a sequence, a chunk of prefill continuing a sequence, a fresh prompt, and a
    // one-token sequence at position 0.
    const std::vector<SeqChunk> seqs = {{45, 45}, {10, 27}, {0, 6}, {0, 0}};
    const int64_t num_seqs = static_cast<int64_t>(seqs.size());
    const int bs = a.block_size;
    int64_t max_blocks = 0;
    for (const SeqChunk& s : seqs) max_blocks = std::max<int64_t>(max_blocks, s.last / bs + 1);
    max_blocks += 1;  // one trailing unused (-1) entry per table
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
    const int64_t n = static_cast<int64_t>(positions.size());
    std::vector<size_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::shuffle(order.begin(), order.end(), rng);
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
    const int64_t elem = a.cache_dtype == DType::kF32 ? 4 : 2;
    Guarded kc(num_slots * kv_row * elem), vc(num_slots * kv_row * elem);
    if (a.cache_dtype == DType::kF32) {
        kc.set(kf.data(), kf.size() * 4);
        vc.set(vf.data(), vf.size() * 4);
    } else {
        auto* kh = static_cast<uint16_t*>(kc.data());
        auto* vh = static_cast<uint16_t*>(vc.data());
        for (size_t i = 0; i < kf.size(); ++i) {
            kh[i] = fp32_to_fp16(kf[i]);
            vh[i] = fp32_to_fp16(vf[i]);
            kf[i] = fp16_to_fp32(kh[i]);  // the values the op sees
            vf[i] = fp16_to_fp32(vh[i]);
        }
    }

    std::vector<float> q = normal_floats(rng, n * a.heads * a.head_dim, a.q_scale);
    Guarded out(n * a.heads * a.head_dim * 4);
    AttentionBatch batch;
    batch.positions = Tensor(positions.data(), DType::kI32, {n});
    batch.token_seq = Tensor(token_seq.data(), DType::kI32, {n});
    batch.block_tables = Tensor(tables.data(), DType::kI32, {max_blocks, num_seqs});
    batch.block_size = bs;
    AttentionParams params;
    params.scale = 1.0f / std::sqrt(static_cast<float>(a.head_dim));
    params.sliding_window = a.sliding_window;
    params.softcap = a.softcap;
    const Tensor k_cache(kc.data(), a.cache_dtype, {a.head_dim, a.kv_heads, num_slots});
    const Tensor v_cache(vc.data(), a.cache_dtype, {a.head_dim, a.kv_heads, num_slots});
    be.attention(Tensor(q.data(), DType::kF32, {a.head_dim, a.heads, n}), k_cache, v_cache, batch, params,
                 Tensor(out.data(), DType::kF32, {a.head_dim, a.heads, n}));
    ASSERT_TRUE(out.guards_intact());
    ASSERT_TRUE(kc.guards_intact());
    ASSERT_TRUE(vc.guards_intact());

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
    ASSERT_TRUE(all_close(out, to_double(ref.data(), total), uniform_tol(total, kAttentionAbs * 4),
                          "reference::attention"));

    // Textbook two-pass softmax in double over the visible keys, with GQA head h reading KV head h / group.
    std::vector<double> want(static_cast<size_t>(total), 0.0);
    const int64_t group = a.heads / a.kv_heads;
    for (int64_t t = 0; t < n; ++t) {
        const int64_t s = token_seq[t];
        const int64_t pos = positions[t];
        const int64_t lo = a.sliding_window > 0 ? std::max<int64_t>(0, pos - a.sliding_window + 1) : 0;
        for (int64_t h = 0; h < a.heads; ++h) {
            const float* qh = q.data() + (t * a.heads + h) * a.head_dim;
            std::vector<double> scores;
            std::vector<int64_t> bases;
            for (int64_t j = lo; j <= pos; ++j) {
                const int64_t slot = static_cast<int64_t>(tables[s * max_blocks + j / bs]) * bs + j % bs;
                const int64_t base = slot * kv_row + (h / group) * a.head_dim;
                double dot = 0;
                for (int64_t i = 0; i < a.head_dim; ++i) dot += static_cast<double>(qh[i]) * kf[base + i];
                dot *= params.scale;
                if (a.softcap > 0) dot = a.softcap * std::tanh(dot / a.softcap);
                scores.push_back(dot);
                bases.push_back(base);
            }
            const double mx = *std::max_element(scores.begin(), scores.end());
            double sum = 0;
            for (double& sc : scores) sum += (sc = std::exp(sc - mx));
            double* o = want.data() + (t * a.heads + h) * a.head_dim;
            for (size_t j = 0; j < scores.size(); ++j) {
                for (int64_t i = 0; i < a.head_dim; ++i) o[i] += scores[j] / sum * vf[bases[j] + i];
            }
        }
    }
    // Scores of magnitude S carry float rounding of about S * 2^-23 each; sharper softmaxes amplify it.
    const double tol = kAttentionAbs * std::max(1.0f, a.q_scale);
    ASSERT_TRUE(all_close(out, want, uniform_tol(total, tol), "textbook attention"));
}

std::vector<OpCase> build_cases() {
    std::vector<OpCase> cases;
    auto add = [&](std::string name, std::function<void(CpuBackend&, std::mt19937&)> fn) {
        cases.push_back({std::move(name), std::move(fn)});
    };

    for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K}) {
        for (auto [d, rows, n] : {std::tuple<int64_t, int64_t, int64_t>{256, 50, 1}, {512, 9, 7}, {256, 300, 40}}) {
            add(fmt::format("get_rows_{}_d{}_rows{}_n{}", dtype_name(t), d, rows, n),
                [=](CpuBackend& be, std::mt19937& rng) { check_get_rows(be, rng, t, d, rows, n); });
        }
    }

    for (auto [d, rows, mag] : {std::tuple<int64_t, int64_t, float>{64, 1, 1.0f}, {4096, 3, 1e-3f},
                                {64, 600, 1.0f}, {320, 70, 1e3f}}) {
        for (bool in_place : {false, true}) {
            add(fmt::format("rms_norm_d{}_rows{}_mag{}{}", d, rows, mag >= 1 ? static_cast<int>(mag) : 0,
                            in_place ? "_inplace" : ""),
                [=](CpuBackend& be, std::mt19937& rng) { check_rms_norm(be, rng, d, rows, mag, in_place); });
        }
    }

    for (DType t : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1,
                    DType::kQ8_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
        for (auto [in, out, n] : {std::tuple<int64_t, int64_t, int64_t>{256, 1, 1}, {256, 13, 5}, {768, 64, 9},
                                  {512, 37, 17}, {2304, 6, 2}}) {
            add(fmt::format("matmul_{}_in{}_out{}_n{}", dtype_name(t), in, out, n),
                [=](CpuBackend& be, std::mt19937& rng) { check_matmul(be, rng, t, in, out, n); });
        }
    }

    for (auto [d, rows] : {std::pair<int64_t, int64_t>{7, 3}, {4096, 9}}) {
        for (bool broadcast : {false, true}) {
            for (bool in_place : {false, true}) {
                add(fmt::format("add_d{}_rows{}{}{}", d, rows, broadcast ? "_broadcast" : "", in_place ? "_inplace" : ""),
                    [=](CpuBackend& be, std::mt19937& rng) { check_add(be, rng, d, rows, broadcast, in_place); });
            }
        }
    }

    for (int64_t n : {1, 33, 50000}) {
        add(fmt::format("scale_n{}", n), [=](CpuBackend& be, std::mt19937& rng) { check_scale(be, rng, n, -0.37f); });
    }

    for (RopeMode mode : {RopeMode::kNormal, RopeMode::kNeox}) {
        for (bool factors : {false, true}) {
            for (auto [head_dim, n_rot] : {std::pair<int64_t, int>{64, 64}, {128, 64}, {32, 16}}) {
                const char* m = mode == RopeMode::kNormal ? "normal" : "neox";
                add(fmt::format("rope_{}_hd{}_rot{}{}", m, head_dim, n_rot, factors ? "_factors" : ""),
                    [=](CpuBackend& be, std::mt19937& rng) {
                        check_rope(be, rng, mode, 3, head_dim, n_rot, factors, 10000.0f, 1.0f);
                    });
            }
            add(fmt::format("rope_{}_theta1e6_scale0.25{}", mode == RopeMode::kNormal ? "normal" : "neox",
                            factors ? "_factors" : ""),
                [=](CpuBackend& be, std::mt19937& rng) {
                    check_rope(be, rng, mode, 2, 128, 128, factors, 1e6f, 0.25f);
                });
        }
    }

    for (GluKind kind : {GluKind::kSilu, GluKind::kGeluTanh}) {
        for (auto [d, rows] : {std::pair<int64_t, int64_t>{5, 1}, {172, 3}, {1024, 9}}) {
            for (bool in_place : {false, true}) {
                add(fmt::format("glu_{}_d{}_rows{}{}", kind == GluKind::kSilu ? "silu" : "gelu_tanh", d, rows,
                                in_place ? "_inplace" : ""),
                    [=](CpuBackend& be, std::mt19937& rng) { check_glu(be, rng, kind, d, rows, in_place); });
            }
        }
    }

    for (DType t : {DType::kF32, DType::kF16}) {
        for (auto [kv_heads, head_dim, slots, n] : {std::tuple<int64_t, int64_t, int64_t, int64_t>{1, 8, 4, 1},
                                                    {2, 64, 64, 10}, {4, 128, 48, 48}}) {
            add(fmt::format("store_kv_{}_kvh{}_hd{}_slots{}_n{}", dtype_name(t), kv_heads, head_dim, slots, n),
                [=](CpuBackend& be, std::mt19937& rng) { check_store_kv(be, rng, t, kv_heads, head_dim, slots, n); });
        }
    }

    for (DType t : {DType::kF32, DType::kF16}) {
        for (auto [heads, kv_heads] : {std::pair<int64_t, int64_t>{4, 4}, {4, 2}, {8, 2}, {4, 1}}) {
            for (int window : {0, 5}) {
                for (int bs : {16, 4}) {
                    AttentionSetup a;
                    a.heads = heads;
                    a.kv_heads = kv_heads;
                    a.head_dim = heads == 8 ? 64 : 32;
                    a.block_size = bs;
                    a.sliding_window = window;
                    a.cache_dtype = t;
                    add(fmt::format("attention_{}_h{}_kvh{}_hd{}_bs{}_window{}", dtype_name(t), heads, kv_heads,
                                    a.head_dim, bs, window),
                        [=](CpuBackend& be, std::mt19937& rng) { check_attention(be, rng, a); });
                }
            }
        }
        AttentionSetup sharp;
        sharp.cache_dtype = t;
        sharp.q_scale = 8.0f;
        add(fmt::format("attention_{}_sharp_softmax", dtype_name(t)),
            [=](CpuBackend& be, std::mt19937& rng) { check_attention(be, rng, sharp); });
        AttentionSetup capped = sharp;
        capped.softcap = 5.0f;
        capped.sliding_window = 1;  // a window of one: each token sees only itself
        add(fmt::format("attention_{}_softcap_window1", dtype_name(t)),
            [=](CpuBackend& be, std::mt19937& rng) { check_attention(be, rng, capped); });
    }
    return cases;
}

const std::vector<OpCase>& all_cases() {
    static const std::vector<OpCase> cases = build_cases();
    return cases;
}

std::vector<CpuIsa> supported_isas() {
    std::vector<CpuIsa> isas;
    for (CpuIsa isa : {CpuIsa::kScalar, CpuIsa::kAvx2, CpuIsa::kAvx512}) {
        if (cpu_isa_supported(isa)) isas.push_back(isa);
    }
    return isas;
}

struct Variant {
    CpuIsa isa;
    int threads;
    bool reference_matmul;
};

std::string variant_name(const Variant& v) {
    return std::string(cpu_isa_name(v.isa)) + "_t" + std::to_string(v.threads) + (v.reference_matmul ? "_refmm" : "");
}

class OpConformanceTest : public ::testing::TestWithParam<Variant> {};

// All cases for one backend variant; each case reports itself and its seed on failure and the next one runs.
TEST_P(OpConformanceTest, EveryOpMatchesReference) {
    const Variant v = GetParam();
    CpuBackendOptions options;
    options.num_threads = v.threads;
    options.isa = v.isa;
    options.detect_isa = false;
    options.reference_matmul = v.reference_matmul;
    CpuBackend backend(options);
    ASSERT_EQ(backend.isa(), v.isa);
    ASSERT_EQ(backend.num_threads(), v.threads);

    const std::vector<OpCase>& cases = all_cases();
    for (size_t i = 0; i < cases.size(); ++i) {
        if (v.reference_matmul && cases[i].name.rfind("matmul_", 0) != 0) continue;  // only matmul differs
        const uint32_t seed = base_seed() ^ static_cast<uint32_t>(i * 0x9e3779b9u);
        SCOPED_TRACE("case " + cases[i].name + " on " + variant_name(v) + ", seed " + std::to_string(seed) +
                     " (replay with FRUGAL_TEST_SEED=" + std::to_string(base_seed()) + ")");
        std::mt19937 rng(seed);
        cases[i].run(backend, rng);
    }
}

std::vector<Variant> all_variants() {
    std::vector<Variant> vs;
    for (CpuIsa isa : supported_isas()) {
        for (int threads : {1, 3}) vs.push_back({isa, threads, false});
    }
    vs.push_back({CpuIsa::kScalar, 3, true});
    return vs;
}

INSTANTIATE_TEST_SUITE_P(CpuVariants, OpConformanceTest, ::testing::ValuesIn(all_variants()),
                         [](const auto& info) { return variant_name(info.param); });

// Sanity of the harness itself: a poisoned guard detects an out-of-bounds write, and all_close flags an
// unwritten element; otherwise a broken harness would make every case above pass vacuously.
TEST(OpConformanceHarnessTest, GuardsAndPoisonDetectMistakes) {
    Guarded g(16);
    EXPECT_TRUE(g.guards_intact());
    EXPECT_TRUE(g.f32_is_poison(0));
    static_cast<uint8_t*>(g.data())[16] = 0;
    EXPECT_FALSE(g.guards_intact());
    Guarded h(16);
    static_cast<uint8_t*>(h.data())[-1] = 0;
    EXPECT_FALSE(h.guards_intact());
    Guarded o(8);
    o.f32()[0] = 1.0f;
    EXPECT_FALSE(all_close(o, {1.0, 0.0}, {0.0, 1.0}, "x"));  // element 1 never written
    o.f32()[1] = 0.5f;
    EXPECT_TRUE(all_close(o, {1.0, 0.0}, {0.0, 1.0}, "x"));
    o.f32()[1] = std::numeric_limits<float>::infinity();
    EXPECT_FALSE(all_close(o, {1.0, 0.0}, {0.0, 1e300}, "x"));
}

// Each table entry has a distinct name (a duplicated entry would hide a missing one).
TEST(OpConformanceHarnessTest, CaseNamesAreUnique) {
    std::vector<std::string> names;
    for (const OpCase& c : all_cases()) names.push_back(c.name);
    std::sort(names.begin(), names.end());
    EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());
    EXPECT_GE(names.size(), 100u);
}

}  // namespace
}  // namespace frugal
