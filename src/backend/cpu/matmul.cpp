#include "backend/cpu/matmul.h"

#include <cstring>

#include "core/check.h"

namespace frugal {

CpuMatmul::CpuMatmul(const CpuKernels& k) : kernels_(k) {}

void CpuMatmul::run(ThreadPool& pool, const Tensor& w, const Tensor& x, const Tensor& y) {
    const int64_t in = w.cols(), out = w.rows(), n = x.rows();
    CHECK(x.dtype == DType::kF32) << "matmul activations must be F32";
    CHECK(y.dtype == DType::kF32) << "matmul output must be F32";
    CHECK_EQ(x.cols(), in);
    CHECK_EQ(y.cols(), out);
    CHECK_EQ(y.rows(), n);
    const VecDotFn vec_dot = kernels_.vec_dot[static_cast<int>(w.dtype)];
    CHECK(vec_dot != nullptr) << "no vec_dot kernel for " << dtype_name(w.dtype);
    const DType act_type = quant_traits(w.dtype).vec_dot_type;
    const int64_t act_row_bytes = dtype_row_bytes(act_type, in);
    const uint8_t* act = static_cast<const uint8_t*>(x.data);
    if (act_type != DType::kF32) {
        const QuantizeRowFn quantize = kernels_.quantize_row[static_cast<int>(act_type)];
        CHECK(quantize != nullptr) << "no quantizer for " << dtype_name(act_type);
        scratch_.resize(static_cast<size_t>(act_row_bytes * n));
        pool.parallel_for(n, [&](int64_t b, int64_t e) {
            for (int64_t t = b; t < e; ++t) quantize(x.as<float>() + t * in, scratch_.data() + t * act_row_bytes, in);
        });
        act = scratch_.data();
    }
    const int64_t w_row_bytes = w.row_bytes();
    const uint8_t* wd = static_cast<const uint8_t*>(w.data);
    float* yd = y.as<float>();
    pool.parallel_for(out, [&](int64_t b, int64_t e) {
        for (int64_t t = 0; t < n; ++t) {
            for (int64_t o = b; o < e; ++o) {
                yd[t * out + o] = vec_dot(in, wd + o * w_row_bytes, act + t * act_row_bytes);
            }
        }
    });
}

}  // namespace frugal
