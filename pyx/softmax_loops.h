/* Hot loops of the softmax-family kernels, in C so that the exponential vectorises.
 *
 * Two shapes of work, both over float or double (suffix _f32 / _f64):
 *   tile_*: a [C][L] block, class stride `cs` elements, L positions contiguous (stride 1).
 *           NCHW logits are used in place; other layouts are gathered into a buffer first.
 *           The loops run over positions, so they vectorise across positions.
 *   row_*:  one position whose C classes are contiguous (channels-last, (N, C) matrices).
 *           The loops run over classes.
 *
 * The softmax's float exponential is our own (exp_nonpositive.h) and so is focal's double
 * expm1 (expm1_nonpositive.h); see kernel_common.h for the vector math and target clones.
 *
 * Per-class sums over one position are accumulated in T (as PyTorch does); anything that is
 * later summed over positions is double.  A class whose coefficient is exactly 0 is skipped
 * so that 0 * (-inf) never turns a finite loss into NaN.
 */
#ifndef ONNXLOSSES_SOFTMAX_LOOPS_H
#define ONNXLOSSES_SOFTMAX_LOOPS_H
#include "kernel_common.h"
#include "exp_nonpositive.h"
#include "expm1_nonpositive.h"

/* Softmax focal terms from nll = -log p_t, per position, in double:
 *   qg   = q^gamma with q = 1 - p_t = -expm1(-nll)      (the loss is alpha_t qg nll)
 *          (expm1_nonpositive.h; _cross_entropy.pyx's per-position loop calls the same)
 *   coef = q^gamma - gamma p_t q^(gamma-1) log p_t        (= -dl/dlog p_t, CE's form)
 * The second term is taken at its limit 0 where q == 0.  Calls and algebra sit in separate
 * loops so both vectorise (see sigmoid_loops.h). */
/* q = -expm1(-v) for a chunk: a function of its own so that the own expm1 gets its fused
 * multiply-adds (ONNXL_CONTRACT) while the focal algebra keeps one rounding per operation. */
static ONNXL_CLONES ONNXL_CONTRACT void focal_q(ptrdiff_t n, const double *restrict v,
                                               double *restrict q) {
    ONNXL_SIMD for (ptrdiff_t i = 0; i < n; i++) q[i] = -onnxl_expm1_nonpos(-v[i]);
}
static ONNXL_CLONES void focal_terms(ptrdiff_t L, const double *restrict nll, double gamma,
                                     double *restrict qg, double *restrict coef) {
    double q[ONNXL_CHUNK], qs[ONNXL_CHUNK], pm1[ONNXL_CHUNK];
    /* gamma a small whole number (2 nearly always): powers by multiplication, no pow */
    const int whole = gamma >= 1 && gamma <= 8 && gamma == (double)(int)gamma;   /* range first */
    const int n_pow = whole ? (int)gamma : 0;
    for (ptrdiff_t c0 = 0; c0 < L; c0 += ONNXL_CHUNK) {
        const ptrdiff_t n = L - c0 < ONNXL_CHUNK ? L - c0 : ONNXL_CHUNK;
        const double *v = nll + c0;
        focal_q(n, v, q);
        ONNXL_SIMD for (ptrdiff_t i = 0; i < n; i++) {
            q[i] = q[i] < 0 ? 0.0 : q[i];
            qs[i] = q[i] > 0 ? q[i] : 1.0;
        }
        if (n_pow == 2) {
            ONNXL_SIMD for (ptrdiff_t i = 0; i < n; i++) {
                pm1[i] = q[i];
                qg[c0 + i] = q[i] * q[i];
            }
        } else if (n_pow == 1) {
            ONNXL_SIMD for (ptrdiff_t i = 0; i < n; i++) {
                pm1[i] = 1.0;
                qg[c0 + i] = q[i];
            }
        } else if (whole) {
            ONNXL_SIMD for (ptrdiff_t i = 0; i < n; i++) {
                const double r = onnxl_powi_f64(q[i], n_pow - 1);
                pm1[i] = r;                                  /* q^(gamma-1), 1 at q == 0 */
                qg[c0 + i] = r * q[i];
            }
        } else {
            ONNXL_SIMD for (ptrdiff_t i = 0; i < n; i++) qg[c0 + i] = pow(q[i], gamma);
            ONNXL_SIMD for (ptrdiff_t i = 0; i < n; i++) pm1[i] = pow(qs[i], gamma - 1.0);
        }
        ONNXL_SIMD for (ptrdiff_t i = 0; i < n; i++) {
            /* p_t = 1 - q: only multiplies the small term, where its rounding is harmless */
            double term = gamma * (1.0 - q[i]) * pm1[i] * -v[i];
            coef[c0 + i] = qg[c0 + i] - ((q[i] > 0) & (gamma != 0) ? term : 0.0);
        }
    }
}

#define ONNXL_SUM_TERM_F64(z, v) (v)

/* float: the own exponential (its argument is x - max <= 0) */
#define T float
#define SFX f32
#define EXP onnxl_exp_nonpos
#define EXP_SUM onnxl_exp_nonpos_for_sum
#define SUM_TERM ONNXL_SUM_TERM_F32
#include "softmax_loops_typed.h"
#undef T
#undef SFX
#undef EXP
#undef EXP_SUM
#undef SUM_TERM

#define T double
#define SFX f64
#define EXP exp
#define EXP_SUM exp
#define SUM_TERM ONNXL_SUM_TERM_F64
#include "softmax_loops_typed.h"
#undef T
#undef SFX
#undef EXP
#undef EXP_SUM
#undef SUM_TERM

#endif
