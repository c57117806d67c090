/* The Dice-family loops of dice_loops.h, written once for every element type.
 *
 * Included by dice_loops.h once per type, with T (float or double) and SFX (f32 or f64) defined
 * (ONNXL_FN(name) is name_SFX, see kernel_common.h): no include guard, on purpose. */

/* softmax: prob[c][i] = e[c][i] / s[i] in place (0 where not kept); s becomes 1 / s */
static ONNXL_CLONES void ONNXL_FN(tile_normalize)(T *restrict prob, ptrdiff_t C, ptrdiff_t L,
                                              const T *restrict keep, T *restrict s) {
    ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) s[i] = (T)1 / s[i];
    for (ptrdiff_t c = 0; c < C; c++) {
        T *pc = prob + c * L;
        ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++)
            pc[i] = keep[i] != 0 ? pc[i] * s[i] : (T)0;
    }
}
/* sigmoid (act 2) or identity (act 0) of a [C][L] block x with class stride cs: prob, 0
 * where not kept.  The sigmoid is 1 / (1 + exp(-x)) in double, then rounded to T. */
static ONNXL_CLONES void ONNXL_FN(tile_activate)(const T *x, ptrdiff_t cs, ptrdiff_t C,
                                             ptrdiff_t L, const T *restrict keep, int act,
                                             T *restrict prob) {
    for (ptrdiff_t c = 0; c < C; c++) {
        const T *xc = x + c * cs;
        T *pc = prob + c * L;
        if (act == ONNXL_ACT_SIGMOID) {
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {
                const T v = (T)(1.0 / (1.0 + exp(-(double)xc[i])));
                pc[i] = keep[i] != 0 ? v : (T)0;
            }
        } else {
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++)
                pc[i] = keep[i] != 0 ? xc[i] : (T)0;
        }
    }
}
/* stats[3c + 0..2] += sum p t, sum p^k, sum t^k over counted positions (keep[i] != 0;
 * prob is already 0 elsewhere) */
static ONNXL_CLONES void ONNXL_FN(dice_stats)(const T *restrict prob, ptrdiff_t C, ptrdiff_t L,
                                          const int64_t *restrict tt, const T *restrict y,
                                          const T *restrict keep, int k,
                                          double *restrict stats) {
    for (ptrdiff_t c = 0; c < C; c++) {
        const T *pc = prob + c * L;
        double ai = 0, ap = 0, at = 0;
        if (y) {
            const T *yc = y + c * L;
            _Pragma("omp simd reduction(+:ai, ap, at)") for (ptrdiff_t i = 0; i < L; i++) {
                const double pv = pc[i];
                const double yv = keep[i] != 0 ? yc[i] : (T)0;
                ai += pv * yv;
                ap += k == 2 ? pv * pv : pv;
                at += k == 2 ? yv * yv : yv;
            }
        } else if (k == 2) {   /* prob is 0 where not kept: no select */
            _Pragma("omp simd reduction(+:ap)") for (ptrdiff_t i = 0; i < L; i++)
                ap += (double)pc[i] * (double)pc[i];
        } else {
            _Pragma("omp simd reduction(+:ap)") for (ptrdiff_t i = 0; i < L; i++)
                ap += (double)pc[i];
        }
        stats[3 * c] += ai;
        stats[3 * c + 1] += ap;
        stats[3 * c + 2] += at;
    }
    if (!y) {
        /* one-hot targets: I and T only touch the target class of each position, so one
         * pass over the positions (in position order) replaces a compare per class */
        for (ptrdiff_t i = 0; i < L; i++) {
            if (keep[i] == 0) continue;
            const ptrdiff_t t = (ptrdiff_t)tt[i];
            stats[3 * t] += (double)prob[t * L + i];
            stats[3 * t + 2] += 1.0;
        }
    }
}
/* dice_grad for class-index targets (t one-hot), act 1 (softmax) or 0 (identity).  With
 * g_c = A_c [c == t] + B_c k p_c^(k-1), the softmax's m = sum_j p_j g_j is
 *     m = p_t A_t + sum_j B_j k p_j^k,
 * and dx_c = p_c (B_c k p_c^(k-1) - m) + [c == t] p_t A_t: one write per element plus a
 * fix-up of the target entry, instead of building g in out and reading it back twice.
 * A softmax loss beside the Dice term (ta != NULL, softmax only: a fused combined loss)
 * adds its gradient in cross-entropy's form (softmax_loops.h) with e_c / s = p_c:
 *     ta p_c - tb w_c - [c == t] tfix        (tb NULL: no second term; tw NULL: ones)
 * so dx_c = p_c (B_c k p_c^(k-1) - m + ta) - tb w_c + [c == t] (p_t A_t - tfix). */
static ONNXL_CLONES void ONNXL_FN(dice_grad_onehot)(const T *restrict prob, ptrdiff_t C,
        ptrdiff_t L, const int64_t *restrict tt, const T *restrict keep,
        const double *restrict A, const double *restrict B, int k, int act,
        const T *restrict ta, const T *restrict tb, const double *restrict tw,
        const double *restrict tfix, T *restrict m, T *restrict out, ptrdiff_t ocs) {
    if (act == ONNXL_ACT_SOFTMAX) {
        for (ptrdiff_t i = 0; i < L; i++) m[i] = 0;
        for (ptrdiff_t c = 0; c < C; c++) {
            const T *pc = prob + c * L;
            const T b = (T)B[c];
            if (k == 2) {
                ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++)
                    m[i] += (T)2 * b * pc[i] * pc[i];
            } else {
                ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) m[i] += b * pc[i];
            }
        }
        for (ptrdiff_t i = 0; i < L; i++)
            if (keep[i] != 0) m[i] += prob[tt[i] * L + i] * (T)A[tt[i]];
    }
    for (ptrdiff_t c = 0; c < C; c++) {
        const T *pc = prob + c * L;
        T *oc = out + c * ocs;
        const T b = (T)B[c];
        if (act == ONNXL_ACT_SOFTMAX && ta == NULL) {
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {
                const T g = k == 2 ? (T)2 * b * pc[i] : b;
                oc[i] = keep[i] != 0 ? pc[i] * (g - m[i]) : (T)0;
            }
        } else if (act == ONNXL_ACT_SOFTMAX && tb == NULL) {
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {
                const T g = k == 2 ? (T)2 * b * pc[i] : b;
                oc[i] = keep[i] != 0 ? pc[i] * (g - m[i] + ta[i]) : (T)0;
            }
        } else if (act == ONNXL_ACT_SOFTMAX) {
            const T wc = (T)(tw ? tw[c] : 1.0);
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {
                const T g = k == 2 ? (T)2 * b * pc[i] : b;
                oc[i] = keep[i] != 0 ? pc[i] * (g - m[i] + ta[i]) - tb[i] * wc : (T)0;
            }
        } else {
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {
                const T g = k == 2 ? (T)2 * b * pc[i] : b;
                oc[i] = keep[i] != 0 ? g : (T)0;
            }
        }
    }
    for (ptrdiff_t i = 0; i < L; i++) {
        if (keep[i] == 0) continue;
        const ptrdiff_t t = (ptrdiff_t)tt[i];
        if (ta != NULL)
            out[t * ocs + i] += prob[t * L + i] * (T)A[t] - (T)tfix[i];
        else
            out[t * ocs + i] += act == ONNXL_ACT_SOFTMAX ? prob[t * L + i] * (T)A[t] : (T)A[t];
    }
}
/* out[c * ocs + i] = d loss / d x: g = A_c t + B_c k p^(k-1), then through the activation
 * (1 softmax: p (g - sum_j p_j g_j); 2 sigmoid: g p (1 - p); 0 identity); 0 if uncounted.
 * m is scratch of L.  ta, tb, tw, tfix: a softmax loss's gradient added (see
 * dice_grad_onehot; class-index targets only, NULL otherwise). */
static ONNXL_CLONES void ONNXL_FN(dice_grad)(const T *restrict prob, ptrdiff_t C, ptrdiff_t L,
                                         const int64_t *restrict tt, const T *restrict y,
                                         const T *restrict keep,
                                         const double *restrict A, const double *restrict B,
                                         int k, int act, const T *ta, const T *tb,
                                         const double *tw, const double *tfix,
                                         T *restrict m, T *restrict out, ptrdiff_t ocs) {
    if (!y && act != 2) {
        ONNXL_FN(dice_grad_onehot)(prob, C, L, tt, keep, A, B, k, act, ta, tb, tw, tfix, m,
                                   out, ocs);
        return;
    }
    for (ptrdiff_t c = 0; c < C; c++) {
        const T *pc = prob + c * L;
        T *oc = out + c * ocs;
        const T a = (T)A[c], b = (T)B[c];
        if (y) {
            const T *yc = y + c * L;
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++)
                oc[i] = a * yc[i] + b * (k == 2 ? (T)2 * pc[i] : (T)1);
        } else {
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++)
                oc[i] = (tt[i] == c ? a : (T)0) + b * (k == 2 ? (T)2 * pc[i] : (T)1);
        }
    }
    if (act == ONNXL_ACT_SOFTMAX) {
        for (ptrdiff_t i = 0; i < L; i++) m[i] = 0;
        for (ptrdiff_t c = 0; c < C; c++) {
            const T *pc = prob + c * L;
            const T *oc = out + c * ocs;
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) m[i] += pc[i] * oc[i];
        }
        for (ptrdiff_t c = 0; c < C; c++) {
            const T *pc = prob + c * L;
            T *oc = out + c * ocs;
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++)
                oc[i] = keep[i] != 0 ? pc[i] * (oc[i] - m[i]) : (T)0;
        }
    } else {
        for (ptrdiff_t c = 0; c < C; c++) {
            const T *pc = prob + c * L;
            T *oc = out + c * ocs;
            if (act == ONNXL_ACT_SIGMOID) {
                ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++)
                    oc[i] = keep[i] != 0 ? oc[i] * pc[i] * ((T)1 - pc[i]) : (T)0;
            } else {
                ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++)
                    oc[i] = keep[i] != 0 ? oc[i] : (T)0;
            }
        }
    }
}
