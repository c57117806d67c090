/* log1p(u) in float for the arguments the kernels give it, inline arithmetic that gcc
 * vectorises in every target clone:
 *   onnxl_log1p_unit(u), u in [0, 1]: softplus's log1p(exp(-|x|)); about 1.5x the throughput
 *   of libmvec's AVX2 log1pf here.
 *   onnxl_log1p_negunit(u), u in [-1, 0]: BCE's log1p(-p); it replaces libmvec's log1pf,
 *   which glibc only has from 2.35 on (the wheels must load on older glibc); about 1.3x
 *   the throughput of libmvec's AVX-512 log1pf, as fast as its AVX2 one.
 *
 * On [0, 1]:  w = 1 + u (rounded),  c = (u - (w - 1)) / w   (w - 1 is exact for w in
 *   [1, 2]: what the rounding of w lost, to first order: log(w + d) = log(w) + d / w),
 *   log1p(u) = log(w) + c,  w = 2^k m, m in [sqrt(1/2), sqrt(2)],  f = m - 1 (exact).
 * On [-1, 0]: 1 + u = 2^k (1 + f) with f exact (below): no c, no division.
 * Then
 *   log(m) = f - f^2/2 + f^3 P(f) with Cephes' degree-8 logf polynomial P,
 *   k ln 2 added in two parts (0.693359375 - 2.12194440e-4).
 * On [0, 1], k is 0 or 1 (a compare); on [-1, 0], k is in [-24, 0], u = -1 gives -inf by
 * a select (w = 0 has no exponent) and -0 stays -0.
 *
 * Each at most 1 ulp from the correctly rounded result for every float of its domain,
 * checked exhaustively in the clone the kernels run and in the baseline (no FMA) build
 * (onnxlosses._math_check; tests/test_math_check.py samples it).  NaN in gives NaN out.
 */
#ifndef ONNXLOSSES_LOG1P_UNIT_H
#define ONNXLOSSES_LOG1P_UNIT_H
#include <math.h>
#include <stdint.h>
#include <string.h>

/* k ln 2 + log(1 + f) + c for the reduced argument f (1 + f in [sqrt(1/2), sqrt(2)]), with
 * the correction c of a rounded 1 + u (0 where 1 + u was split exactly). */
static inline __attribute__((always_inline)) float onnxl_log_reduced(float f, float k,
                                                                     float c) {
    const float z = f * f;
    float p = 7.0376836292e-2f;
    p = p * f - 1.1514610310e-1f;
    p = p * f + 1.1676998740e-1f;
    p = p * f - 1.2420140846e-1f;
    p = p * f + 1.4249322787e-1f;
    p = p * f - 1.6668057665e-1f;
    p = p * f + 2.0000714765e-1f;
    p = p * f - 2.4999993993e-1f;
    p = p * f + 3.3333331174e-1f;
    float y = p * f * z;
    y = y + k * -2.12194440e-4f;
    y = y - 0.5f * z;
    y = y + c;
    return (f + y) + k * 0.693359375f;
}

static inline __attribute__((always_inline)) float onnxl_log1p_unit(float u) {
    const float w = 1.0f + u;
    const float c = (u - (w - 1.0f)) / w;
    const int hi = w > 1.41421356f;
    const float m = hi ? 0.5f * w : w;
    const float f = m - 1.0f;
    const float k = hi ? 1.0f : 0.0f;
    return onnxl_log_reduced(f, k, c);
}

static inline __attribute__((always_inline)) float onnxl_log1p_negunit(float u) {
    /* 1 + u = 2^k (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)] and f exact, so no correction
     * term (and no division) is needed: k from the bits of w = 1 + u (which is exact where
     * u <= -1/2; elsewhere its rounding can only move 1 + f across sqrt(1/2) by an ulp),
     * then f = 2^-k u + (2^-k - 1), exactly representable (f = u for k = 0, 1 + 2u for
     * k = -1, 2^-k w - 1 below), so computed exactly with or without a fused multiply-add.
     * NaN stays NaN through f. */
    const float w = 1.0f + u;
    uint32_t bits;
    memcpy(&bits, &w, sizeof bits);
    const uint32_t e = (bits + (0x3f800000u - 0x3f3504f3u)) >> 23;   /* k + 127 */
    const float k = (float)((int32_t)e - 127);
    const uint32_t sbits = (254u - e) << 23;                           /* 2^-k */
    float s;
    memcpy(&s, &sbits, sizeof s);
    const float f = s * u + (s - 1.0f);
    float r = onnxl_log_reduced(f, k, 0.0f);
    r = w == 0.0f ? -INFINITY : r;
    return u == 0.0f ? u : r;
}

#endif
