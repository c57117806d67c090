/* The softmax-family loops of softmax_loops.h, written once for every element type.
 *
 * Included by softmax_loops.h once per type, with T (float or double), SFX (f32 or f64),
 * EXP (the softmax's exponential), EXP_SUM and SUM_TERM (its form for sums only) defined
 * (ONNXL_FN(name) is name_SFX, see kernel_common.h): no include guard, on purpose. */

/* m[i] = max_c x[c, i].  NaN is passed over here and resurfaces through exp in sumexp. */
static ONNXL_CLONES void ONNXL_FN(tile_max)(const T *x, ptrdiff_t cs, ptrdiff_t C, ptrdiff_t L,
                                        T *restrict m) {
    for (ptrdiff_t i = 0; i < L; i++) m[i] = -INFINITY;
    for (ptrdiff_t c = 0; c < C; c++) {
        const T *xc = x + c * cs;
        ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) m[i] = xc[i] > m[i] ? xc[i] : m[i];
    }
}
/* s[i] = sum_c exp(x[c, i] - m[i]); the exponentials go to e[c*L + i] when e != NULL.
 * pf (or NULL): the next tile, same strides, L positions: prefetched class by class while
 * this one is exp-bound, so that its max pass finds it in cache instead of waiting on
 * memory (the two passes no longer take turns at the memory bus). */
static ONNXL_CLONES ONNXL_CONTRACT void ONNXL_FN(tile_sumexp)(const T *x, ptrdiff_t cs, ptrdiff_t C,
                                           ptrdiff_t L, const T *restrict m,
                                           T *restrict s, T *restrict e, const T *pf) {
    for (ptrdiff_t i = 0; i < L; i++) s[i] = 0;
    for (ptrdiff_t c = 0; c < C; c++) {
        const T *xc = x + c * cs;
        if (pf)
            for (ptrdiff_t i = 0; i < L; i += 64 / (ptrdiff_t)sizeof(T))
                __builtin_prefetch(pf + c * cs + i, 0, 3);
        if (e) {
            T *ec = e + c * L;
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {
                const T z = xc[i] - m[i];
                const T v = EXP(z);
                ec[i] = v;
                s[i] += SUM_TERM(z, v);
            }
        } else {
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) s[i] += EXP_SUM(xc[i] - m[i]);
        }
    }
}
/* lse[i] = m[i] + log(s[i]) in double: one vector log per tile instead of a scalar call
 * per position. */
static ONNXL_CLONES void ONNXL_FN(tile_lse)(const T *restrict m, const T *restrict s,
                                        ptrdiff_t L, double *restrict lse) {
    ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) lse[i] = (double)m[i] + log((double)s[i]);
}
/* acc[i] = sum_c k_c x[c, i] with k_c = w[c] (1 when w == NULL), classes with k_c == 0
 * skipped.  The label-smoothing term. */
static ONNXL_CLONES void ONNXL_FN(tile_wdot)(const T *x, ptrdiff_t cs, ptrdiff_t C, ptrdiff_t L,
                                         const double *w, double *restrict acc) {
    for (ptrdiff_t i = 0; i < L; i++) acc[i] = 0;
    for (ptrdiff_t c = 0; c < C; c++) {
        const double k = w ? w[c] : 1.0;
        if (k == 0) continue;
        const T *xc = x + c * cs;
        ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) acc[i] += k * (double)xc[i];
    }
}
/* Probability targets q (class stride qcs, positions contiguous), smoothed to
 * q' = qa*q + qb:  kx[i] = sum_c w_c q'_c x_c  and  k[i] = sum_c w_c q'_c,
 * terms with w_c q'_c == 0 skipped. */
static ONNXL_CLONES void ONNXL_FN(tile_qdot)(const T *x, ptrdiff_t cs, const T *q, ptrdiff_t qcs,
                                         ptrdiff_t C, ptrdiff_t L, const double *w,
                                         double qa, double qb, double *restrict kx,
                                         double *restrict k) {
    for (ptrdiff_t i = 0; i < L; i++) { kx[i] = 0; k[i] = 0; }
    for (ptrdiff_t c = 0; c < C; c++) {
        const double wc = w ? w[c] : 1.0;
        if (wc == 0) continue;
        const T *xc = x + c * cs, *qc = q + c * qcs;
        ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {
            double kc = wc * (qa * (double)qc[i] + qb);
            k[i] += kc;
            kx[i] += kc != 0 ? kc * (double)xc[i] : 0.0;
        }
    }
}
/* The gradient of a tile, one class row at a time:
 *     out[c, i] = keep[i] ? a[i] e[c, i] - b[i] k_c[i] - [c == t_i] fix[i] : 0
 * with k_c[i] = 0 (kind 0), w_c (kind 1) or w_c (qa q[c, i] + qb) (kind 2); NLL (e NULL)
 * has only the target's term.  keep, tf (the class index t_i as T, exact below 2^24) and
 * fix come per position in T (tile_grad_positions), so the row loop is all one width and
 * vectorises with selects; tf NULL: no target term (probability targets).  out has class
 * stride ocs and contiguous positions; each finished row is copied to dst (class stride
 * dcs) with streaming stores when dst != NULL (stream_store.h), while it is in L1.
 * The operations and their order are those of the separate passes this replaces (a e - b
 * k, then - fix at the target, then 0 where not kept), so every bit is the same. */
static ONNXL_CLONES void ONNXL_FN(tile_grad)(const T *e, ptrdiff_t C, ptrdiff_t L,
                                         const T *restrict a, const T *restrict b, int kind,
                                         const double *w, const T *q, ptrdiff_t qcs,
                                         double qa, double qb, const T *restrict keep,
                                         const T *restrict tf, const T *restrict fix,
                                         T *out, ptrdiff_t ocs, T *dst, ptrdiff_t dcs) {
    if (!e) {     /* NLL: 0 but at the target: zero rows, then one pass over positions */
        for (ptrdiff_t c = 0; c < C; c++) memset(out + c * ocs, 0, (size_t)L * sizeof(T));
        for (ptrdiff_t i = 0; i < L; i++)
            if (keep[i] != 0) out[(ptrdiff_t)tf[i] * ocs + i] = (T)0 - fix[i];
        for (ptrdiff_t c = 0; dst && c < C; c++)
            onnxl_stream_copy(dst + c * dcs, out + c * ocs, (size_t)L * sizeof(T));
        if (dst) onnxl_stream_fence();
        return;
    }
    for (ptrdiff_t c = 0; c < C; c++) {
        const T *ec = e + c * L;
        T *oc = out + c * ocs;
        const T wc = (T)(w ? w[c] : 1.0), cf = (T)c;
        if (kind == ONNXL_GRAD_PLAIN) {
            if (dst && ONNXL_FN(grad_row_stream)(ec, a, tf, cf, fix, keep, L, dst + c * dcs))
                continue;      /* streamed straight out: no scratch row, no copy */
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {
                T v = a[i] * ec[i];
                v = tf[i] == cf ? v - fix[i] : v;
                oc[i] = keep[i] != 0 ? v : (T)0;
            }
        } else if (kind == ONNXL_GRAD_SMOOTHED) {
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {
                T v = a[i] * ec[i] - b[i] * wc;
                v = tf[i] == cf ? v - fix[i] : v;
                oc[i] = keep[i] != 0 ? v : (T)0;
            }
        } else {
            const T *qc = q + c * qcs;
            const T ta = (T)qa, tb = (T)qb;
            ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {
                const T v = a[i] * ec[i] - b[i] * (wc * (ta * qc[i] + tb));
                oc[i] = keep[i] != 0 ? v : (T)0;
            }
        }
        if (dst) onnxl_stream_copy(dst + c * dcs, oc, (size_t)L * sizeof(T));
    }
    if (dst) onnxl_stream_fence();
}
/* The per-position operands of tile_grad from the counted flags, class indices (tt NULL:
 * probability targets) and the target terms in double: keep = cnt, tf = t, fixt = fix,
 * each in T. */
static ONNXL_CLONES void ONNXL_FN(tile_grad_positions)(ptrdiff_t L,
        const unsigned char *restrict cnt, const int64_t *restrict tt,
        const double *restrict fix, T *restrict keep, T *restrict tf, T *restrict fixt) {
    ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) keep[i] = cnt[i] ? (T)1 : (T)0;
    if (tt) {
        ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {
            tf[i] = (T)tt[i];
            fixt[i] = (T)fix[i];
        }
    }
}
/* dst[c * L + i] = src[i * C + c]: a contiguous [L][C] block (a channels-last tile) into
 * [C][L] (transpose.h). */
static void ONNXL_FN(rows_to_tile)(const T *src, ptrdiff_t C, ptrdiff_t L, T *restrict dst,
                                   const T *next, ptrdiff_t next_len) {
    ptrdiff_t done = 0;
#if ONNXL_HAVE_GATHER_TRANSPOSE
    if (C <= ONNXL_TRANSPOSE_MAX_C && onnxl_gather_transpose_available())
        ONNXL_FN(rows_to_tile_avx512)(src, C, L, dst, (const char *)next,
                                      next_len * C * (ptrdiff_t)sizeof(T), &done);
#else
    (void)next;
    (void)next_len;
#endif
    for (ptrdiff_t c = 0; c < C; c++)
        for (ptrdiff_t i = done; i < L; i++) dst[c * L + i] = src[i * C + c];
}
/* dst[i * C + c] = src[c * L + i]: a [C][L] block into a contiguous [L][C] one, streamed
 * where `stream` asks for it (transpose.h). */
static void ONNXL_FN(tile_to_rows)(const T *restrict src, ptrdiff_t C, ptrdiff_t L, T *dst,
                                   int stream) {
    ptrdiff_t done = 0;
#if ONNXL_HAVE_GATHER_TRANSPOSE
    if (C <= ONNXL_TRANSPOSE_MAX_C && onnxl_gather_transpose_available())
        ONNXL_FN(tile_to_rows_avx512)(src, C, L, dst, stream, &done);
#endif
    for (ptrdiff_t i = done; i < L; i++)
        for (ptrdiff_t c = 0; c < C; c++) dst[i * C + c] = src[c * L + i];
}
/* Copy a [C][L] block between strided storage (class stride cs, position stride ps) and a
 * contiguous buffer (class stride L).  Channels-last storage (cs 1, ps C: the tile is one
 * contiguous [L][C] block) is transposed a block of positions at a time, and `next` (NULL,
 * or the next tile of the same run, next_len positions) prefetched meanwhile. */
static ONNXL_CLONES void ONNXL_FN(tile_gather)(const T *src, ptrdiff_t cs, ptrdiff_t ps,
                                           ptrdiff_t C, ptrdiff_t L, T *restrict dst,
                                           const T *next, ptrdiff_t next_len) {
    if (cs == 1 && ps == C) {
        ONNXL_FN(rows_to_tile)(src, C, L, dst, next, next_len);
        return;
    }
    for (ptrdiff_t c = 0; c < C; c++) {
        const T *sc = src + c * cs;
        ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) dst[c * L + i] = sc[i * ps];
    }
}
static ONNXL_MAYBE_UNUSED void ONNXL_FN(tile_scatter)(const T *restrict src, ptrdiff_t C,
                                                  ptrdiff_t L, T *dst, ptrdiff_t cs,
                                                  ptrdiff_t ps, int stream) {
    if (cs == 1 && ps == C) {
        ONNXL_FN(tile_to_rows)(src, C, L, dst, stream);
        return;
    }
    for (ptrdiff_t c = 0; c < C; c++)
        for (ptrdiff_t i = 0; i < L; i++) dst[c * cs + i * ps] = src[c * L + i];
}
/* Row forms: one position, classes contiguous.
 *
 * row_max and row_sumexp reduce over ONNXL_ROW_LANES lanes of 64 bytes (16 floats, 8
 * doubles), class c in lane c % lanes, whatever vector width the clone has: a row's sum is
 * then the same on AVX-512, AVX2 and SSE machines (given the same exponentials), and a
 * row's last C % lanes classes are one masked vector rather than a scalar loop (which
 * cost as much as the rest of a 100-class row).  The lanes are then added pairwise
 * (lanes/2 apart, then lanes/4, ...): a fixed order, fewer dependent additions than one
 * after the other. */
#define ONNXL_ROW_LANES ((int)(64 / sizeof(T)))
/* The pairwise stages of a lane reduction, each a loop of constant length (vectorised) */
#define ONNXL_ROW_HALVES(stage) \
    if (ONNXL_ROW_LANES == 16) { stage(8) } \
    stage(4) stage(2) stage(1)
static ONNXL_CLONES T ONNXL_FN(row_max)(const T *x, ptrdiff_t C) {
    /* max is exact, so the lanes' order cannot change it; NaN is never taken (the sum that
     * follows carries it) */
    T lane[ONNXL_ROW_LANES];
    ptrdiff_t c0 = 0;
    ONNXL_SIMD for (int l = 0; l < ONNXL_ROW_LANES; l++) lane[l] = -INFINITY;
    for (; c0 + ONNXL_ROW_LANES <= C; c0 += ONNXL_ROW_LANES)
        ONNXL_SIMD for (int l = 0; l < ONNXL_ROW_LANES; l++)
            lane[l] = x[c0 + l] > lane[l] ? x[c0 + l] : lane[l];
    const ptrdiff_t r = C - c0;
    if (r)
        ONNXL_SIMD for (int l = 0; l < ONNXL_ROW_LANES; l++) {
            const T v = l < r ? x[c0 + l] : -INFINITY;    /* reads only the row */
            lane[l] = v > lane[l] ? v : lane[l];
        }
#define ONNXL_MAX_HALVES(n) \
    ONNXL_SIMD for (int l = 0; l < (n); l++) lane[l] = lane[l + (n)] > lane[l] ? lane[l + (n)] : lane[l];
    ONNXL_ROW_HALVES(ONNXL_MAX_HALVES)
#undef ONNXL_MAX_HALVES
    return lane[0];
}
/* e (length C) receives the exponentials, or is NULL (a forward pass: then the sum's
 * exponential skips the subnormal path, EXP_SUM; the terms are the same).  The sum order is
 * the same either way.  The tail's padding lanes exponentiate -inf: they add 0. */
static ONNXL_CLONES ONNXL_CONTRACT T ONNXL_FN(row_sumexp)(const T *x, ptrdiff_t C, T m, T *restrict e) {
    T lane[ONNXL_ROW_LANES];
    ptrdiff_t c0 = 0;
    ONNXL_SIMD for (int l = 0; l < ONNXL_ROW_LANES; l++) lane[l] = 0;
    const ptrdiff_t full = C - C % ONNXL_ROW_LANES, r = C - full;
    if (e == NULL) {
        for (; c0 < full; c0 += ONNXL_ROW_LANES)
            ONNXL_SIMD for (int l = 0; l < ONNXL_ROW_LANES; l++) lane[l] += EXP_SUM(x[c0 + l] - m);
        if (r)
            ONNXL_SIMD for (int l = 0; l < ONNXL_ROW_LANES; l++)
                lane[l] += EXP_SUM(l < r ? x[c0 + l] - m : -INFINITY);
    } else {
        for (; c0 < full; c0 += ONNXL_ROW_LANES)
            ONNXL_SIMD for (int l = 0; l < ONNXL_ROW_LANES; l++) {
                const T z = x[c0 + l] - m;
                const T v = EXP(z);
                e[c0 + l] = v;
                lane[l] += SUM_TERM(z, v);
            }
        if (r)
            ONNXL_SIMD for (int l = 0; l < ONNXL_ROW_LANES; l++) {
                const T z = l < r ? x[c0 + l] - m : -INFINITY;
                const T v = EXP(z);
                if (l < r) e[c0 + l] = v;
                lane[l] += SUM_TERM(z, v);
            }
    }
#define ONNXL_SUM_HALVES(n) ONNXL_SIMD for (int l = 0; l < (n); l++) lane[l] += lane[l + (n)];
    ONNXL_ROW_HALVES(ONNXL_SUM_HALVES)
#undef ONNXL_SUM_HALVES
    return lane[0];
}
#undef ONNXL_ROW_LANES
#undef ONNXL_ROW_HALVES
/* Dot products over one row's classes, in double: 32 lanes (four 8-double vectors, so
 * that four additions are in flight, not one chain per row), class c in lane c % 32, the
 * last C % 32 classes one masked step, the lanes added pairwise: a fixed order whatever the
 * clone.  A class whose coefficient is exactly 0 adds nothing (0 * -inf stays out). */
#define ONNXL_DOT_LANES 32
#define ONNXL_DOT_HALVES(acc) \
    ONNXL_SIMD for (int l = 0; l < 16; l++) acc[l] += acc[l + 16]; \
    ONNXL_SIMD for (int l = 0; l < 8; l++) acc[l] += acc[l + 8]; \
    ONNXL_SIMD for (int l = 0; l < 4; l++) acc[l] += acc[l + 4]; \
    ONNXL_SIMD for (int l = 0; l < 2; l++) acc[l] += acc[l + 2]; \
    acc[0] += acc[1];
/* sum_c k_c x_c with k_c = w[c] (1 when w == NULL): the label-smoothing term */
static ONNXL_CLONES double ONNXL_FN(row_wdot)(const T *x, ptrdiff_t C, const double *w) {
    double acc[ONNXL_DOT_LANES];
    ptrdiff_t c0 = 0;
    ONNXL_SIMD for (int l = 0; l < ONNXL_DOT_LANES; l++) acc[l] = 0;
    for (; c0 + ONNXL_DOT_LANES <= C; c0 += ONNXL_DOT_LANES)
        ONNXL_SIMD for (int l = 0; l < ONNXL_DOT_LANES; l++) {
            const double k = w ? w[c0 + l] : 1.0;
            acc[l] += k != 0 ? k * (double)x[c0 + l] : 0.0;
        }
    const ptrdiff_t r = C - c0;
    if (r)
        ONNXL_SIMD for (int l = 0; l < ONNXL_DOT_LANES; l++) {
            const double k = l < r ? (w ? w[c0 + l] : 1.0) : 0.0;       /* reads only the row */
            const double v = l < r ? (double)x[c0 + l] : 0.0;
            acc[l] += k != 0 ? k * v : 0.0;
        }
    ONNXL_DOT_HALVES(acc)
    return acc[0];
}
/* kx = sum_c k_c x_c and k = sum_c k_c with k_c = w_c (qa q_c + qb): probability targets */
static ONNXL_CLONES void ONNXL_FN(row_qdot)(const T *x, const T *q, ptrdiff_t qcs, ptrdiff_t C,
                                        const double *w, double qa, double qb,
                                        double *kx_out, double *k_out) {
    double kx[ONNXL_DOT_LANES], k[ONNXL_DOT_LANES];
    ptrdiff_t c0 = 0;
    ONNXL_SIMD for (int l = 0; l < ONNXL_DOT_LANES; l++) kx[l] = k[l] = 0;
    for (; c0 + ONNXL_DOT_LANES <= C; c0 += ONNXL_DOT_LANES)
        ONNXL_SIMD for (int l = 0; l < ONNXL_DOT_LANES; l++) {
            const ptrdiff_t c = c0 + l;
            const double kc = (w ? w[c] : 1.0) * (qa * (double)q[c * qcs] + qb);
            k[l] += kc;
            kx[l] += kc != 0 ? kc * (double)x[c] : 0.0;
        }
    const ptrdiff_t r = C - c0;
    if (r)
        ONNXL_SIMD for (int l = 0; l < ONNXL_DOT_LANES; l++) {
            const ptrdiff_t c = c0 + l;
            const double kc = l < r ? (w ? w[c] : 1.0) * (qa * (double)q[c * qcs] + qb) : 0.0;
            const double v = l < r ? (double)x[c] : 0.0;
            k[l] += kc;
            kx[l] += kc != 0 ? kc * v : 0.0;
        }
    ONNXL_DOT_HALVES(kx)
    ONNXL_DOT_HALVES(k)
    *kx_out = kx[0];
    *k_out = k[0];
}
#undef ONNXL_DOT_LANES
#undef ONNXL_DOT_HALVES
static ONNXL_CLONES void ONNXL_FN(row_grad)(const T *e, ptrdiff_t C, T a, T b, int kind,
                                        const double *w, const T *q, ptrdiff_t qcs,
                                        double qa, double qb, T *out, ptrdiff_t ocs) {
    const T ta = (T)qa, tb = (T)qb;
    if (kind == ONNXL_GRAD_PLAIN) {
        ONNXL_SIMD for (ptrdiff_t c = 0; c < C; c++) out[c * ocs] = a * e[c];
    } else if (kind == ONNXL_GRAD_SMOOTHED) {
        ONNXL_SIMD for (ptrdiff_t c = 0; c < C; c++)
            out[c * ocs] = a * e[c] - b * (T)(w ? w[c] : 1.0);
    } else {
        ONNXL_SIMD for (ptrdiff_t c = 0; c < C; c++)
            out[c * ocs] = a * e[c] - b * ((T)(w ? w[c] : 1.0) * (ta * q[c * qcs] + tb));
    }
}

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
ONNXL_INLINE void ONNXL_FN(tile_hard_body)(ptrdiff_t L, const T *x, ptrdiff_t cs,
        const int64_t *restrict tt, const unsigned char *restrict cnt,
        const double *restrict lse, const double *w, double qa, double qb, double W,
        const double *restrict acc, double scale, const T *restrict s, double *restrict lo,
        T *restrict a, T *restrict b, double *restrict fix, const int HAS_LSE,
        const int HAS_W, const int HAS_EPS, const int WG) {
    ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {
        const ptrdiff_t t = (ptrdiff_t)tt[i];
        const double li = HAS_LSE ? lse[i] : 0.0;
        const double wt = HAS_W ? w[t] : 1.0;
        double coef;
        double l = onnxl_ce_index(li, (double)x[t * cs + i], wt, HAS_EPS, qa, qb, W,
                                  HAS_EPS ? acc[i] : 0.0, &coef);
        const int ok = cnt[i] != 0;
        l = ok ? l : 0.0;
        lo[i] = l;
        if (WG) {
            a[i] = ok ? (HAS_LSE ? (T)(scale * coef / (double)s[i]) : (T)0) : (T)0;
            b[i] = ok ? (T)(scale * qb) : (T)0;
            fix[i] = ok ? onnxl_ce_index_fix(scale, qa, wt) : 0.0;
        }
    }
}
/* The losses go to lo (L doubles of scratch) and are summed in a loop of their own (see
 * ONNXL_CHUNK's note). */
static ONNXL_CLONES double ONNXL_FN(tile_hard)(ptrdiff_t L, const T *x, ptrdiff_t cs,
        const int64_t *tt, const unsigned char *cnt, const double *lse, const double *w,
        double qa, double qb, double W, const double *acc, double scale, const T *s,
        double *lo, T *a, T *b, double *fix) {
    const int wg = a != NULL;
    /* the common cases get a loop of their own; the rest share the general one */
    if (!w && !acc && lse && !wg)
        ONNXL_FN(tile_hard_body)(L, x, cs, tt, cnt, lse, w, qa, qb, W, acc, scale, s, lo,
                             a, b, fix, 1, 0, 0, 0);
    else if (!w && !acc && lse && wg)
        ONNXL_FN(tile_hard_body)(L, x, cs, tt, cnt, lse, w, qa, qb, W, acc, scale, s, lo,
                             a, b, fix, 1, 0, 0, 1);
    else if (!w && !acc && !lse && !wg)
        ONNXL_FN(tile_hard_body)(L, x, cs, tt, cnt, lse, w, qa, qb, W, acc, scale, s, lo,
                             a, b, fix, 0, 0, 0, 0);
    else if (wg)
        ONNXL_FN(tile_hard_body)(L, x, cs, tt, cnt, lse, w, qa, qb, W, acc, scale, s, lo,
                             a, b, fix, lse != NULL, w != NULL, acc != NULL, 1);
    else
        ONNXL_FN(tile_hard_body)(L, x, cs, tt, cnt, lse, w, qa, qb, W, acc, scale, s, lo, a, b,
                             fix, lse != NULL, w != NULL, acc != NULL, 0);
    double total = 0;
    _Pragma("omp simd reduction(+:total)") for (ptrdiff_t i = 0; i < L; i++) total += lo[i];
    return total;
}

/* Softmax focal loss of a tile with class-index targets, vectorised over positions:
 *   nll_i = lse_i - x[t_i, i],  loss_i = w_t (1 - p_t)^gamma nll_i   (w = alpha, or none)
 * and, with a gradient (a != NULL, gi = scale), CE's form: a_i = gi w_t coef_i / s_i,
 * b_i = 0, fix_i = gi w_t coef_i (coef from focal_terms).  Not counted: 0.  nll, qg and
 * coef are scratch of L doubles; coef may be fix itself (read before written, per i). */
static ONNXL_CLONES double ONNXL_FN(tile_focal)(ptrdiff_t L, const T *x, ptrdiff_t cs,
        const int64_t *restrict tt, const unsigned char *restrict cnt,
        const double *restrict lse, const double *w, double gamma, double scale,
        const T *restrict s, double *restrict nll, double *restrict qg, double *coef,
        T *restrict a, T *restrict b, double *fix) {
    ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++)
        nll[i] = cnt[i] ? lse[i] - (double)x[(ptrdiff_t)tt[i] * cs + i] : 0.0;
    focal_terms(L, nll, gamma, qg, coef);
    ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {
        const double wt = w ? w[tt[i]] : 1.0;
        qg[i] = cnt[i] != 0 ? onnxl_focal_index(wt, qg[i], nll[i]) : 0.0;      /* qg becomes the loss */
    }
    double total = 0;                           /* summed apart: see ONNXL_CHUNK's note */
    _Pragma("omp simd reduction(+:total)") for (ptrdiff_t i = 0; i < L; i++) total += qg[i];
    if (a) {
        ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {
            const double wt = w ? w[tt[i]] : 1.0;
            const int ok = cnt[i] != 0;
            const double g = onnxl_focal_index_fix(scale, wt, coef[i]);
            a[i] = ok ? (T)(g / (double)s[i]) : (T)0;
            b[i] = (T)0;
            fix[i] = ok ? g : 0.0;
        }
    }
    return total;
}
