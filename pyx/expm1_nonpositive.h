/* expm1(z) for z <= 0 (or NaN), in double: softmax focal's q = 1 - p_t = -expm1(-nll).
 * Inline arithmetic without branches or divisions, so gcc vectorises it in every target
 * clone; it replaces libmvec's vector expm1, which glibc only has from 2.35 on (the wheels
 * must load on older glibc).
 *
 *   k = round(z / ln 2) from the bits of one multiply-add with the bias 1.5 * 2^52 (no
 *   float-to-int conversion, which AVX2 lacks for 64-bit integers); 2^k from the same bits,
 *   r = z - k ln 2 in two parts (ln2_hi has 32 trailing zero bits: k ln2_hi is exact) and
 *   the reduction's rounding error c (fdlibm's),
 *   em = expm1(r + c) = r + r^2/2 + r^3 Q(r) + c (1 + r),  |r| <= ln2 / 2, Q a degree-9
 *   polynomial (Chebyshev fit of (expm1(r) - r - r^2/2) / r^3, mpmath at 60 digits: 8e-18
 *   from it), evaluated in Estrin's order,
 *   expm1(z) = 2^k (1 + em) - 1 = em 2^k + (2^k - 1): 2^k - 1 is exact for k >= -53 and
 *   em 2^k is exact, so the result is rounded once, with or without fused multiply-adds.
 * z is clamped to -37 (k = -53), which still rounds to -1 + 2^-53 as every z down to
 * ln(2^-54) does; below that the result is -1.
 *
 * At most 1 ulp from the correctly rounded result, checked against glibc's long double
 * expm1l over evenly spaced bit patterns of every non-positive double (1 in about 2^37) and
 * densely around the seams, in the FMA clone and in the baseline build
 * (onnxlosses._math_check, tests/test_math_check.py).  NaN in gives NaN out, -inf gives -1,
 * -0 gives -0.
 */
#ifndef ONNXLOSSES_EXPM1_NONPOSITIVE_H
#define ONNXLOSSES_EXPM1_NONPOSITIVE_H
#include <stdint.h>
#include <string.h>

#define ONNXL_EXPM1_MINUS_ONE (-0x1.2b708872320e1p+5)  /* ln(2^-54) rounded up: -37.43 */

static inline __attribute__((always_inline)) double onnxl_expm1_nonpos(double z) {
    const double bias = 0x1.8p52;
    const double zc = z < -37.0 ? -37.0 : z;       /* NaN passes: the comparison is false */
    const double kb = zc * 0x1.71547652b82fep0 + bias;
    uint64_t bits;
    memcpy(&bits, &kb, sizeof bits);
    const uint64_t pbits = (bits + 1023) << 52;    /* (k + 1023) << 52: the double 2^k */
    double twopk;
    memcpy(&twopk, &pbits, sizeof twopk);
    const double k = kb - bias;
    const double hi = zc - k * 0x1.62e42feep-1;
    const double lo = k * 0x1.a39ef35793c76p-33;
    const double r = hi - lo;
    const double c = (hi - r) - lo;
    const double r2 = r * r, r4 = r2 * r2;
    const double q01 = 0x1.5555555555556p-3 + 0x1.5555555555555p-5 * r;
    const double q23 = 0x1.11111111109adp-7 + 0x1.6c16c16c167dep-10 * r;
    const double q45 = 0x1.a01a01a7c8d47p-13 + 0x1.a01a01a47db6fp-16 * r;
    const double q67 = 0x1.71de0d9c145d0p-19 + 0x1.27e4e1ea0f53ap-22 * r;
    const double q89 = 0x1.af38d53857513p-26 + 0x1.1f66f85dfa20ap-29 * r;
    const double q = (q01 + q23 * r2) + ((q45 + q67 * r2) + q89 * r4) * r4;
    const double t = (0.5 * r2 + (r2 * r) * q) + c * (1.0 + r);
    const double em = r + t;
    double res = em * twopk + (twopk - 1.0);
    res = z < ONNXL_EXPM1_MINUS_ONE ? -1.0 : res;
    return z == 0.0 ? z : res;                     /* -0 stays -0 */
}

#endif
