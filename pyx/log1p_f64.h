/* log1p(u) for u in [-1, 1] (or NaN), in double: BCE's log1p(-p) and softplus's
 * log1p(exp(-|x|)).  Inline arithmetic without branches, so gcc vectorises it in every
 * target clone; it replaces libmvec's vector log1p, which glibc only has from 2.35 on (the
 * wheels must load on older glibc).
 *
 * fdlibm's log1p (as in musl), its branches turned into selects:
 *   w = 1 + u (rounded),  c = (u - (w - 1)) / w   (w - 1 is exact for w in [0, 2]: what the
 *   rounding of w lost, to first order: log(w + d) = log(w) + d / w),
 *   w = 2^k m with m in [sqrt(1/2), sqrt(2)) by integer arithmetic on the bits (k as a
 *   double through the bits 2^52 + exponent: AVX2 has no 64-bit int-to-double conversion),
 *   f = m - 1 (exact),  s = f / (2 + f),  log(1 + f) = f - f^2/2 + s (f^2/2 + R(s^2)) with
 *   fdlibm's degree-7 polynomial R,  k ln 2 added in two parts.
 * u = -1 gives -inf by a select (w = 0 has no exponent); u = -0 and +0 are returned as they
 * are (the sum would lose the sign of -0).
 *
 * At most 1 ulp from the correctly rounded result, checked against glibc's long double
 * log1pl over evenly spaced bit patterns of every double in [-1, 1] (1 in about 2^34) and
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
    const double c = (u - (w - 1.0)) / w;
    uint64_t bits;
    memcpy(&bits, &w, sizeof bits);
    bits += 0x3ff0000000000000ULL - 0x3fe6a09e667f3bcdULL;
    const uint64_t kbits = (bits >> 52) | 0x4330000000000000ULL;     /* 2^52 + (k + 1023) */
    double kb;
    memcpy(&kb, &kbits, sizeof kb);
    const double k = kb - (0x1p52 + 1023.0);
    const uint64_t mbits = (bits & 0x000fffffffffffffULL) + 0x3fe6a09e667f3bcdULL;
    double m;
    memcpy(&m, &mbits, sizeof m);
    const double f = m - 1.0;
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
