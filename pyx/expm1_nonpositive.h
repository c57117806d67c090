/* expm1(z) for z <= 0 (or NaN), in double: softmax focal's q = 1 - p_t = -expm1(-nll).
 * Inline arithmetic without branches, so gcc vectorises it in every target clone; it
 * replaces libmvec's vector expm1, which glibc only has from 2.35 on (the wheels must load
 * on older glibc).
 *
 * fdlibm's expm1 (as in musl), its branches turned into selects:
 *   k = round(z / ln 2) (from the bits of one multiply-add with the bias 1.5 * 2^52: no
 *   float-to-int conversion, which AVX2 lacks for 64-bit integers),
 *   r = z - k ln 2 in two parts (ln2_hi has 32 trailing zero bits: k ln2_hi is exact) with
 *   the reduction's rounding error c, expm1(r) from fdlibm's rational form with the
 *   degree-5 polynomial Q in r^2 / 2, then
 *     k == 0:   r - (r e - r^2/2)                         (r = z, c = 0: no reduction)
 *     k == -1:  (r - e') / 2 - 1/2
 *     k <= -2:  (r - e' + 1) 2^k - 1.
 * z is first clamped to -40, where expm1 is -1 in double already (e^-40 < 2^-54).
 *
 * At most 1 ulp from the correctly rounded result, checked against glibc's long double
 * expm1l over evenly spaced bit patterns of every non-positive double (1 in about 2^34) and
 * densely around the seams, in the FMA clone and in the baseline build
 * (onnxlosses._math_check, tests/test_math_check.py).  NaN in gives NaN out, -inf gives -1,
 * -0 gives -0.
 */
#ifndef ONNXLOSSES_EXPM1_NONPOSITIVE_H
#define ONNXLOSSES_EXPM1_NONPOSITIVE_H
#include <stdint.h>
#include <string.h>

static inline __attribute__((always_inline)) double onnxl_expm1_nonpos(double z) {
    const double bias = 0x1.8p52;
    z = z < -40.0 ? -40.0 : z;                     /* NaN passes: the comparison is false */
    const double kb = z * 1.44269504088896338700e+00 + bias;
    uint64_t bits;
    memcpy(&bits, &kb, sizeof bits);
    const uint64_t pbits = (bits + 1023) << 52;    /* (k + 1023) << 52: the double 2^k */
    double twopk;
    memcpy(&twopk, &pbits, sizeof twopk);
    const double k = kb - bias;
    const double hi = z - k * 6.93147180369123816490e-01;
    const double lo = k * 1.90821492927058770002e-10;
    const double x = hi - lo;
    const double c = (hi - x) - lo;
    const double hfx = 0.5 * x;
    const double hxs = x * hfx;
    const double r1 = 1.0 + hxs * (-3.33333333333331316428e-02 + hxs * (
                      1.58730158725481460165e-03 + hxs * (-7.93650757867487942473e-05 + hxs * (
                      4.00821782732936239552e-06 + hxs * -2.01099218183624371326e-07))));
    const double t = 3.0 - r1 * hfx;
    const double e = hxs * ((r1 - t) / (6.0 - x * t));
    const double at0 = x - (x * e - hxs);
    const double e1 = (x * (e - c) - c) - hxs;
    const double atm1 = 0.5 * (x - e1) - 0.5;
    const double atk = ((x - e1) + 1.0) * twopk - 1.0;
    const double r = k == 0.0 ? at0 : (k == -1.0 ? atm1 : atk);
    return z == 0.0 ? z : r;                       /* -0 stays -0 */
}

#endif
