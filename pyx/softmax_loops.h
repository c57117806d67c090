/* Hot loops of the softmax-family kernels, in C so that the exponential vectorises.
 *
 * Two shapes of work, both over float or double (suffix _f32 / _f64):
 *   tile_*: a [C][L] block, class stride `cs` elements, L positions contiguous (stride 1).
 *           NCHW logits are used in place; other layouts are gathered into a buffer first.
 *           The loops run over positions, so they vectorise across positions.
 *   row_*:  one position whose C classes are contiguous (channels-last, (N, C) matrices).
 *           The loops run over classes.
 *
 * The softmax's float exponential is our own (exp_nonpositive.h), and so are focal's double
 * expm1 (expm1_nonpositive.h) and the elementwise losses' log1p (log1p_unit.h,
 * log1p_f64.h): inline arithmetic that vectorises everywhere.  The other transcendental
 * calls (double exp and log, logf, pow, powf) go to glibc's vector library, libmvec, which
 * has had them since glibc 2.22; the functions it added later (expm1, log1p in 2.35) are
 * ours, so that the extensions need no glibc newer than 2.34.  glibc only attaches libmvec
 * under -ffast-math, which we do not use (it breaks NaN and inf), so we declare `omp
 * declare simd` on them ourselves and build with -fopenmp(-simd); gcc then calls
 * _ZGVdN4v_exp & co. inside `omp simd` loops.
 * target_clones compiles every loop for AVX-512, x86-64-v3 (AVX2 + FMA) and the x86-64
 * baseline, and the loader picks one.  Elsewhere (musl, macOS, non-x86) the same loops call
 * scalar libm: slower, equally correct.
 *
 * Per-class sums over one position are accumulated in T (as PyTorch does); anything that is
 * later summed over positions is double.  A class whose coefficient is exactly 0 is skipped
 * so that 0 * (-inf) never turns a finite loss into NaN.
 */
#ifndef ONNXLOSSES_SOFTMAX_LOOPS_H
#define ONNXLOSSES_SOFTMAX_LOOPS_H
#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "exp_nonpositive.h"
#include "expm1_nonpositive.h"

#if defined(__GLIBC__) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma omp declare simd notinbranch
extern float expf(float);
#pragma omp declare simd notinbranch
extern double exp(double);
#pragma omp declare simd notinbranch
extern double log(double);
#pragma omp declare simd notinbranch
extern float logf(float);
#pragma omp declare simd notinbranch
extern float powf(float, float);
#pragma omp declare simd notinbranch
extern double pow(double, double);
#endif
/* The loops are static and every module includes the whole header but calls only some of
 * them: the others are dropped, as they should be, and not worth a warning (-Wall stays
 * quiet, so a new warning shows). */
#if defined(__GNUC__)
#define ONNXL_MAYBE_UNUSED __attribute__((unused))
#else
#define ONNXL_MAYBE_UNUSED
#endif
#if defined(__GLIBC__) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ONNXL_CLONES ONNXL_MAYBE_UNUSED \
    __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
#define ONNXL_VECTOR_EXP 1
#else
#define ONNXL_CLONES ONNXL_MAYBE_UNUSED
#define ONNXL_VECTOR_EXP 0
#endif
/* The build turns floating-point contraction off (setup.py): whether a*b + c becomes one
 * fused multiply-add would otherwise depend on the clone and on how gcc inlined each call
 * site, and the forward and value-and-gradient paths could round one term differently.
 * The softmax's exponential is the exception: it is the same code on both paths, and FMA
 * is where its speed comes from (1.6 -> 2.4 G exp/s here). */
#if defined(__GNUC__) && !defined(__clang__)
#define ONNXL_CONTRACT __attribute__((optimize("fp-contract=fast")))
#else
#define ONNXL_CONTRACT
#endif

/* A read prefetch, for loops whose next address the hardware cannot guess (a gather of one
 * entry per row of a wide matrix).  Never faults, whatever the address. */
static inline void onnxl_prefetch(const void *p) { __builtin_prefetch(p, 0, 3); }

/* Which of the target clones the loader picks on this CPU (reported by show_config). */
static inline const char *onnxl_isa(void) {
#if defined(__GLIBC__) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f")) return "avx512f";
    if (__builtin_cpu_supports("x86-64-v3")) return "x86-64-v3 (AVX2, FMA)";
    return "default (x86-64 baseline)";
#else
    return "portable (no target clones on this platform)";
#endif
}

#define ONNXL_SIMD _Pragma("omp simd")
#ifndef ONNXL_INLINE
#define ONNXL_INLINE static inline __attribute__((always_inline))
#endif
/* Loops that mix bytes, integers, floats and doubles and also sum a double: gcc (12)
 * vectorises them but adds the sum lane by lane in order, a 4-cycle chain per element,
 * whatever `omp simd reduction` allows.  Such loops write their terms to a buffer of
 * ONNXL_CHUNK and sum it in a plain loop of its own, which vectorises (fixed lane order). */
#define ONNXL_CHUNK 256

/* r^n for a whole n in [1, 8], multiplied out left to right.  A fixed-length loop of
 * selects: gcc does not vectorise an `omp simd` loop holding an inner loop whose trip
 * count is a variable (it left the focal losses' power loops scalar).  Callers give
 * n == 2, the usual gamma, a loop of its own. */
#define ONNXL_DEFINE_POWI(T, SFX)                                                               \
ONNXL_INLINE T onnxl_powi_##SFX(T r, int n) {                                                \
    T f = r;                                                                                 \
    for (int k = 2; k <= 8; k++) f = k <= n ? f * r : f;                                     \
    return f;                                                                                \
}
ONNXL_DEFINE_POWI(float, f32)
ONNXL_DEFINE_POWI(double, f64)

#define ONNXL_DEFINE_LOOPS(T, SFX, EXP, EXP_SUM, SUM_TERM)                                                       \
/* m[i] = max_c x[c, i].  NaN is passed over here and resurfaces through exp in sumexp. */   \
static ONNXL_CLONES void tile_max_##SFX(const T *x, ptrdiff_t cs, ptrdiff_t C, ptrdiff_t L,   \
                                        T *restrict m) {                                     \
    for (ptrdiff_t i = 0; i < L; i++) m[i] = -INFINITY;                                      \
    for (ptrdiff_t c = 0; c < C; c++) {                                                      \
        const T *xc = x + c * cs;                                                            \
        ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) m[i] = xc[i] > m[i] ? xc[i] : m[i];     \
    }                                                                                        \
}                                                                                            \
/* s[i] = sum_c exp(x[c, i] - m[i]); the exponentials go to e[c*L + i] when e != NULL.      \
 * pf (or NULL): the next tile, same strides, L positions: prefetched class by class while   \
 * this one is exp-bound, so that its max pass finds it in cache instead of waiting on     \
 * memory (the two passes no longer take turns at the memory bus). */                       \
static ONNXL_CLONES ONNXL_CONTRACT void tile_sumexp_##SFX(const T *x, ptrdiff_t cs, ptrdiff_t C,            \
                                           ptrdiff_t L, const T *restrict m,                 \
                                           T *restrict s, T *restrict e, const T *pf) {      \
    for (ptrdiff_t i = 0; i < L; i++) s[i] = 0;                                              \
    for (ptrdiff_t c = 0; c < C; c++) {                                                      \
        const T *xc = x + c * cs;                                                            \
        if (pf)                                                                              \
            for (ptrdiff_t i = 0; i < L; i += 64 / (ptrdiff_t)sizeof(T))                     \
                __builtin_prefetch(pf + c * cs + i, 0, 3);                                   \
        if (e) {                                                                             \
            T *ec = e + c * L;                                                               \
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {                                   \
                const T z = xc[i] - m[i];                                                    \
                const T v = EXP(z);                                                          \
                ec[i] = v;                                                                   \
                s[i] += SUM_TERM(z, v);                                                      \
            }                                                                                \
        } else {                                                                             \
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) s[i] += EXP_SUM(xc[i] - m[i]);      \
        }                                                                                    \
    }                                                                                        \
}                                                                                            \
/* lse[i] = m[i] + log(s[i]) in double: one vector log per tile instead of a scalar call   \
 * per position. */                                                                         \
static ONNXL_CLONES void tile_lse_##SFX(const T *restrict m, const T *restrict s,            \
                                        ptrdiff_t L, double *restrict lse) {                 \
    ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) lse[i] = (double)m[i] + log((double)s[i]);  \
}                                                                                            \
/* acc[i] = sum_c k_c x[c, i] with k_c = w[c] (1 when w == NULL), classes with k_c == 0       \
 * skipped.  The label-smoothing term. */                                                    \
static ONNXL_CLONES void tile_wdot_##SFX(const T *x, ptrdiff_t cs, ptrdiff_t C, ptrdiff_t L,  \
                                         const double *w, double *restrict acc) {            \
    for (ptrdiff_t i = 0; i < L; i++) acc[i] = 0;                                            \
    for (ptrdiff_t c = 0; c < C; c++) {                                                      \
        const double k = w ? w[c] : 1.0;                                                     \
        if (k == 0) continue;                                                                \
        const T *xc = x + c * cs;                                                            \
        ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) acc[i] += k * (double)xc[i];            \
    }                                                                                        \
}                                                                                            \
/* Probability targets q (class stride qcs, positions contiguous), smoothed to               \
 * q' = qa*q + qb:  kx[i] = sum_c w_c q'_c x_c  and  k[i] = sum_c w_c q'_c,                  \
 * terms with w_c q'_c == 0 skipped. */                                                      \
static ONNXL_CLONES void tile_qdot_##SFX(const T *x, ptrdiff_t cs, const T *q, ptrdiff_t qcs, \
                                         ptrdiff_t C, ptrdiff_t L, const double *w,          \
                                         double qa, double qb, double *restrict kx,          \
                                         double *restrict k) {                               \
    for (ptrdiff_t i = 0; i < L; i++) { kx[i] = 0; k[i] = 0; }                               \
    for (ptrdiff_t c = 0; c < C; c++) {                                                      \
        const double wc = w ? w[c] : 1.0;                                                    \
        if (wc == 0) continue;                                                               \
        const T *xc = x + c * cs, *qc = q + c * qcs;                                         \
        ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {                                       \
            double kc = wc * (qa * (double)qc[i] + qb);                                      \
            k[i] += kc;                                                                      \
            kx[i] += kc != 0 ? kc * (double)xc[i] : 0.0;                                     \
        }                                                                                    \
    }                                                                                        \
}                                                                                            \
/* out[c, i] = a[i] e[c, i] - b[i] k_c[i], with k_c[i] = 0 (kind 0), w_c (kind 1) or          \
 * w_c (qa q[c, i] + qb) (kind 2); out has class stride ocs and contiguous positions. */      \
static ONNXL_CLONES void tile_grad_##SFX(const T *e, ptrdiff_t C, ptrdiff_t L,                \
                                         const T *restrict a, const T *restrict b, int kind, \
                                         const double *w, const T *q, ptrdiff_t qcs,         \
                                         double qa, double qb, T *out, ptrdiff_t ocs) {      \
    for (ptrdiff_t c = 0; c < C; c++) {                                                      \
        const T *ec = e + c * L;                                                             \
        T *oc = out + c * ocs;                                                               \
        const T wc = (T)(w ? w[c] : 1.0);                                                    \
        if (kind == 0) {                                                                     \
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) oc[i] = a[i] * ec[i];               \
        } else if (kind == 1) {                                                              \
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) oc[i] = a[i] * ec[i] - b[i] * wc;   \
        } else {                                                                             \
            const T *qc = q + c * qcs;                                                       \
            const T ta = (T)qa, tb = (T)qb;                                                  \
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++)                                     \
                oc[i] = a[i] * ec[i] - b[i] * (wc * (ta * qc[i] + tb));                      \
        }                                                                                    \
    }                                                                                        \
}                                                                                            \
/* Copy a [C][L] block between strided storage (class stride cs, position stride ps) and a   \
 * contiguous buffer (class stride L). */                                                    \
static ONNXL_CLONES void tile_gather_##SFX(const T *src, ptrdiff_t cs, ptrdiff_t ps,          \
                                           ptrdiff_t C, ptrdiff_t L, T *restrict dst) {      \
    for (ptrdiff_t c = 0; c < C; c++) {                                                      \
        const T *sc = src + c * cs;                                                          \
        ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) dst[c * L + i] = sc[i * ps];            \
    }                                                                                        \
}                                                                                            \
static ONNXL_MAYBE_UNUSED void tile_scatter_##SFX(const T *restrict src, ptrdiff_t C,       \
                                                  ptrdiff_t L, T *dst, ptrdiff_t cs,         \
                                                  ptrdiff_t ps) {                            \
    for (ptrdiff_t c = 0; c < C; c++)                                                        \
        for (ptrdiff_t i = 0; i < L; i++) dst[c * cs + i * ps] = src[c * L + i];             \
}                                                                                            \
/* Row forms: one position, classes contiguous. */                                           \
static ONNXL_CLONES T row_max_##SFX(const T *x, ptrdiff_t C) {                               \
    T m = -INFINITY;                                                                         \
    _Pragma("omp simd reduction(max:m)") for (ptrdiff_t c = 0; c < C; c++)                   \
        m = x[c] > m ? x[c] : m;                                                             \
    return m;                                                                                \
}                                                                                            \
/* e (length C) receives the exponentials; the sum order is the same with or without a  \
 * gradient to follow. */                                                                    \
static ONNXL_CLONES ONNXL_CONTRACT T row_sumexp_##SFX(const T *x, ptrdiff_t C, T m, T *restrict e) {        \
    T s = 0;                                                                                 \
    _Pragma("omp simd reduction(+:s)") for (ptrdiff_t c = 0; c < C; c++) {                   \
        const T z = x[c] - m;                                                                \
        e[c] = EXP(z);                                                                       \
        s += SUM_TERM(z, e[c]);                                                              \
    }                                                                                        \
    return s;                                                                                \
}                                                                                            \
static ONNXL_CLONES double row_wdot_##SFX(const T *x, ptrdiff_t C, const double *w) {        \
    double acc = 0;                                                                          \
    _Pragma("omp simd reduction(+:acc)") for (ptrdiff_t c = 0; c < C; c++) {                 \
        const double k = w ? w[c] : 1.0;                                                     \
        acc += k != 0 ? k * (double)x[c] : 0.0;                                              \
    }                                                                                        \
    return acc;                                                                              \
}                                                                                            \
static ONNXL_CLONES void row_qdot_##SFX(const T *x, const T *q, ptrdiff_t qcs, ptrdiff_t C,   \
                                        const double *w, double qa, double qb,               \
                                        double *kx_out, double *k_out) {                     \
    double kx = 0, k = 0;                                                                    \
    _Pragma("omp simd reduction(+:kx, k)") for (ptrdiff_t c = 0; c < C; c++) {               \
        const double kc = (w ? w[c] : 1.0) * (qa * (double)q[c * qcs] + qb);                 \
        k += kc;                                                                             \
        kx += kc != 0 ? kc * (double)x[c] : 0.0;                                             \
    }                                                                                        \
    *kx_out = kx;                                                                            \
    *k_out = k;                                                                              \
}                                                                                            \
static ONNXL_CLONES void row_grad_##SFX(const T *e, ptrdiff_t C, T a, T b, int kind,          \
                                        const double *w, const T *q, ptrdiff_t qcs,          \
                                        double qa, double qb, T *out, ptrdiff_t ocs) {       \
    const T ta = (T)qa, tb = (T)qb;                                                          \
    if (kind == 0) {                                                                         \
        ONNXL_SIMD for (ptrdiff_t c = 0; c < C; c++) out[c * ocs] = a * e[c];                \
    } else if (kind == 1) {                                                                  \
        ONNXL_SIMD for (ptrdiff_t c = 0; c < C; c++)                                         \
            out[c * ocs] = a * e[c] - b * (T)(w ? w[c] : 1.0);                               \
    } else {                                                                                 \
        ONNXL_SIMD for (ptrdiff_t c = 0; c < C; c++)                                         \
            out[c * ocs] = a * e[c] - b * ((T)(w ? w[c] : 1.0) * (ta * q[c * qcs] + tb));    \
    }                                                                                        \
}

#define ONNXL_SUM_TERM_F64(z, v) (v)
/* the argument is x - max <= 0 */
ONNXL_DEFINE_LOOPS(float, f32, onnxl_exp_nonpos, onnxl_exp_nonpos_for_sum, ONNXL_SUM_TERM_F32)
ONNXL_DEFINE_LOOPS(double, f64, exp, exp, ONNXL_SUM_TERM_F64)

/* Per-position terms of a tile with class-index targets (cross-entropy / NLL, optional
 * class weights w and label smoothing eps), in one vectorisable loop:
 *     loss_i = w_t (lse_i - x[t_i, i])                           eps == 0  (acc == NULL)
 *     loss_i = qa w_t (lse_i - x[t_i, i]) + qb (W lse_i - acc_i) eps > 0, acc_i = sum_c w_c x_c
 * with qa = 1 - eps, qb = eps / C, W = sum_c w_c, lse == NULL for NLL (lse_i = 0), and
 * t_i = 0 where cnt_i == 0 (not counted: loss 0, selected, so NaN there stays out).
 * Returns the sum of the losses; lo (scratch, L doubles) receives them.  With a gradient
 * (a != NULL), gi = scale: a_i = gi coef_i / s_i, b_i = gi qb, fix_i = gi qa w_t, and 0
 * where not counted (coef = w_t, or qa w_t + qb W).  Positions are independent: the loop
 * runs over them with gathers, instead of a branchy scalar loop per position. */
#define ONNXL_DEFINE_HARD(T, SFX)                                                               \
ONNXL_INLINE void tile_hard_body_##SFX(ptrdiff_t L, const T *x, ptrdiff_t cs,                \
        const int64_t *restrict tt, const unsigned char *restrict cnt,                       \
        const double *restrict lse, const double *w, double qa, double qb, double W,         \
        const double *restrict acc, double scale, const T *restrict s, double *restrict lo,  \
        T *restrict a, T *restrict b, double *restrict fix, const int HAS_LSE,               \
        const int HAS_W, const int HAS_EPS, const int WG) {                                  \
    ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {                                           \
        const ptrdiff_t t = (ptrdiff_t)tt[i];                                                \
        const double li = HAS_LSE ? lse[i] : 0.0;                                            \
        const double wt = HAS_W ? w[t] : 1.0;                                                \
        double l = wt * (li - (double)x[t * cs + i]);                                        \
        if (HAS_EPS) l = qa * l + qb * (W * li - acc[i]);                                    \
        const int ok = cnt[i] != 0;                                                          \
        l = ok ? l : 0.0;                                                                    \
        lo[i] = l;                                                                           \
        if (WG) {                                                                            \
            const double coef = HAS_EPS ? qa * wt + qb * W : wt;                             \
            a[i] = ok ? (HAS_LSE ? (T)(scale * coef / (double)s[i]) : (T)0) : (T)0;          \
            b[i] = ok ? (T)(scale * qb) : (T)0;                                              \
            fix[i] = ok ? scale * qa * wt : 0.0;                                             \
        }                                                                                    \
    }                                                                                        \
}                                                                                            \
/* The losses go to lo (L doubles of scratch) and are summed in a loop of their own (see  \
 * ONNXL_CHUNK's note). */                                                                   \
static ONNXL_CLONES double tile_hard_##SFX(ptrdiff_t L, const T *x, ptrdiff_t cs,             \
        const int64_t *tt, const unsigned char *cnt, const double *lse, const double *w,     \
        double qa, double qb, double W, const double *acc, double scale, const T *s,         \
        double *lo, T *a, T *b, double *fix) {                                               \
    const int wg = a != NULL;                                                                \
    /* the common cases get a loop of their own; the rest share the general one */           \
    if (!w && !acc && lse && !wg)                                                            \
        tile_hard_body_##SFX(L, x, cs, tt, cnt, lse, w, qa, qb, W, acc, scale, s, lo,        \
                             a, b, fix, 1, 0, 0, 0);                                         \
    else if (!w && !acc && lse && wg)                                                        \
        tile_hard_body_##SFX(L, x, cs, tt, cnt, lse, w, qa, qb, W, acc, scale, s, lo,        \
                             a, b, fix, 1, 0, 0, 1);                                         \
    else if (!w && !acc && !lse && !wg)                                                      \
        tile_hard_body_##SFX(L, x, cs, tt, cnt, lse, w, qa, qb, W, acc, scale, s, lo,        \
                             a, b, fix, 0, 0, 0, 0);                                         \
    else if (wg)                                                                             \
        tile_hard_body_##SFX(L, x, cs, tt, cnt, lse, w, qa, qb, W, acc, scale, s, lo,        \
                             a, b, fix, lse != NULL, w != NULL, acc != NULL, 1);             \
    else                                                                                     \
        tile_hard_body_##SFX(L, x, cs, tt, cnt, lse, w, qa, qb, W, acc, scale, s, lo, a, b,  \
                             fix, lse != NULL, w != NULL, acc != NULL, 0);                   \
    double total = 0;                                                                        \
    _Pragma("omp simd reduction(+:total)") for (ptrdiff_t i = 0; i < L; i++) total += lo[i]; \
    return total;                                                                            \
}

ONNXL_DEFINE_HARD(float, f32)
ONNXL_DEFINE_HARD(double, f64)

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

/* Softmax focal loss of a tile with class-index targets, vectorised over positions:
 *   nll_i = lse_i - x[t_i, i],  loss_i = w_t (1 - p_t)^gamma nll_i   (w = alpha, or none)
 * and, with a gradient (a != NULL, gi = scale), CE's form: a_i = gi w_t coef_i / s_i,
 * b_i = 0, fix_i = gi w_t coef_i (coef from focal_terms).  Not counted: 0.  nll, qg and
 * coef are scratch of L doubles; coef may be fix itself (read before written, per i). */
#define ONNXL_DEFINE_FOCAL(T, SFX)                                                              \
static ONNXL_CLONES double tile_focal_##SFX(ptrdiff_t L, const T *x, ptrdiff_t cs,            \
        const int64_t *restrict tt, const unsigned char *restrict cnt,                       \
        const double *restrict lse, const double *w, double gamma, double scale,             \
        const T *restrict s, double *restrict nll, double *restrict qg, double *coef,        \
        T *restrict a, T *restrict b, double *fix) {                                         \
    ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++)                                             \
        nll[i] = cnt[i] ? lse[i] - (double)x[(ptrdiff_t)tt[i] * cs + i] : 0.0;               \
    focal_terms(L, nll, gamma, qg, coef);                                                    \
    ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {                                           \
        const double wt = w ? w[tt[i]] : 1.0;                                                \
        qg[i] = cnt[i] != 0 ? wt * qg[i] * nll[i] : 0.0;      /* qg becomes the loss */      \
    }                                                                                        \
    double total = 0;                           /* summed apart: see ONNXL_CHUNK's note */   \
    _Pragma("omp simd reduction(+:total)") for (ptrdiff_t i = 0; i < L; i++) total += qg[i]; \
    if (a) {                                                                                 \
        ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {                                       \
            const double wt = w ? w[tt[i]] : 1.0;                                            \
            const int ok = cnt[i] != 0;                                                      \
            const double g = scale * wt * coef[i];                                           \
            a[i] = ok ? (T)(g / (double)s[i]) : (T)0;                                        \
            b[i] = (T)0;                                                                     \
            fix[i] = ok ? g : 0.0;                                                           \
        }                                                                                    \
    }                                                                                        \
    return total;                                                                            \
}

ONNXL_DEFINE_FOCAL(float, f32)
ONNXL_DEFINE_FOCAL(double, f64)

#endif
