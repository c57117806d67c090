/* The kernels' own float functions checked against libm, for their accuracy tests: over
 * every `step`-th float bit pattern in [lo, hi], the largest distance in ulps between
 * OWN(z) and (float)REF((double)z) (bit patterns count ulps for subnormals too), and how
 * many NaN inputs did not give NaN.  Two builds of each loop: the target clone the kernels
 * run on this machine, and the x86-64 baseline (no FMA).
 *   exp:   onnxl_exp_nonpos (exp_nonpositive.h) against exp, for non-positive z
 *          (0x80000000 is -0, 0xff800000 is -inf)
 *   exp_for_sum: onnxl_exp_nonpos_for_sum against exp, or 0 where exp(z) < 2^-126
 *   log1p: onnxl_log1p_unit (log1p_unit.h) against log1p, for z in [0, 1]
 *          (0x00000000 to 0x3f800000)
 */
#ifndef ONNXLOSSES_MATH_CHECK_H
#define ONNXLOSSES_MATH_CHECK_H
#include "softmax_loops.h"
#include "log1p_unit.h"

#define ONNXL_MATH_CHECK_BODY(OWN, REF)                                                      \
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
        ONNXL_SIMD for (int i = 0; i < n; i++) got[i] = OWN(z[i]);                           \
        for (int i = 0; i < n; i++) {                                                        \
            const float want = (float)REF((double)z[i]);                                     \
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

#define ONNXL_DEFINE_MATH_CHECK(NAME, OWN, REF)                                              \
static ONNXL_CLONES ONNXL_CONTRACT void NAME##_check_clone(uint32_t lo, uint32_t hi,         \
        uint32_t step, double *worst_ulp, uint32_t *worst_bits, int64_t *nan_lost) {         \
    ONNXL_MATH_CHECK_BODY(OWN, REF)                                                          \
}                                                                                            \
static ONNXL_CONTRACT void NAME##_check_baseline(uint32_t lo, uint32_t hi, uint32_t step,    \
        double *worst_ulp, uint32_t *worst_bits, int64_t *nan_lost) {                        \
    ONNXL_MATH_CHECK_BODY(OWN, REF)                                                          \
}

static inline double onnxl_exp_flushed(double z) {
    return z < (double)ONNXL_EXP_CUTOFF ? 0.0 : exp(z);
}

ONNXL_DEFINE_MATH_CHECK(exp, onnxl_exp_nonpos, exp)
ONNXL_DEFINE_MATH_CHECK(exp_for_sum, onnxl_exp_nonpos_for_sum, onnxl_exp_flushed)
ONNXL_DEFINE_MATH_CHECK(log1p, onnxl_log1p_unit, log1p)

#endif
