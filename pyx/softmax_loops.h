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
#include "stream_store.h"
#include "transpose.h"

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

/* How tile_grad and row_grad form the gradient's second term (see there). */
enum onnxl_grad_kind {
    ONNXL_GRAD_PLAIN = 0,          /* class-index targets, no smoothing: none */
    ONNXL_GRAD_SMOOTHED = 1,       /* class-index targets with label smoothing: w_c */
    ONNXL_GRAD_PROBABILITIES = 2   /* probability targets: w_c (qa q_c + qb) */
};

/* The per-position formulas of the softmax family, written once: the vectorised tile loops,
 * the row loops and the general per-position loop of _cross_entropy.pyx all call these.
 * lse = log sum_c exp(x_c) (0 for NLL, whose input is log-probabilities already).  The
 * gradient always has cross-entropy's form
 *     dl/dx_c = a e_c - b k_c - [c == t] fix,     e_c = exp(x_c - max),  a = g coef / s,
 * with g the gradient of the reduction, s = sum_c e_c and k_c as in onnxl_grad_kind. */

/* Cross-entropy with a class-index target t:
 *     loss = w_t (lse - x_t)                                  (no smoothing)
 *     loss = qa w_t (lse - x_t) + qb (W lse - acc)            (label smoothing eps)
 * qa = 1 - eps, qb = eps / C, W = sum_c w_c, acc = sum_c w_c x_c; *coef = dloss/dlse. */
ONNXL_INLINE double onnxl_ce_index(double lse, double x_t, double w_t, const int smooth,
                                   double qa, double qb, double W, double acc, double *coef) {
    double l = w_t * (lse - x_t);
    if (smooth) l = qa * l + qb * (W * lse - acc);
    *coef = smooth ? qa * w_t + qb * W : w_t;
    return l;
}
/* ... and its gradient's fix at the target (b = g qb, a = g coef / s). */
ONNXL_INLINE double onnxl_ce_index_fix(double g, double qa, double w_t) { return g * qa * w_t; }

/* Cross-entropy with probability targets q, smoothed to q' = qa q + qb:
 *     loss = k lse - kx,   k = sum_c w_c q'_c,  kx = sum_c w_c q'_c x_c;   coef = k, b = g. */
ONNXL_INLINE double onnxl_ce_probabilities(double lse, double kx, double k) {
    return k * lse - kx;
}

/* Softmax focal loss with a class-index target, from focal_terms' qg = (1 - p_t)^gamma and
 * c = -dl/dlog p_t of the unweighted loss, with nll = lse - x_t:
 *     loss = w_t qg nll;   gradient: fix = g w_t c,  a = fix / s,  b = 0. */
ONNXL_INLINE double onnxl_focal_index(double w_t, double qg, double nll) {
    return w_t * qg * nll;
}
ONNXL_INLINE double onnxl_focal_index_fix(double g, double w_t, double c) { return g * w_t * c; }

#define ONNXL_SUM_TERM_F64(z, v) (v)

/* One class row of tile_grad's plain kind (class-index targets, no smoothing) streamed
 * straight to its destination:
 *     dst[i] = keep[i] != 0 ? (tf[i] == cf ? a[i] e[i] - fix[i] : a[i] e[i]) : 0
 * the same operations as tile_grad's loop (a product, then the target's subtraction, then
 * the select), so the same bits, without the round trip through scratch and a copy.
 * Positions before the destination's first 64-byte boundary and after its last whole
 * vector take the scalar form.  Returns 0 (nothing written) where the CPU has no AVX-512
 * (stream_store.h: the only path that streams). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
/* one position, scalar: the unaligned head and the tail */
#define ONNXL_GRAD_ONE(T, i)                                                               \
    do {                                                                                   \
        T v_ = a[i] * e[i];                                                                \
        v_ = tf[i] == cf ? v_ - fix[i] : v_;                                               \
        dst[i] = keep[i] != 0 ? v_ : (T)0;                                                 \
    } while (0)
#define ONNXL_GRAD_ROW_STREAM(SFX, T, V, N, LOADU, SET1, SETZERO, MUL, CMP, MASK_SUB,      \
                              MASKZ, STREAM, MASK_T)                                       \
    __attribute__((target("avx512f"))) static void grad_row_stream_avx512_##SFX(             \
            const T *e, const T *a, const T *tf, T cf, const T *fix, const T *keep,        \
            ptrdiff_t L, T *dst) {                                                         \
        ptrdiff_t i = 0;                                                                   \
        for (; i < L && ((uintptr_t)(dst + i) & 63) != 0; i++)                             \
            ONNXL_GRAD_ONE(T, i);                                                          \
        const V vcf = SET1(cf), zero = SETZERO();                                          \
        for (; i + N <= L; i += N) {                                                       \
            V v = MUL(LOADU(a + i), LOADU(e + i));                                         \
            const MASK_T t = CMP(LOADU(tf + i), vcf, _CMP_EQ_OQ);                          \
            v = MASK_SUB(v, t, v, LOADU(fix + i));                                         \
            const MASK_T k = CMP(LOADU(keep + i), zero, _CMP_NEQ_UQ);                      \
            STREAM(dst + i, MASKZ(k, v));                                                  \
        }                                                                                  \
        for (; i < L; i++) ONNXL_GRAD_ONE(T, i);                                          \
    }                                                                                      \
    static inline int grad_row_stream_##SFX(const T *e, const T *a, const T *tf, T cf,      \
                                            const T *fix, const T *keep, ptrdiff_t L,      \
                                            T *dst) {                                      \
        if (!onnxl_stream_available()) return 0;                                           \
        grad_row_stream_avx512_##SFX(e, a, tf, cf, fix, keep, L, dst);                     \
        return 1;                                                                          \
    }
ONNXL_GRAD_ROW_STREAM(f32, float, __m512, 16, _mm512_loadu_ps, _mm512_set1_ps,
                      _mm512_setzero_ps, _mm512_mul_ps, _mm512_cmp_ps_mask,
                      _mm512_mask_sub_ps, _mm512_maskz_mov_ps, _mm512_stream_ps, __mmask16)
ONNXL_GRAD_ROW_STREAM(f64, double, __m512d, 8, _mm512_loadu_pd, _mm512_set1_pd,
                      _mm512_setzero_pd, _mm512_mul_pd, _mm512_cmp_pd_mask,
                      _mm512_mask_sub_pd, _mm512_maskz_mov_pd, _mm512_stream_pd, __mmask8)
#undef ONNXL_GRAD_ROW_STREAM
#undef ONNXL_GRAD_ONE
#else
static inline int grad_row_stream_f32(const float *e, const float *a, const float *tf,
                                      float cf, const float *fix, const float *keep,
                                      ptrdiff_t L, float *dst) {
    return 0;
}
static inline int grad_row_stream_f64(const double *e, const double *a, const double *tf,
                                      double cf, const double *fix, const double *keep,
                                      ptrdiff_t L, double *dst) {
    return 0;
}
#endif

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
