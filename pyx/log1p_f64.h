/* log1p(u) for u in [-1, 1] (or NaN), in double: BCE's log1p(-p) and softplus's
 * log1p(exp(-|x|)).  Inline arithmetic without branches, so gcc vectorises it in every
 * target clone; it replaces libmvec's vector log1p, which glibc only has from 2.35 on (the
 * wheels must load on older glibc).  About as fast as libmvec's AVX-512 log1p, 1.5x its
 * AVX2 one.
 *
 *   1 + u = 2^k (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)]: k from the bits of w = 1 + u
 *   (rounded; integer arithmetic, and k as a double through the bits 2^52 + exponent: AVX2
 *   has no 64-bit int-to-double conversion), f = 2^-k u + (2^-k - 1), exact but for k = 1
 *   and u < 1/2, where its rounding error ef is kept (Fast2Sum) and added as
 *   c = ef / (1 + f) ~ ef (1 - f): no division for it (fdlibm divides by w instead),
 *   then fdlibm's log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)), s = f / (2 + f), with its
 *   degree-7 polynomial R, and k ln 2 added in two parts.
 * u = -1 gives -inf by a select (w = 0 has no exponent); u = -0 and +0 are returned as they
 * are (the sum would lose the sign of -0).
 *
 * At most 1 ulp from the correctly rounded result, checked against glibc's long double
 * log1pl over evenly spaced bit patterns of every double in [-1, 1] (1 in about 2^37) and
 * densely around the seams, in the FMA clone and in the baseline build
 * (onnxlosses._math_check, tests/test_math_check.py).  NaN in gives NaN out.
 */
#ifndef ONNXLOSSES_LOG1P_F64_H
#define ONNXLOSSES_LOG1P_F64_H
#include <math.h>
#include <stdint.h>
#include <string.h>

static inline __attribute__((always_inline)) double onnxl_log1p_f64(double u) {
    const double w = 1.0 + u;
    uint64_t bits;
    memcpy(&bits, &w, sizeof bits);
    const uint64_t e = (bits + (0x3ff0000000000000ULL - 0x3fe6a09e667f3bcdULL)) >> 52;
    const uint64_t kbits = e | 0x4330000000000000ULL;                /* 2^52 + (k + 1023) */
    double kb;
    memcpy(&kb, &kbits, sizeof kb);
    const double k = kb - (0x1p52 + 1023.0);
    const uint64_t sbits = (2046 - e) << 52;                          /* 2^-k */
    double sk;
    memcpy(&sk, &sbits, sizeof sk);
    /* f = 2^-k (1 + u) - 1 = 2^-k u + (2^-k - 1): both terms exact, their sum exact but
     * where k = 1 and u < 1/2 (one bit more than a double); ef is what it lost (Fast2Sum:
     * |2^-k - 1| >= |2^-k u| wherever the sum is inexact), and log(1 + f + ef) =
     * log(1 + f) + ef / (1 + f), with 1 / (1 + f) ~ 1 - f: |ef| < 2^-55, |f| < 0.3 there. */
    const double a = sk * u, b = sk - 1.0;
    const double f = a + b;
    const double ef = a - (f - b);
    const double c = ef - ef * f;
    const double hfsq = 0.5 * f * f;
    const double s = f / (2.0 + f);
    const double z = s * s;
    const double z2 = z * z;
    const double t1 = z2 * (3.999999999940941908e-01 + z2 * (2.222219843214978396e-01
                      + z2 * 1.531383769920937332e-01));
    const double t2 = z * (6.666666666666735130e-01 + z2 * (2.857142874366239149e-01
                      + z2 * (1.818357216161805012e-01 + z2 * 1.479819860511658591e-01)));
    const double R = t2 + t1;
    double r = s * (hfsq + R) + (k * 1.90821492927058770002e-10 + c) - hfsq + f
               + k * 6.93147180369123816490e-01;
    r = w == 0.0 ? -INFINITY : r;
    return u == 0.0 ? u : r;
}

#endif
