/* exp(z) for z <= 0 (or NaN), in float: the exponential of the softmax passes (whose
 * arguments are x - max) and of softplus's exp(-|x|).  Inline arithmetic that gcc
 * vectorises in every target clone; in the FMA clones about 1.5x the throughput of
 * libmvec's AVX2 expf on this project's machines (no call, no register saves, no
 * special-case branch).
 *
 *   exp(z) = 2^n exp(r),  n = round(z / ln 2),  r = z - n ln 2 in [-ln2/2, ln2/2]
 *
 * n comes from one multiply-add with the bias 1.5 * 2^23 + 127: the sum's low mantissa bits
 * are then n + 127, the exponent field of 2^n, read by a shift (no float-to-int
 * conversion).  r is reduced in two steps (Cody-Waite: ln 2 = 0.693359375 - 2.12194440e-4,
 * the first part exact in 10 bits) and exp(r) = 1 + r + r^2 P(r) with Cephes' degree-5
 * minimax P, evaluated as s + r s + (P r)(r s) so that 2^n scales exactly.
 * Below z = ln(2^-126) the result is subnormal and 2^n has no float: there z + 64 ln 2 is
 * exponentiated instead and the result scaled by 2^-64 (one rounding, into the
 * subnormal); z is first clamped to -110, where exp is 0 in float anyway.
 *
 * At most 1 ulp from the correctly rounded result wherever it is a normal float, and 2 where
 * it is subnormal (the scaled result is rounded twice), checked exhaustively over every
 * non-positive float in the clone the kernels run and in the baseline (no FMA) build
 * (onnxlosses._math_check; tests/test_math_check.py samples it).  NaN in gives
 * NaN out (every comparison is false for NaN and the arithmetic carries it); -inf gives 0.
 */
#ifndef ONNXLOSSES_EXP_NONPOSITIVE_H
#define ONNXLOSSES_EXP_NONPOSITIVE_H
#include <stdint.h>
#include <string.h>

#define ONNXL_EXP_CUTOFF (-0x1.5D589Ep6f)     /* ln(2^-126): below it, a subnormal result */

/* 2^n exp(r) for z in [ONNXL_EXP_CUTOFF, 0] (or NaN); the bits of 2^n are no float below. */
static inline __attribute__((always_inline)) float onnxl_exp_normal(float z) {
    const float bias = 0x1.8000FEp23f;           /* 1.5 * 2^23 + 127 */
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
    return (p * r) * rs + (rs + s);
}

static inline __attribute__((always_inline)) float onnxl_exp_nonpos(float z) {
    const int low = z < ONNXL_EXP_CUTOFF;
    z = z < -110.0f ? -110.0f : z;
    z = low ? z + 0x1.62E430p+5f : z;            /* + 64 ln 2 */
    return onnxl_exp_normal(z) * (low ? 0x1p-64f : 1.0f);
}

/* The term a softmax's sum over classes gets: exp(z), or 0 where that is below 2^-126.
 * The sum holds exp(max - max) = 1, and such a term cannot change it: it is far below half
 * an ulp of anything >= 1, and what it adds to earlier, smaller partial sums is absorbed
 * once the 1 is added.  So the forward pass may skip the subnormal path (some 6 of 24
 * vector operations per element) and the gradient pass, which keeps exact exponentials,
 * still sums the same terms: ONNXL_SUM_TERM selects them from exp(z). */
static inline __attribute__((always_inline)) float onnxl_exp_nonpos_for_sum(float z) {
    return z < ONNXL_EXP_CUTOFF ? 0.0f : onnxl_exp_normal(z);
}
#define ONNXL_SUM_TERM_F32(z, v) ((z) < ONNXL_EXP_CUTOFF ? 0.0f : (v))

#endif
