#include "quant/calibrate/gptq.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "quant/block_grid.h"

namespace frugal {
namespace {

// In-place lower Cholesky factor of a (n x n, row-major); false if a is not positive definite.
bool cholesky_lower(std::vector<double>& a, int64_t n) {
    for (int64_t j = 0; j < n; ++j) {
        double* rj = a.data() + j * n;
        double d = rj[j];
        for (int64_t k = 0; k < j; ++k) d -= rj[k] * rj[k];
        if (!(d > 0)) return false;
        const double ljj = std::sqrt(d);
        rj[j] = ljj;
        for (int64_t i = j + 1; i < n; ++i) {
            double* ri = a.data() + i * n;
            double s = ri[j];
            for (int64_t k = 0; k < j; ++k) s -= ri[k] * rj[k];
            ri[j] = s / ljj;
        }
    }
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = i + 1; j < n; ++j) a[static_cast<size_t>(i * n + j)] = 0;
    }
    return true;
}

// The upper factor U of inverse(H) = U^T U, from H's lower Cholesky factor L: inverse(H) = L^-T L^-1.
bool inverse_upper_factor(const std::vector<double>& h, int64_t n, std::vector<double>* u) {
    std::vector<double> l = h;
    if (!cholesky_lower(l, n)) return false;
    // li = L^-1 (lower triangular), by forward substitution column by column.
    std::vector<double> li(static_cast<size_t>(n * n), 0.0);
    for (int64_t j = 0; j < n; ++j) {
        li[static_cast<size_t>(j * n + j)] = 1.0 / l[static_cast<size_t>(j * n + j)];
        for (int64_t i = j + 1; i < n; ++i) {
            double s = 0;
            for (int64_t k = j; k < i; ++k) s += l[static_cast<size_t>(i * n + k)] * li[static_cast<size_t>(k * n + j)];
            li[static_cast<size_t>(i * n + j)] = -s / l[static_cast<size_t>(i * n + i)];
        }
    }
    // hinv = li^T li (symmetric).
    std::vector<double> hinv(static_cast<size_t>(n * n), 0.0);
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = i; j < n; ++j) {
            double s = 0;
            for (int64_t k = j; k < n; ++k) s += li[static_cast<size_t>(k * n + i)] * li[static_cast<size_t>(k * n + j)];
            hinv[static_cast<size_t>(i * n + j)] = hinv[static_cast<size_t>(j * n + i)] = s;
        }
    }
    if (!cholesky_lower(hinv, n)) return false;
    u->assign(static_cast<size_t>(n * n), 0.0);
    for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j <= i; ++j) (*u)[static_cast<size_t>(j * n + i)] = hinv[static_cast<size_t>(i * n + j)];
    }
    return true;
}

}  // namespace

Status gptq_quantize(DType type, const float* w, int64_t rows, int64_t cols, const std::vector<double>& hessian,
                     const GptqOptions& options, uint8_t* out, ThreadPool* pool) {
    if (!BlockGrid::supports(type)) return Status::errorf("GPTQ cannot target {}", dtype_name(type));
    if (cols % BlockGrid::block_size(type) != 0) {
        return Status::errorf("GPTQ: {} columns are not a multiple of {}'s block", cols, dtype_name(type));
    }
    if (hessian.size() != static_cast<size_t>(cols * cols)) return Status::error("GPTQ: Hessian of the wrong size");
    // Column order and the permuted, damped Hessian. Columns no calibration input reached get a unit diagonal and
    // zero weight, as in the reference implementation.
    std::vector<int64_t> perm(static_cast<size_t>(cols));
    std::iota(perm.begin(), perm.end(), 0);
    std::vector<bool> dead(static_cast<size_t>(cols), false);
    double mean_diag = 0;
    for (int64_t i = 0; i < cols; ++i) {
        const double d = hessian[static_cast<size_t>(i * cols + i)];
        dead[static_cast<size_t>(i)] = !(d > 0);
        mean_diag += dead[static_cast<size_t>(i)] ? 1.0 : d;
    }
    mean_diag /= static_cast<double>(cols);
    if (options.act_order) {
        std::stable_sort(perm.begin(), perm.end(), [&](int64_t a, int64_t b) {
            return hessian[static_cast<size_t>(a * cols + a)] > hessian[static_cast<size_t>(b * cols + b)];
        });
    }
    std::vector<double> u;
    for (double damp = options.damp;; damp *= 10) {
        std::vector<double> h(static_cast<size_t>(cols * cols));
        for (int64_t i = 0; i < cols; ++i) {
            const int64_t pi = perm[static_cast<size_t>(i)];
            for (int64_t j = 0; j < cols; ++j) {
                const int64_t pj = perm[static_cast<size_t>(j)];
                double v = dead[static_cast<size_t>(pi)] || dead[static_cast<size_t>(pj)]
                               ? (pi == pj ? 1.0 : 0.0)
                               : hessian[static_cast<size_t>(pi * cols + pj)];
                if (i == j) v += damp * mean_diag;
                h[static_cast<size_t>(i * cols + j)] = v;
            }
        }
        if (inverse_upper_factor(h, cols, &u)) break;
        if (damp > 1e3) return Status::error("GPTQ: the Hessian stays singular however much it is damped");
    }
    const size_t row_bytes = static_cast<size_t>(dtype_row_bytes(type, cols));
    // The grid's block parameters are searched under the Hessian diagonal (each column's input energy), the same
    // weighting --method imatrix uses; columns no input reached weigh nothing.
    std::vector<float> grid_weights;
    if (options.weighted_grid) {
        grid_weights.resize(static_cast<size_t>(cols));
        for (int64_t i = 0; i < cols; ++i) {
            grid_weights[static_cast<size_t>(i)] =
                dead[static_cast<size_t>(i)] ? 0.0f
                                             : static_cast<float>(hessian[static_cast<size_t>(i * cols + i)] / mean_diag);
        }
    }
    // Rows are independent given U: each row's errors only feed its own later columns.
    pool->parallel_for(rows, [&](int64_t r0, int64_t r1) {
        std::vector<double> x(static_cast<size_t>(cols));
        for (int64_t r = r0; r < r1; ++r) {
            const float* row = w + r * cols;
            BlockGrid grid(type, row, cols, grid_weights.empty() ? nullptr : grid_weights.data());
            for (int64_t i = 0; i < cols; ++i) {
                const int64_t p = perm[static_cast<size_t>(i)];
                x[static_cast<size_t>(i)] = dead[static_cast<size_t>(p)] ? 0.0 : row[p];
            }
            for (int64_t i = 0; i < cols; ++i) {
                const int64_t p = perm[static_cast<size_t>(i)];
                int q = 0;
                const double v = x[static_cast<size_t>(i)];
                const double snapped = grid.snap(p, static_cast<float>(v), &q);
                grid.set(p, q);
                const double* ui = u.data() + i * cols;
                const double err = (v - snapped) / ui[i];
                for (int64_t j = i + 1; j < cols; ++j) x[static_cast<size_t>(j)] -= err * ui[j];
            }
            std::copy(grid.bytes().begin(), grid.bytes().end(), out + static_cast<size_t>(r) * row_bytes);
        }
    });
    return ok_status();
}

}  // namespace frugal
