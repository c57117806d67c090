/* The elementwise losses' loops of sigmoid_loops.h, written once for every element type.
 *
 * Included by sigmoid_loops.h once per type, with T, SFX and the math
 * functions of that type: EXP, LOG, LOG1P_NEG, LOG1P_UNIT, POW defined
 * (ONNXL_FN(name) is name_SFX, see kernel_common.h): no include guard, on purpose. */

/* gcc does not if-convert a loop that also calls a vector function, and a run-time `if`
 * around a store stops vectorisation too.  So each loss works in chunks of ONNXL_CHUNK
 * elements: first loops that only call exp/log1p/log/pow into chunk buffers, then one loop
 * of plain algebra and selects; and the body takes compile-time flags WL (write losses) and
 * WG (write gradient), inlined into four variants. */


/* l = log1p(-p) for a chunk, a function of its own for the own log1p's fused multiply-adds
 * (ONNXL_CONTRACT; see softplus_parts below). */
static ONNXL_CLONES ONNXL_CONTRACT void ONNXL_FN(log1p_neg)(ptrdiff_t n, const T *restrict p,
                                                      T *restrict l) {
    ONNXL_SIMD for (ptrdiff_t i = 0; i < n; i++) l[i] = LOG1P_NEG(-p[i]);
}
ONNXL_INLINE double ONNXL_FN(bce_prob_body)(ptrdiff_t L, const T *restrict p,
                                        const T *restrict y, const T *restrict w,
                                        const T *restrict go, T *restrict lo,
                                        T *restrict g, const int WL, const int WG) {
    double acc = 0;
    T lp[ONNXL_CHUNK], l1p[ONNXL_CHUNK];
    for (ptrdiff_t c0 = 0; c0 < L; c0 += ONNXL_CHUNK) {
        const ptrdiff_t n = L - c0 < ONNXL_CHUNK ? L - c0 : ONNXL_CHUNK;
        const T *pc = p + c0, *yc = y + c0, *wc = w + c0;
        ONNXL_SIMD for (ptrdiff_t i = 0; i < n; i++) lp[i] = LOG(pc[i]);
        ONNXL_FN(log1p_neg)(n, pc, l1p);
        _Pragma("omp simd reduction(+:acc)") for (ptrdiff_t i = 0; i < n; i++) {
            T a = lp[i] < (T)-100 ? (T)-100 : lp[i];           /* the clamp keeps NaN */
            T b = l1p[i] < (T)-100 ? (T)-100 : l1p[i];
            T l = wc[i] * ((yc[i] - (T)1) * b - yc[i] * a);
            acc += (double)l;
            if (WL) lo[c0 + i] = l;
            if (WG) {
                T den = ((T)1 - pc[i]) * pc[i];
                den = den > (T)1e-12f ? den : (T)1e-12f;
                g[c0 + i] = go[c0 + i] * wc[i] * (pc[i] - yc[i]) / den;
            }
        }
    }
    return acc;
}
static ONNXL_CLONES void ONNXL_FN(bce_prob)(ptrdiff_t L, const T *p, const T *y, const T *w,
                                        const T *go, T *lo, T *g, double *sum) {
    double acc;
    if (lo && g) acc = ONNXL_FN(bce_prob_body)(L, p, y, w, go, lo, g, 1, 1);
    else if (lo) acc = ONNXL_FN(bce_prob_body)(L, p, y, w, go, lo, g, 1, 0);
    else if (g) acc = ONNXL_FN(bce_prob_body)(L, p, y, w, go, lo, g, 0, 1);
    else acc = ONNXL_FN(bce_prob_body)(L, p, y, w, go, lo, g, 0, 0);
    *sum = acc;
}
/* e = exp(-|x|) and l = log1p(e) for a chunk: the transcendental half of softplus.  A
 * function of its own so that the float forms (the kernels' own exp and log1p, whose
 * arguments here are <= 0 and in [0, 1]) get their fused multiply-adds (ONNXL_CONTRACT)
 * while the loss algebra that calls it keeps one rounding per operation. */
static ONNXL_CLONES ONNXL_CONTRACT void ONNXL_FN(softplus_parts)(ptrdiff_t n, const T *restrict x,
                                                           T *restrict e, T *restrict l) {
    ONNXL_SIMD for (ptrdiff_t i = 0; i < n; i++) e[i] = EXP(-fabs(x[i]));
    ONNXL_SIMD for (ptrdiff_t i = 0; i < n; i++) l[i] = LOG1P_UNIT(e[i]);
}
/* PLAIN: no weight and no pos_weight (w == pw == NULL, the usual call): lw = 1, nothing
 * broadcast to read. */
ONNXL_INLINE double ONNXL_FN(bce_logits_body)(ptrdiff_t L, const T *restrict x,
                                          const T *restrict y, const T *restrict w,
                                          const T *restrict pw, const T *restrict go,
                                          T *restrict lo, T *restrict g, const int WL,
                                          const int WG, const int PLAIN) {
    double acc = 0;
    T e[ONNXL_CHUNK], l1[ONNXL_CHUNK];
    for (ptrdiff_t c0 = 0; c0 < L; c0 += ONNXL_CHUNK) {
        const ptrdiff_t n = L - c0 < ONNXL_CHUNK ? L - c0 : ONNXL_CHUNK;
        const T *xc = x + c0, *yc = y + c0;
        const T *wc = PLAIN ? NULL : w + c0, *pwc = PLAIN ? NULL : pw + c0;
        ONNXL_FN(softplus_parts)(n, xc, e, l1);
        _Pragma("omp simd reduction(+:acc)") for (ptrdiff_t i = 0; i < n; i++) {
            T xi = xc[i];
            T spn = (xi < 0 ? -xi : (T)0) + l1[i];                     /* softplus(-x) */
            T lw = PLAIN ? (T)1 : (T)1 + (pwc[i] - (T)1) * yc[i];
            T l = ((T)1 - yc[i]) * xi + lw * spn;
            if (!PLAIN) l = wc[i] * l;
            acc += (double)l;
            if (WL) lo[c0 + i] = l;
            if (WG) {
                T s = (xi >= 0 ? (T)1 : e[i]) / ((T)1 + e[i]);      /* one division */
                g[c0 + i] = PLAIN ? go[c0 + i] * (s - yc[i])
                                  : go[c0 + i] * wc[i] * (lw * s - pwc[i] * yc[i]);
            }
        }
    }
    return acc;
}
/* w and pw may both be NULL (absent: 1); otherwise both are given. */
static ONNXL_CLONES void ONNXL_FN(bce_logits)(ptrdiff_t L, const T *x, const T *y, const T *w,
                                          const T *pw, const T *go, T *lo, T *g,
                                          double *sum) {
    double acc;
    const int wl = lo != NULL, wg = g != NULL;
    if (w == NULL) {
        if (wl && wg) acc = ONNXL_FN(bce_logits_body)(L, x, y, w, pw, go, lo, g, 1, 1, 1);
        else if (wl) acc = ONNXL_FN(bce_logits_body)(L, x, y, w, pw, go, lo, g, 1, 0, 1);
        else if (wg) acc = ONNXL_FN(bce_logits_body)(L, x, y, w, pw, go, lo, g, 0, 1, 1);
        else acc = ONNXL_FN(bce_logits_body)(L, x, y, w, pw, go, lo, g, 0, 0, 1);
    } else {
        if (wl && wg) acc = ONNXL_FN(bce_logits_body)(L, x, y, w, pw, go, lo, g, 1, 1, 0);
        else if (wl) acc = ONNXL_FN(bce_logits_body)(L, x, y, w, pw, go, lo, g, 1, 0, 0);
        else if (wg) acc = ONNXL_FN(bce_logits_body)(L, x, y, w, pw, go, lo, g, 0, 1, 0);
        else acc = ONNXL_FN(bce_logits_body)(L, x, y, w, pw, go, lo, g, 0, 0, 0);
    }
    *sum = acc;
}
/* cnt[i] == 0: not counted (ignored / masked): loss 0, focal term not summed, grad 0.
 * Gradient: g = go * dl/dx + B * dft/dx (B != 0 only for the normalized form, whose
 * denominator is F = sum ft).  sums[0] gets the losses, sums[1] the focal terms. */
ONNXL_INLINE void ONNXL_FN(sigmoid_focal_body)(ptrdiff_t L, T gamma, T alpha, T thr,
                                           const T *restrict x, const T *restrict y,
                                           const unsigned char *restrict cnt,
                                           const T *restrict go, T B, T *restrict lo,
                                           T *restrict g, double *sums, const int WL,
                                           const int WG) {
    double acc = 0, acc_ft = 0;
    const T inv_thr = thr > 0 ? (T)1 / thr : (T)1;
    /* range first: (int)gamma is undefined for gamma >= 2^31 */
    const int n_pow = gamma >= 1 && gamma <= 8 && gamma == (T)(int)gamma ? (int)gamma : 0;
    T e[ONNXL_CHUNK], l1[ONNXL_CHUNK], sg[ONNXL_CHUNK], sgn[ONNXL_CHUNK], r[ONNXL_CHUNK];
    T ftp[ONNXL_CHUNK];
    T lb[ONNXL_CHUNK], fb[ONNXL_CHUNK];
    for (ptrdiff_t c0 = 0; c0 < L; c0 += ONNXL_CHUNK) {
        const ptrdiff_t n = L - c0 < ONNXL_CHUNK ? L - c0 : ONNXL_CHUNK;
        const T *xc = x + c0, *yc = y + c0;
        ONNXL_FN(softplus_parts)(n, xc, e, l1);
        ONNXL_SIMD for (ptrdiff_t i = 0; i < n; i++) {
            /* sigmoid(x) and sigmoid(-x) from one division (the slowest vector op), kept
             * for the loop below; 1 - p_t is formed from them, never by a subtraction that
             * loses it once p_t rounds to 1 (|x| > 17 in float32) */
            const T inv = (T)1 / ((T)1 + e[i]);
            T s = xc[i] >= 0 ? inv : e[i] * inv;
            T sn = xc[i] >= 0 ? e[i] * inv : inv;
            sg[i] = s;
            sgn[i] = sn;
            T q = yc[i] * sn + ((T)1 - yc[i]) * s;                   /* 1 - p_t */
            r[i] = (q > (T)0 ? q : (T)0) * inv_thr;
        }
        if (n_pow == 2) {        /* gamma a small whole number (2 nearly always): no pow */
            ONNXL_SIMD for (ptrdiff_t i = 0; i < n; i++) ftp[i] = r[i] * r[i];
        } else if (n_pow) {
            ONNXL_SIMD for (ptrdiff_t i = 0; i < n; i++) ftp[i] = ONNXL_FN(onnxl_powi)(r[i], n_pow);
        } else {
            ONNXL_SIMD for (ptrdiff_t i = 0; i < n; i++) ftp[i] = POW(r[i], gamma);
        }
        ONNXL_SIMD for (ptrdiff_t i = 0; i < n; i++) {
            T xi = xc[i], yi = yc[i];
            T ce = ((T)1 - yi) * xi + (xi < 0 ? -xi : (T)0) + l1[i];
            T s = sg[i], sn = sgn[i];
            T q = yi * sn + ((T)1 - yi) * s;                         /* 1 - p_t */
            q = q > (T)0 ? q : (T)0;
            T qs = q > (T)0 ? q : (T)1;
            T dq_q = q > (T)0 ? s * sn * ((T)1 - (T)2 * yi) / qs : (T)0;
            T pt = yi * s + ((T)1 - yi) * sn;
            int low = (thr > 0) & (pt < thr);
            T ft = low ? (T)1 : ftp[i];
            T dft = low ? (T)0 : gamma * ft * dq_q;
            T at = alpha >= 0 ? alpha * yi + ((T)1 - alpha) * ((T)1 - yi) : (T)1;
            int c = cnt[c0 + i] != 0;
            T l = c ? at * ft * ce : (T)0;
            lb[i] = l;
            fb[i] = c ? ft : (T)0;
            if (WL) lo[c0 + i] = l;
            if (WG) {
                /* s - y as (1 - y) s - y sigmoid(-x): no cancellation where s rounds to 1 */
                T sy = ((T)1 - yi) * s - yi * sn;
                /* a focal term with no slope (gamma = 0, the reduced branch, saturation)
                 * adds nothing, even beside an infinite ce or a NaN normalizer */
                const int slope = dft != (T)0;
                T gi = go[c0 + i] * at * ((slope ? dft * ce : (T)0) + ft * sy) +
                       (slope ? B * dft : (T)0);
                g[c0 + i] = c ? gi : (T)0;
            }
        }
        /* the sums in a loop of their own (see ONNXL_CHUNK's note in softmax_loops.h) */
        _Pragma("omp simd reduction(+:acc, acc_ft)") for (ptrdiff_t i = 0; i < n; i++) {
            acc += (double)lb[i];
            acc_ft += (double)fb[i];
        }
    }
    sums[0] = acc;
    sums[1] = acc_ft;
}
static ONNXL_CLONES void ONNXL_FN(sigmoid_focal)(ptrdiff_t L, T gamma, T alpha, T thr,
                                             const T *x, const T *y,
                                             const unsigned char *cnt, const T *go, T B,
                                             T *lo, T *g, double *sums) {
    if (lo && g) ONNXL_FN(sigmoid_focal_body)(L, gamma, alpha, thr, x, y, cnt, go, B, lo, g,
                                          sums, 1, 1);
    else if (lo) ONNXL_FN(sigmoid_focal_body)(L, gamma, alpha, thr, x, y, cnt, go, B, lo, g,
                                          sums, 1, 0);
    else if (g) ONNXL_FN(sigmoid_focal_body)(L, gamma, alpha, thr, x, y, cnt, go, B, lo, g,
                                         sums, 0, 1);
    else ONNXL_FN(sigmoid_focal_body)(L, gamma, alpha, thr, x, y, cnt, go, B, lo, g, sums, 0, 0);
}

/* How many of L elements at stride s lie outside [lo, hi] (NaN does not count): the range
 * check of BCE's probabilities and targets, vectorised where the run is contiguous. */
static ONNXL_CLONES int64_t ONNXL_FN(count_outside)(const T *p, ptrdiff_t s, ptrdiff_t L,
                                                double lo, double hi) {
    int64_t n = 0;
    const T tlo = (T)lo, thi = (T)hi;
    if (s == 1) {
        _Pragma("omp simd reduction(+:n)") for (ptrdiff_t i = 0; i < L; i++)
            n += (p[i] < tlo) | (p[i] > thi);
    } else {
        for (ptrdiff_t i = 0; i < L; i++) n += (p[i * s] < tlo) | (p[i * s] > thi);
    }
    return n;
}
