/* log1p(u) in float for the arguments the kernels give it, inline arithmetic that gcc
 * vectorises in every target clone:
 *   onnxl_log1p_unit(u), u in [0, 1]: softplus's log1p(exp(-|x|)); about 1.5x the throughput
 *   of libmvec's AVX2 log1pf here.
 *   onnxl_log1p_negunit(u), u in [-1, 0]: BCE's log1p(-p); it replaces libmvec's log1pf,
 *   which glibc only has from 2.35 on (the wheels must load on older glibc).  Here 1 + u
 *   can be written 2^k (1 + f) with f exact, so it needs neither c nor a division (below).
 *
 *   w = 1 + u (rounded),  c = (u - (w - 1)) / w   (w - 1 is exact for w in [0, 2]: what the
 *   rounding of w lost, to first order: log(w + d) = log(w) + d / w),  log1p(u) = log(w) + c
 *   w = 2^k m, m in [sqrt(1/2), sqrt(2)],  f = m - 1 (exact),
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

/* log(m) - f + c + k ln2_lo for f = m - 1, m in [sqrt(1/2), sqrt(2)]: all but the two
 * largest terms of log1p, which the callers add last. */
static inline __attribute__((always_inline)) float onnxl_log1p_tail(float f, float k, float c) {
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
    return y + c;
}

static inline __attribute__((always_inline)) float onnxl_log1p_unit(float u) {
    const float w = 1.0f + u;
    const float c = (u - (w - 1.0f)) / w;
    const int hi = w > 1.41421356f;
    const float m = hi ? 0.5f * w : w;
    const float f = m - 1.0f;
    const float k = hi ? 1.0f : 0.0f;
    return (f + onnxl_log1p_tail(f, k, c)) + k * 0.693359375f;
}

static inline __attribute__((always_inline)) float onnxl_log1p_negunit(float u) {
    /* 1 + u in [2^k sqrt(1/2), 2^k sqrt(2)) as 2^k (1 + f) with f exact, so no correction
     * term (and no division) is needed:
     *   u > sqrt(1/2) - 1:           k = 0,  f = u
     *   u in [-1/2, sqrt(1/2) - 1]:  k = -1, f = 1 + 2u (exact: Sterbenz)
     *   u < -1/2:                    1 + u is exact (Sterbenz); k and f from its bits.
     * NaN takes the first case (every comparison is false) and stays NaN. */
    const float w = 1.0f + u;
    uint32_t bits;
    memcpy(&bits, &w, sizeof bits);
    bits += 0x3f800000u - 0x3f3504f3u;            /* m's range starts at sqrt(1/2) */
    const float kw = (float)((int32_t)(bits >> 23) - 127);
    const uint32_t mbits = (bits & 0x007fffffu) + 0x3f3504f3u;
    float m;
    memcpy(&m, &mbits, sizeof m);
    const int small = !(u <= -0.29289321f);
    const int half = u >= -0.5f;
    const float f = small ? u : (half ? 1.0f + 2.0f * u : m - 1.0f);
    const float k = small ? 0.0f : (half ? -1.0f : kw);
    float r = (f + onnxl_log1p_tail(f, k, 0.0f)) + k * 0.693359375f;
    r = w == 0.0f ? -INFINITY : r;
    return u == 0.0f ? u : r;
}

#endif
