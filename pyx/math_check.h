/* The kernels' own math functions checked against libm, for their accuracy tests: over
 * every `step`-th bit pattern in [lo, hi], the largest distance in ulps between OWN(z) and
 * the reference rounded to OWN's type (bit patterns count ulps for subnormals too), and how
 * many NaN inputs did not give NaN.  Two builds of each loop: the target clone the kernels
 * run on this machine, and the x86-64 baseline (no FMA).
 * float, against libm's double function, rounded to float (every float can be checked):
 *   exp:   onnxl_exp_nonpos (exp_nonpositive.h) against exp, for non-positive z
 *          (0x80000000 is -0, 0xff800000 is -inf)
 *   exp_for_sum: onnxl_exp_nonpos_for_sum against exp, or 0 where exp(z) < 2^-126
 *   log1p: onnxl_log1p_unit (log1p_unit.h) against log1p, for z in [0, 1]
 *          (0x00000000 to 0x3f800000)
 *   log1p_neg: onnxl_log1p_negunit (log1p_unit.h) against log1p, for z in [-1, 0]
 *          (0x80000000 to 0xbf800000)
 * double, against glibc's x87 long double function (64-bit significand: its own error is
 * about 2^-11 of a double ulp, so rounding it to double gives the correctly rounded result
 * except within that distance of a tie, where a faithful OWN is still within 1 ulp):
 *   log1p_f64: onnxl_log1p_f64 (log1p_f64.h) against log1pl, for z in [-1, 1]
 *   expm1_f64: onnxl_expm1_nonpos (expm1_nonpositive.h) against expm1l, for z <= 0
 */
#ifndef ONNXLOSSES_MATH_CHECK_H
#define ONNXLOSSES_MATH_CHECK_H
#include "kernel_common.h"
#include "exp_nonpositive.h"
#include "expm1_nonpositive.h"
#include "log1p_unit.h"
#include "log1p_f64.h"

/* T the function's type, U the unsigned integer of its width, S the signed one, R the
 * reference's type.  A bit pattern's signed integer orders floats of one sign, so the
 * distance of two results of the same sign is their difference (in long double: exact). */
#define ONNXL_MATH_CHECK_BODY(T, U, S, R, OWN, REF)                                          \
    T z[256], got[256];                                                                      \
    double worst = 0;                                                                        \
    int64_t bad = 0;                                                                         \
    U at = 0;                                                                                \
    for (U b0 = lo; ; b0 += 256 * step) {                                                    \
        int n = 0;                                                                           \
        for (; n < 256 && (U)n * step <= hi - b0; n++) {                                     \
            const U b = b0 + (U)n * step;                                                    \
            memcpy(&z[n], &b, sizeof b);                                                     \
        }                                                                                    \
        ONNXL_SIMD for (int i = 0; i < n; i++) got[i] = OWN(z[i]);                           \
        for (int i = 0; i < n; i++) {                                                        \
            const T want = (T)REF((R)z[i]);                                                  \
            if (isnan(z[i])) { bad += !isnan(got[i]); continue; }                            \
            S a, w;                                                                          \
            memcpy(&a, &got[i], sizeof a);                                                   \
            memcpy(&w, &want, sizeof w);                                                     \
            const long double d = (long double)a - (long double)w;                           \
            const double e = (double)(d < 0 ? -d : d);                                       \
            if (e > worst) { worst = e; memcpy(&at, &z[i], sizeof at); }                     \
        }                                                                                    \
        if ((U)256 * step > hi - b0) break;             /* no wrap past the top of U */     \
    }                                                                                        \
    *worst_ulp = worst;                                                                      \
    *worst_bits = at;                                                                        \
    *nan_lost = bad;

#define ONNXL_DEFINE_MATH_CHECK_T(NAME, T, U, S, R, OWN, REF)                                 \
static ONNXL_CLONES ONNXL_CONTRACT void NAME##_check_clone(U lo, U hi, U step,               \
        double *worst_ulp, U *worst_bits, int64_t *nan_lost) {                               \
    ONNXL_MATH_CHECK_BODY(T, U, S, R, OWN, REF)                                              \
}                                                                                            \
static ONNXL_CONTRACT void NAME##_check_baseline(U lo, U hi, U step,                         \
        double *worst_ulp, U *worst_bits, int64_t *nan_lost) {                               \
    ONNXL_MATH_CHECK_BODY(T, U, S, R, OWN, REF)                                              \
}
#define ONNXL_DEFINE_MATH_CHECK(NAME, OWN, REF)                                              \
    ONNXL_DEFINE_MATH_CHECK_T(NAME, float, uint32_t, int32_t, double, OWN, REF)
#define ONNXL_DEFINE_MATH_CHECK64(NAME, OWN, REF)                                            \
    ONNXL_DEFINE_MATH_CHECK_T(NAME, double, uint64_t, int64_t, long double, OWN, REF)

static inline double onnxl_exp_flushed(double z) {
    return z < (double)ONNXL_EXP_CUTOFF ? 0.0 : exp(z);
}

ONNXL_DEFINE_MATH_CHECK(exp, onnxl_exp_nonpos, exp)
ONNXL_DEFINE_MATH_CHECK(exp_for_sum, onnxl_exp_nonpos_for_sum, onnxl_exp_flushed)
ONNXL_DEFINE_MATH_CHECK(log1p, onnxl_log1p_unit, log1p)
ONNXL_DEFINE_MATH_CHECK(log1p_neg, onnxl_log1p_negunit, log1p)
ONNXL_DEFINE_MATH_CHECK64(log1p_f64, onnxl_log1p_f64, log1pl)
ONNXL_DEFINE_MATH_CHECK64(expm1_f64, onnxl_expm1_nonpos, expm1l)

/* The double references themselves, rounded to double, for a test against mpmath. */
static inline double onnxl_log1p_reference(double z) { return (double)log1pl(z); }
static inline double onnxl_expm1_reference(double z) { return (double)expm1l(z); }

#endif
