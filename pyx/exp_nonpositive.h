/* exp(z) for z <= 0 (or NaN), in float: the exponential of the softmax passes, whose
 * arguments are x - max.  Inline arithmetic that gcc vectorises in every target clone; in
 * the FMA clones it is about 1.7x the throughput of libmvec's AVX2 expf on this project's
 * machines (no call, no register saves, no special-case branch).
 *
 *   exp(z) = 2^n exp(r),  n = round(z / ln 2),  r = z - n ln 2 in [-ln2/2, ln2/2]
 *
 * n comes from one multiply-add with the bias 1.5 * 2^23 + 127: the sum's low mantissa bits
 * are then n + 127, the exponent field of 2^n, read by a shift (no float-to-int
 * conversion).  r is reduced in two steps (Cody-Waite: ln 2 = 0.693359375 - 2.12194440e-4,
 * the first part exact in 10 bits) and exp(r) = 1 + r + r^2 P(r) with Cephes' degree-5
 * minimax P, evaluated as s + r s + (P r)(r s) so that 2^n scales exactly.
 *
 * Results below 2^-126 (z < -87.336548, where 2^n would need a subnormal scale) are 0, the
 * one departure from libm: such a term is below 1e-38 of the softmax's largest term, which
 * is 1.  Otherwise at most 1 ulp from the correctly rounded result, checked over every
 * non-positive float in the clone the kernels run and in the baseline (no FMA) form
 * (tests/test_exp_nonpositive.py).  NaN in gives NaN out (the final comparison is false
 * for NaN and P carries it); -inf gives 0.
 */
#ifndef ONNXLOSSES_EXP_NONPOSITIVE_H
#define ONNXLOSSES_EXP_NONPOSITIVE_H
#include <stdint.h>
#include <string.h>

#define ONNXL_EXP_CUTOFF (-0x1.5D589Ep6f)    /* ln(2^-126), rounded to float */

static inline __attribute__((always_inline)) float onnxl_exp_nonpos(float z) {
    const float bias = 0x1.8000FEp23f;          /* 1.5 * 2^23 + 127 */
    const float nb = z * 1.44269504088896341f + bias;
    uint32_t bits;
    memcpy(&bits, &nb, sizeof bits);
    const uint32_t sbits = bits << 23;           /* (n + 127) << 23: the float 2^n */
    float s;
    memcpy(&s, &sbits, sizeof s);
    const float n = nb - bias;
    float r = z - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    const float rs = r * s;
    const float y = (p * r) * rs + (rs + s);
    return z < ONNXL_EXP_CUTOFF ? 0.0f : y;
}

#endif
