/* Hot loops of the Dice-family kernel (see _dice.pyx), in C so that they vectorise.
 * A tile is a [C][L] block of probabilities `prob` (class stride L), the counted flags
 * cnt[L], and either integer targets tt[L] or a dense target block y ([C][L], contiguous).
 * Uncounted positions are selected away (never multiplied by 0: NaN there must not leak).
 */
#ifndef ONNXLOSSES_DICE_LOOPS_H
#define ONNXLOSSES_DICE_LOOPS_H
#include "softmax_loops.h"

#define ONNXL_DEFINE_DICE(T, SFX)                                                              \
/* softmax: prob[c][i] = e[c][i] / s[i], in place (s becomes 1 / s) */                       \
static ONNXL_CLONES void tile_normalize_##SFX(T *restrict prob, ptrdiff_t C, ptrdiff_t L,     \
                                              T *restrict s) {                               \
    ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) s[i] = (T)1 / s[i];                         \
    for (ptrdiff_t c = 0; c < C; c++) {                                                      \
        T *pc = prob + c * L;                                                                \
        ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) pc[i] *= s[i];                          \
    }                                                                                        \
}                                                                                            \
/* stats[3c + 0..2] += sum p t, sum p^k, sum t^k over counted positions */                   \
static ONNXL_CLONES void dice_stats_##SFX(const T *restrict prob, ptrdiff_t C, ptrdiff_t L,   \
                                          const int64_t *restrict tt, const T *restrict y,   \
                                          const unsigned char *restrict cnt, int k,          \
                                          double *restrict stats) {                          \
    for (ptrdiff_t c = 0; c < C; c++) {                                                      \
        const T *pc = prob + c * L;                                                          \
        double ai = 0, ap = 0, at = 0;                                                       \
        if (y) {                                                                             \
            const T *yc = y + c * L;                                                         \
            _Pragma("omp simd reduction(+:ai, ap, at)") for (ptrdiff_t i = 0; i < L; i++) {  \
                double pv = cnt[i] ? (double)pc[i] : 0.0;                                    \
                double yv = cnt[i] ? (double)yc[i] : 0.0;                                    \
                ai += pv * yv;                                                               \
                ap += k == 2 ? pv * pv : pv;                                                 \
                at += k == 2 ? yv * yv : yv;                                                 \
            }                                                                                \
        } else {                                                                             \
            _Pragma("omp simd reduction(+:ap)") for (ptrdiff_t i = 0; i < L; i++) {          \
                double pv = cnt[i] ? (double)pc[i] : 0.0;                                    \
                ap += k == 2 ? pv * pv : pv;                                                 \
            }                                                                                \
        }                                                                                    \
        stats[3 * c] += ai;                                                                  \
        stats[3 * c + 1] += ap;                                                              \
        stats[3 * c + 2] += at;                                                              \
    }                                                                                        \
    if (!y) {                                                                                \
        /* one-hot targets: I and T only touch the target class of each position, so one   \
         * pass over the positions (in position order) replaces a compare per class */      \
        for (ptrdiff_t i = 0; i < L; i++) {                                                  \
            if (!cnt[i]) continue;                                                           \
            const ptrdiff_t t = (ptrdiff_t)tt[i];                                            \
            stats[3 * t] += (double)prob[t * L + i];                                         \
            stats[3 * t + 2] += 1.0;                                                         \
        }                                                                                    \
    }                                                                                        \
}                                                                                            \
/* out[c * ocs + i] = d loss / d x: g = A_c t + B_c k p^(k-1), then through the activation  \
 * (1 softmax: p (g - sum_j p_j g_j); 2 sigmoid: g p (1 - p); 0 identity); 0 if uncounted. \
 * m is scratch of L. */                                                                     \
static ONNXL_CLONES void dice_grad_##SFX(const T *restrict prob, ptrdiff_t C, ptrdiff_t L,    \
                                         const int64_t *restrict tt, const T *restrict y,    \
                                         const unsigned char *restrict cnt,                  \
                                         const double *restrict A, const double *restrict B, \
                                         int k, int act, T *restrict m, T *restrict out,     \
                                         ptrdiff_t ocs) {                                    \
    for (ptrdiff_t c = 0; c < C; c++) {                                                      \
        const T *pc = prob + c * L;                                                          \
        T *oc = out + c * ocs;                                                               \
        const T a = (T)A[c], b = (T)B[c];                                                    \
        if (y) {                                                                             \
            const T *yc = y + c * L;                                                         \
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++)                                     \
                oc[i] = a * yc[i] + b * (k == 2 ? (T)2 * pc[i] : (T)1);                      \
        } else {                                                                             \
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++)                                     \
                oc[i] = (tt[i] == c ? a : (T)0) + b * (k == 2 ? (T)2 * pc[i] : (T)1);        \
        }                                                                                    \
    }                                                                                        \
    if (act == 1) {                                                                          \
        for (ptrdiff_t i = 0; i < L; i++) m[i] = 0;                                          \
        for (ptrdiff_t c = 0; c < C; c++) {                                                  \
            const T *pc = prob + c * L;                                                      \
            const T *oc = out + c * ocs;                                                     \
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) m[i] += pc[i] * oc[i];              \
        }                                                                                    \
        for (ptrdiff_t c = 0; c < C; c++) {                                                  \
            const T *pc = prob + c * L;                                                      \
            T *oc = out + c * ocs;                                                           \
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++)                                     \
                oc[i] = cnt[i] ? pc[i] * (oc[i] - m[i]) : (T)0;                              \
        }                                                                                    \
    } else {                                                                                 \
        for (ptrdiff_t c = 0; c < C; c++) {                                                  \
            const T *pc = prob + c * L;                                                      \
            T *oc = out + c * ocs;                                                           \
            if (act == 2) {                                                                  \
                ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++)                                 \
                    oc[i] = cnt[i] ? oc[i] * pc[i] * ((T)1 - pc[i]) : (T)0;                  \
            } else {                                                                         \
                ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) oc[i] = cnt[i] ? oc[i] : (T)0;  \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
}

ONNXL_DEFINE_DICE(float, f32)
ONNXL_DEFINE_DICE(double, f64)

#endif
