// Weighted scale search for the legacy 32-element formats and the K-quants. One function per family:
// quantize_block_symmetric (Q4_0, Q5_0, Q8_0), quantize_block_affine (Q4_1, Q5_1), quantize_super_block_k_min
// (Q4_K, Q5_K) and quantize_super_block_q6_k. The two searches they share, search_symmetric (x ~ d * L) and
// search_affine (x ~ d * L + m), work on one (sub-)block in float and are followed by the format's own rounding of
// the parameters (fp16, 6- or 8-bit sub-block scales); the integers are always re-rounded against the parameters
// as stored, since rounding each element to its nearest level is optimal for fixed parameters whatever the weights.
#include "quant/weighted_quants.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "core/check.h"
#include "core/half.h"
#include "quant/block_formats.h"
#include "quant/quant_math.h"
#include "quant/quant_traits.h"

namespace frugal {
namespace {

// Candidate inverse scales of the affine search: the min..max range is mapped to nmax + delta steps,
// delta in [-2, 2] in steps of 0.1. Mapping it a little outside clips it and buys finer steps for the rest of the
// block; a little inside wastes part of the range but can put the bulk of the elements nearer their levels.
constexpr int kNumSteps = 41;
constexpr float kStep = 0.1f;
// Re-round-and-refit passes after the affine candidates (each is one more candidate: the levels nearest to the fit).
constexpr int kNumRefits = 3;

// Nearest integer to v clamped to [lo, hi]; v is clamped first so nearest_int stays in its exact range.
int round_clamp(float v, int lo, int hi) {
    const float c = std::clamp(v, static_cast<float>(lo) - 1.0f, static_cast<float>(hi) + 1.0f);
    return std::clamp(nearest_int(c), lo, hi);
}

double weighted_error(const float* x, const float* w, const float* y, int64_t n) {
    double err = 0;
    for (int64_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(x[i]) - y[i];
        err += w[i] * d * d;
    }
    return err;
}

// Over the inverse scales t > 0 with levels L[i] = clamp(round(t * x[i]), lo, hi), the largest drop of the weighted
// error a least-squares d can give: for levels fixed, d = Sxl / Sll lowers sum w x^2 by Sxl^2 / Sll. The levels are
// piecewise constant in t and change one element by one step at t = (k + 1/2) / |x[i]|, so walking those events in
// order of t with running sums visits every distinct level vector of the window once: an exhaustive search. The
// window maps the extreme element to kWindow levels either side of its end of the range (at most halfway in):
// wide for 4- and 5-bit levels, narrow enough for Q8_0 that the events stay O(n). Returns the drop (-1 if no level
// vector has Sll > 0) and its d in *d.
constexpr float kWindow = 4.0f;
double best_positive_iscale(const float* x, const float* w, int n, int lo, int hi, float* d) {
    float amax = 0, max = 0;
    for (int i = 0; i < n; ++i) {
        if (std::fabs(x[i]) > amax) {
            amax = std::fabs(x[i]);
            max = x[i];
        }
    }
    const int end = max > 0 ? hi : -lo;  // levels available on the extreme element's side
    if (amax == 0 || end <= 0) return -1;
    const float t_lo = std::max(static_cast<float>(end) - kWindow, 0.5f * static_cast<float>(end)) / amax;
    const float t_hi = (static_cast<float>(end) + kWindow) / amax;
    struct Event {
        float t;
        int i;
        int step;
    };
    std::vector<Event> events;
    std::vector<int> level(static_cast<size_t>(n));
    double sxl = 0, sll = 0;
    for (int i = 0; i < n; ++i) {
        const int l = round_clamp(t_lo * x[i], lo, hi);
        level[static_cast<size_t>(i)] = l;
        sxl += static_cast<double>(w[i]) * x[i] * l;
        sll += static_cast<double>(w[i]) * l * l;
        if (x[i] > 0) {
            for (int k = l; k < hi && (static_cast<float>(k) + 0.5f) / x[i] <= t_hi; ++k) {
                events.push_back({(static_cast<float>(k) + 0.5f) / x[i], i, +1});
            }
        } else if (x[i] < 0) {
            for (int k = -l; k < -lo && (static_cast<float>(k) + 0.5f) / -x[i] <= t_hi; ++k) {
                events.push_back({(static_cast<float>(k) + 0.5f) / -x[i], i, -1});
            }
        }
    }
    std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.t < b.t; });
    double best_gain = -1;
    if (sll > 0) {
        best_gain = sxl * sxl / sll;
        *d = static_cast<float>(sxl / sll);
    }
    for (const Event& e : events) {
        int& l = level[static_cast<size_t>(e.i)];
        const int next = l + e.step;
        sxl += static_cast<double>(w[e.i]) * x[e.i] * e.step;
        sll += static_cast<double>(w[e.i]) * (next * next - l * l);
        l = next;
        if (sll > 0 && sxl * sxl / sll > best_gain) {
            best_gain = sxl * sxl / sll;
            *d = static_cast<float>(sxl / sll);
        }
    }
    return best_gain;
}

// x[i] ~= d * L[i], L[i] in [qmin, qmax] (qmin <= 0 < qmax); returns the d with the smallest weighted error. The
// scale is searched exhaustively, on both orientations when the range is not symmetric (Q4_0's -8..7: the extreme
// element on the -8 side gets one level more): a negative d is a positive one for the levels -L in [-qmax, -qmin].
float search_symmetric(const float* x, const float* w, int n, int qmin, int qmax) {
    float d_pos = 0, d_neg = 0;
    const double gain_pos = best_positive_iscale(x, w, n, qmin, qmax, &d_pos);
    const double gain_neg = qmin == -qmax ? -1 : best_positive_iscale(x, w, n, -qmax, -qmin, &d_neg);
    if (gain_pos < 0 && gain_neg < 0) {  // every weight zero (or x zero): any grid is as good
        float amax = 0;
        for (int i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
        return amax / static_cast<float>(qmax);
    }
    return gain_pos >= gain_neg ? d_pos : -d_neg;
}

struct AffineFit {
    float d = 0;  // step, > 0
    float m = 0;  // offset (value of level 0)
};

// x[i] ~= d * L[i] + m, L[i] in [0, nmax]. With nonpositive_m (the K-quants store the offset as -dmin * min with
// min >= 0) the offset is kept <= 0. Candidates stretch the min..max grid; each is refit by weighted least squares
// of (d, m) over its levels (the 2x2 normal equations).
AffineFit search_affine(const float* x, const float* w, int n, int nmax, bool nonpositive_m) {
    float min = x[0], max = x[0];
    double sw = 0, sx = 0, sxx = 0;
    for (int i = 0; i < n; ++i) {
        min = std::min(min, x[i]);
        max = std::max(max, x[i]);
        sw += w[i];
        sx += static_cast<double>(w[i]) * x[i];
        sxx += static_cast<double>(w[i]) * x[i] * x[i];
    }
    if (nonpositive_m && min > 0) min = 0;
    if (max == min) return {0.0f, min};
    AffineFit best{(max - min) / static_cast<float>(nmax), min};
    double best_err = std::numeric_limits<double>::infinity();
    auto try_grid = [&](float iscale, float origin) {
        double sl = 0, sll = 0, sxl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = round_clamp(iscale * (x[i] - origin), 0, nmax);
            sl += static_cast<double>(w[i]) * l;
            sll += static_cast<double>(w[i]) * l * l;
            sxl += static_cast<double>(w[i]) * l * x[i];
        }
        const double det = sw * sll - sl * sl;
        if (!(det > 0)) return false;
        double d = (sw * sxl - sl * sx) / det;
        double m = (sll * sx - sl * sxl) / det;
        if (nonpositive_m && m > 0) {
            m = 0;
            d = sxl / sll;
        }
        if (!(d > 0)) return false;
        const double err = d * d * sll + 2 * d * m * sl + m * m * sw - 2 * d * sxl - 2 * m * sx + sxx;
        if (err >= best_err) return false;
        best_err = err;
        best = {static_cast<float>(d), static_cast<float>(m)};
        return true;
    };
    for (int k = 0; k < kNumSteps; ++k) {
        const float steps = static_cast<float>(nmax) + kStep * static_cast<float>(k - kNumSteps / 2);
        try_grid(steps / (max - min), min);
    }
    for (int r = 0; r < kNumRefits && best_err < std::numeric_limits<double>::infinity(); ++r) {
        if (!try_grid(1.0f / best.d, best.m)) break;
    }
    return best;
}

// ---- Q4_0, Q5_0, Q8_0: x = d * q ----
void quantize_block_symmetric(DType type, const float* x, const float* w, uint8_t* block) {
    const int qmin = type == DType::kQ4_0 ? -8 : type == DType::kQ5_0 ? -16 : -127;
    const int qmax = type == DType::kQ4_0 ? 7 : type == DType::kQ5_0 ? 15 : 127;
    const uint16_t dh = fp32_to_fp16(search_symmetric(x, w, kQK4_0, qmin, qmax));
    const float d = fp16_to_fp32(dh);
    int q[kQK4_0];
    for (int i = 0; i < kQK4_0; ++i) q[i] = d != 0.0f ? round_clamp(x[i] / d, qmin, qmax) : 0;
    if (type == DType::kQ8_0) {
        auto* b = reinterpret_cast<BlockQ8_0*>(block);
        b->d = dh;
        for (int i = 0; i < kQK4_0; ++i) b->qs[i] = static_cast<int8_t>(q[i]);
        return;
    }
    // Q4_0 / Q5_0 store q - qmin: low nibbles hold elements 0..15, high nibbles 16..31; Q5_0's bit 4 of element i
    // is bit i of qh.
    uint8_t* qs = type == DType::kQ4_0 ? reinterpret_cast<BlockQ4_0*>(block)->qs : reinterpret_cast<BlockQ5_0*>(block)->qs;
    uint32_t qh = 0;
    for (int i = 0; i < kQK4_0 / 2; ++i) {
        const int lo = q[i] - qmin, hi = q[i + kQK4_0 / 2] - qmin;
        qs[i] = static_cast<uint8_t>((lo & 0xf) | ((hi & 0xf) << 4));
        qh |= static_cast<uint32_t>(lo >> 4) << i;
        qh |= static_cast<uint32_t>(hi >> 4) << (i + kQK4_0 / 2);
    }
    if (type == DType::kQ4_0) {
        reinterpret_cast<BlockQ4_0*>(block)->d = dh;
    } else {
        auto* b = reinterpret_cast<BlockQ5_0*>(block);
        b->d = dh;
        std::memcpy(b->qh, &qh, sizeof(qh));
    }
}

// ---- Q4_1, Q5_1: x = d * q + m ----
void quantize_block_affine(DType type, const float* x, const float* w, uint8_t* block) {
    const int nmax = type == DType::kQ4_1 ? 15 : 31;
    const AffineFit fit = search_affine(x, w, kQK4_0, nmax, false);
    const uint16_t dh = fp32_to_fp16(fit.d), mh = fp32_to_fp16(fit.m);
    const float d = fp16_to_fp32(dh), m = fp16_to_fp32(mh);
    uint8_t* qs = type == DType::kQ4_1 ? reinterpret_cast<BlockQ4_1*>(block)->qs : reinterpret_cast<BlockQ5_1*>(block)->qs;
    uint32_t qh = 0;
    for (int i = 0; i < kQK4_0 / 2; ++i) {
        const int lo = d > 0 ? round_clamp((x[i] - m) / d, 0, nmax) : 0;
        const int hi = d > 0 ? round_clamp((x[i + kQK4_0 / 2] - m) / d, 0, nmax) : 0;
        qs[i] = static_cast<uint8_t>((lo & 0xf) | ((hi & 0xf) << 4));
        qh |= static_cast<uint32_t>(lo >> 4) << i;
        qh |= static_cast<uint32_t>(hi >> 4) << (i + kQK4_0 / 2);
    }
    if (type == DType::kQ4_1) {
        auto* b = reinterpret_cast<BlockQ4_1*>(block);
        b->d = dh;
        b->m = mh;
    } else {
        auto* b = reinterpret_cast<BlockQ5_1*>(block);
        b->d = dh;
        b->m = mh;
        std::memcpy(b->qh, &qh, sizeof(qh));
    }
}

// The weighted error of one sub-block at fixed step dl and offset -ml (levels rounded to nearest), and the levels.
double sub_block_error(const float* x, const float* w, int n, float dl, float ml, int lo, int hi, int* q) {
    double err = 0;
    for (int i = 0; i < n; ++i) {
        q[i] = dl != 0.0f ? round_clamp((x[i] + ml) / dl, lo, hi) : 0;
        const double diff = static_cast<double>(dl) * q[i] - ml - x[i];
        err += w[i] * diff * diff;
    }
    return err;
}

// ---- Q4_K, Q5_K: x = d * sc * q - dmin * mn, sc and mn 6-bit per 32-element sub-block ----
// 1. each sub-block's float step and offset by search_affine; 2. the 8 steps and the 8 offsets quantized to 6 bits
// under one fp16 super-scale each, by the same symmetric search, weighted by how much an error in that sub-block's
// step (sum w q^2) or offset (sum w) costs; 3. with the super-scales fixed the sub-blocks are independent, so each
// sub-block tries the neighbours of its 6-bit step and offset, re-rounding its integers, and keeps the best pair;
// 4. the super-scales refit to the integers (below).
void quantize_super_block_k_min(DType type, const float* x, const float* w, uint8_t* block) {
    const int nmax = type == DType::kQ4_K ? 15 : 31;
    constexpr int kSub = 32, kNumSub = kQK_K / kSub;
    float steps[kNumSub], offsets[kNumSub], step_w[kNumSub], offset_w[kNumSub];
    int q[kQK_K];
    for (int j = 0; j < kNumSub; ++j) {
        const float* xs = x + kSub * j;
        const float* ws = w + kSub * j;
        const AffineFit fit = search_affine(xs, ws, kSub, nmax, true);
        steps[j] = fit.d;
        offsets[j] = -fit.m;
        sub_block_error(xs, ws, kSub, fit.d, -fit.m, 0, nmax, q);
        double sum_wq2 = 0, sum_w = 0;
        for (int i = 0; i < kSub; ++i) {
            sum_wq2 += static_cast<double>(ws[i]) * q[i] * q[i];
            sum_w += ws[i];
        }
        step_w[j] = static_cast<float>(sum_wq2);
        offset_w[j] = static_cast<float>(sum_w);
    }
    uint16_t dh = fp32_to_fp16(search_symmetric(steps, step_w, kNumSub, 0, 63));
    uint16_t dminh = fp32_to_fp16(search_symmetric(offsets, offset_w, kNumSub, 0, 63));
    uint8_t sc[kNumSub], mn[kNumSub];
    for (int j = 0; j < kNumSub; ++j) {
        sc[j] = static_cast<uint8_t>(fp16_to_fp32(dh) > 0 ? round_clamp(steps[j] / fp16_to_fp32(dh), 0, 63) : 0);
        mn[j] = static_cast<uint8_t>(fp16_to_fp32(dminh) > 0 ? round_clamp(offsets[j] / fp16_to_fp32(dminh), 0, 63) : 0);
    }
    // Step 3 for all sub-blocks at super-scales (d, dmin): moves sc, mn to the best neighbours, fills q, returns the
    // super-block's weighted error.
    auto refine = [&](float d, float dmin, uint8_t* scs, uint8_t* mns, int* qs_out) {
        double total = 0;
        for (int j = 0; j < kNumSub; ++j) {
            const int sc0 = scs[j], mn0 = mns[j];
            double best = std::numeric_limits<double>::infinity();
            int cand[kSub];
            for (int s = std::max(0, sc0 - 1); s <= std::min(63, sc0 + 1); ++s) {
                for (int m = std::max(0, mn0 - 1); m <= std::min(63, mn0 + 1); ++m) {
                    const double err = sub_block_error(x + kSub * j, w + kSub * j, kSub, d * static_cast<float>(s),
                                                       dmin * static_cast<float>(m), 0, nmax, cand);
                    if (err < best) {
                        best = err;
                        scs[j] = static_cast<uint8_t>(s);
                        mns[j] = static_cast<uint8_t>(m);
                        std::copy(cand, cand + kSub, qs_out + kSub * j);
                    }
                }
            }
            total += best;
        }
        return total;
    };
    double err = refine(fp16_to_fp32(dh), fp16_to_fp32(dminh), sc, mn, q);
    // 4. with all integers fixed the super-block is linear in (d, dmin): refit both by weighted least squares, then
    // redo step 3 at the refit pair; keep it while the error falls.
    for (int it = 0; it < kNumRefits; ++it) {
        double saa = 0, sab = 0, sbb = 0, sax = 0, sbx = 0;
        for (int e = 0; e < kQK_K; ++e) {
            const double a = static_cast<double>(sc[e / kSub]) * q[e], b = -static_cast<double>(mn[e / kSub]);
            saa += w[e] * a * a;
            sab += w[e] * a * b;
            sbb += w[e] * b * b;
            sax += w[e] * a * x[e];
            sbx += w[e] * b * x[e];
        }
        double nd = 0, ndmin = fp16_to_fp32(dminh);
        const double det = saa * sbb - sab * sab;
        if (det > 0) {
            nd = (sbb * sax - sab * sbx) / det;
            ndmin = (saa * sbx - sab * sax) / det;
        } else if (saa > 0) {
            nd = (sax - ndmin * sab) / saa;
        }
        if (!(nd > 0) || !(ndmin >= 0)) break;
        const uint16_t dh2 = fp32_to_fp16(static_cast<float>(nd)), dminh2 = fp32_to_fp16(static_cast<float>(ndmin));
        uint8_t sc2[kNumSub], mn2[kNumSub];
        int q2[kQK_K];
        std::copy(sc, sc + kNumSub, sc2);
        std::copy(mn, mn + kNumSub, mn2);
        const double err2 = refine(fp16_to_fp32(dh2), fp16_to_fp32(dminh2), sc2, mn2, q2);
        if (!(err2 < err)) break;
        err = err2;
        dh = dh2;
        dminh = dminh2;
        std::copy(sc2, sc2 + kNumSub, sc);
        std::copy(mn2, mn2 + kNumSub, mn);
        std::copy(q2, q2 + kQK_K, q);
    }
    // Element e keeps its low 4 bits in qs[32 * (e / 64) + e % 32] (high nibble when (e / 32) is odd); Q5_K's fifth
    // bit is bit (e / 32) of qh[e % 32].
    uint8_t* scales = type == DType::kQ4_K ? reinterpret_cast<BlockQ4_K*>(block)->scales : reinterpret_cast<BlockQ5_K*>(block)->scales;
    uint8_t* qs = type == DType::kQ4_K ? reinterpret_cast<BlockQ4_K*>(block)->qs : reinterpret_cast<BlockQ5_K*>(block)->qs;
    k_pack_scale_min(sc, mn, scales);
    uint8_t qh[kQK_K / 8] = {};
    for (int e = 0; e < kQK_K; ++e) {
        uint8_t& byte = qs[32 * (e / 64) + e % 32];
        const int low = q[e] & 0xf;
        byte = (e / 32) % 2 == 0 ? static_cast<uint8_t>((byte & 0xf0) | low) : static_cast<uint8_t>((byte & 0x0f) | (low << 4));
        qh[e % 32] = static_cast<uint8_t>(qh[e % 32] | ((q[e] >> 4) << (e / 32)));
    }
    if (type == DType::kQ4_K) {
        auto* b = reinterpret_cast<BlockQ4_K*>(block);
        b->d = dh;
        b->dmin = dminh;
    } else {
        auto* b = reinterpret_cast<BlockQ5_K*>(block);
        b->d = dh;
        b->dmin = dminh;
        std::memcpy(b->qh, qh, sizeof(qh));
    }
}

// ---- Q6_K: x = d * sc * q, q in -32..31, sc int8 per 16-element sub-block ----
// The same four steps as the K-quants with a min, without the offsets.
void quantize_super_block_q6_k(const float* x, const float* w, uint8_t* block) {
    constexpr int kSub = 16, kNumSub = kQK_K / kSub;
    float steps[kNumSub], step_w[kNumSub];
    int q[kQK_K];
    for (int j = 0; j < kNumSub; ++j) {
        steps[j] = search_symmetric(x + kSub * j, w + kSub * j, kSub, -32, 31);
        sub_block_error(x + kSub * j, w + kSub * j, kSub, steps[j], 0.0f, -32, 31, q);
        double sum_wq2 = 0;
        for (int i = 0; i < kSub; ++i) sum_wq2 += static_cast<double>(w[kSub * j + i]) * q[i] * q[i];
        step_w[j] = static_cast<float>(sum_wq2);
    }
    auto* b = reinterpret_cast<BlockQ6_K*>(block);
    uint16_t dh = fp32_to_fp16(search_symmetric(steps, step_w, kNumSub, -128, 127));
    int sc[kNumSub];
    for (int j = 0; j < kNumSub; ++j) sc[j] = fp16_to_fp32(dh) != 0.0f ? round_clamp(steps[j] / fp16_to_fp32(dh), -128, 127) : 0;
    auto refine = [&](float d, int* scs, int* qs_out) {
        double total = 0;
        for (int j = 0; j < kNumSub; ++j) {
            const int sc0 = scs[j];
            double best = std::numeric_limits<double>::infinity();
            int cand[kSub];
            for (int s = std::max(-128, sc0 - 1); s <= std::min(127, sc0 + 1); ++s) {
                const double err =
                    sub_block_error(x + kSub * j, w + kSub * j, kSub, d * static_cast<float>(s), 0.0f, -32, 31, cand);
                if (err < best) {
                    best = err;
                    scs[j] = s;
                    std::copy(cand, cand + kSub, qs_out + kSub * j);
                }
            }
            total += best;
        }
        return total;
    };
    double err = refine(fp16_to_fp32(dh), sc, q);
    for (int it = 0; it < kNumRefits; ++it) {  // the least-squares d for the integers, as for Q4_K
        double saa = 0, sax = 0;
        for (int e = 0; e < kQK_K; ++e) {
            const double a = static_cast<double>(sc[e / kSub]) * q[e];
            saa += w[e] * a * a;
            sax += w[e] * a * x[e];
        }
        if (!(saa > 0)) break;
        const uint16_t dh2 = fp32_to_fp16(static_cast<float>(sax / saa));
        int sc2[kNumSub], q2[kQK_K];
        std::copy(sc, sc + kNumSub, sc2);
        const double err2 = refine(fp16_to_fp32(dh2), sc2, q2);
        if (!(err2 < err)) break;
        err = err2;
        dh = dh2;
        std::copy(sc2, sc2 + kNumSub, sc);
        std::copy(q2, q2 + kQK_K, q);
    }
    b->d = dh;
    for (int j = 0; j < kNumSub; ++j) b->scales[j] = static_cast<int8_t>(sc[j]);
    // Element e = 128 * h + 32 * k + l: low nibble in ql[64 * h + l + 32 * (k % 2)] (high nibble when k >= 2), top
    // two bits at bits 2k..2k+1 of qh[32 * h + l]; stored as q + 32.
    std::memset(b->ql, 0, sizeof(b->ql));
    std::memset(b->qh, 0, sizeof(b->qh));
    for (int e = 0; e < kQK_K; ++e) {
        const int h = e / 128, k = (e % 128) / 32, l = e % 32;
        const int u = q[e] + 32;
        uint8_t& low = b->ql[64 * h + l + 32 * (k % 2)];
        low = static_cast<uint8_t>(low | ((u & 0xf) << (k >= 2 ? 4 : 0)));
        b->qh[32 * h + l] = static_cast<uint8_t>(b->qh[32 * h + l] | ((u >> 4) << (2 * k)));
    }
}

}  // namespace

bool supports_weighted_quant(DType t) {
    switch (t) {
        case DType::kQ4_0:
        case DType::kQ4_1:
        case DType::kQ5_0:
        case DType::kQ5_1:
        case DType::kQ8_0:
        case DType::kQ4_K:
        case DType::kQ5_K:
        case DType::kQ6_K:
            return true;
        default:
            return false;
    }
}

void quantize_row_weighted(DType type, const float* x, const float* weights, int64_t n, uint8_t* out) {
    CHECK(supports_weighted_quant(type)) << "no weighted quantizer for " << dtype_name(type);
    const int64_t bs = dtype_layout(type).block_size;
    CHECK(n % bs == 0);
    const auto block_bytes = static_cast<size_t>(dtype_row_bytes(type, bs));
    const QuantTraits& traits = quant_traits(type);
    std::vector<uint8_t> rtn(static_cast<size_t>(dtype_row_bytes(type, n)));
    traits.quantize_row(x, rtn.data(), n);
    std::vector<float> searched(static_cast<size_t>(bs)), nearest(static_cast<size_t>(bs));
    for (int64_t b = 0; b < n / bs; ++b) {
        const float* xb = x + b * bs;
        const float* wb = weights + b * bs;
        uint8_t* dst = out + static_cast<size_t>(b) * block_bytes;
        switch (type) {
            case DType::kQ4_0:
            case DType::kQ5_0:
            case DType::kQ8_0:
                quantize_block_symmetric(type, xb, wb, dst);
                break;
            case DType::kQ4_1:
            case DType::kQ5_1:
                quantize_block_affine(type, xb, wb, dst);
                break;
            case DType::kQ4_K:
            case DType::kQ5_K:
                quantize_super_block_k_min(type, xb, wb, dst);
                break;
            default:  // Q6_K
                quantize_super_block_q6_k(xb, wb, dst);
        }
        // The searches cover round-to-nearest's grid only approximately (its scale is not among the candidates
        // exactly), so keep its block where it is better: never worse than rtn, as decoded.
        const uint8_t* rtn_block = rtn.data() + static_cast<size_t>(b) * block_bytes;
        traits.dequantize_row(dst, searched.data(), bs);
        traits.dequantize_row(rtn_block, nearest.data(), bs);
        if (weighted_error(xb, wb, nearest.data(), bs) < weighted_error(xb, wb, searched.data(), bs)) {
            std::memcpy(dst, rtn_block, block_bytes);
        }
    }
}

}  // namespace frugal
