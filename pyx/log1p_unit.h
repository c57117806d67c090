/* log1p(u) for u in [0, 1] (or NaN), in float: softplus's log1p(exp(-|x|)).  Inline
 * arithmetic that gcc vectorises in every target clone, about 1.5x the throughput of
 * libmvec's AVX2 log1pf here.
 *
 *   w = 1 + u (rounded, in [1, 2]),  c = (u - (w - 1)) / w   (what the rounding of w lost,
 *   to first order: log(w + d) = log(w) + d / w),  log1p(u) = log(w) + c
 *   w = 2^k m, m in [sqrt(1/2), sqrt(2)] (k = 0 or 1),  f = m - 1 (exact),
 *   log(m) = f - f^2/2 + f^3 P(f) with Cephes' degree-8 logf polynomial P,
 *   k ln 2 added in two parts (0.693359375 - 2.12194440e-4).
 *
 * At most 1 ulp from the correctly rounded result for every float in [0, 1], checked
 * exhaustively in the clone the kernels run and in the baseline (no FMA) build
 * (onnxlosses._math_check; tests/test_math_check.py samples it).  NaN in gives NaN out.
 */
#ifndef ONNXLOSSES_LOG1P_UNIT_H
#define ONNXLOSSES_LOG1P_UNIT_H

static inline __attribute__((always_inline)) float onnxl_log1p_unit(float u) {
    const float w = 1.0f + u;
    const float c = (u - (w - 1.0f)) / w;
    const int hi = w > 1.41421356f;
    const float m = hi ? 0.5f * w : w;
    const float f = m - 1.0f;
    const float k = hi ? 1.0f : 0.0f;
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

#endif
