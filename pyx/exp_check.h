/* The kernels' float exponential (exp_nonpositive.h) checked against libm, for its
 * accuracy test: over every `step`-th float bit pattern in [lo, hi] (non-positive floats:
 * 0x80000000 is -0, 0xff800000 is -inf), the largest distance in ulps from
 * (float)exp((double)z) (bit patterns count ulps for subnormals too), and how many NaN
 * inputs did not give NaN.  Two builds of the same loop: the target clone the kernels run
 * on this machine, and the x86-64 baseline (no FMA).
 */
#ifndef ONNXLOSSES_EXP_CHECK_H
#define ONNXLOSSES_EXP_CHECK_H
#include "softmax_loops.h"

#define ONNXL_EXP_CHECK_BODY                                                                 \
    float z[256], got[256];                                                                  \
    double worst = 0;                                                                        \
    int64_t bad = 0;                                                                         \
    uint32_t at = 0;                                                                         \
    for (uint64_t b0 = lo; b0 <= hi; b0 += 256 * step) {                                     \
        int n = 0;                                                                           \
        for (; n < 256 && b0 + (uint64_t)n * step <= hi; n++) {                              \
            const uint32_t b = (uint32_t)(b0 + (uint64_t)n * step);                          \
            memcpy(&z[n], &b, sizeof b);                                                     \
        }                                                                                    \
        ONNXL_SIMD for (int i = 0; i < n; i++) got[i] = onnxl_exp_nonpos(z[i]);              \
        for (int i = 0; i < n; i++) {                                                        \
            const float want = (float)exp((double)z[i]);                                     \
            if (isnan(z[i])) { bad += !isnan(got[i]); continue; }                            \
            int32_t a, w;                                                                    \
            memcpy(&a, &got[i], sizeof a);                                                   \
            memcpy(&w, &want, sizeof w);                                                     \
            const double e = fabs((double)a - (double)w);                                    \
            if (e > worst) { worst = e; memcpy(&at, &z[i], sizeof at); }                     \
        }                                                                                    \
    }                                                                                        \
    *worst_ulp = worst;                                                                      \
    *worst_bits = at;                                                                        \
    *nan_lost = bad;

static ONNXL_CLONES ONNXL_CONTRACT void exp_check_clone(uint32_t lo, uint32_t hi,
        uint32_t step, double *worst_ulp, uint32_t *worst_bits, int64_t *nan_lost) {
    ONNXL_EXP_CHECK_BODY
}

static ONNXL_CONTRACT void exp_check_baseline(uint32_t lo, uint32_t hi, uint32_t step,
        double *worst_ulp, uint32_t *worst_bits, int64_t *nan_lost) {
    ONNXL_EXP_CHECK_BODY
}

#endif
