/* The target loops of targets.h, written once for every element type.
 *
 * Included by targets.h once per type, with IT (the target's integer type), SFX (u8, i16,
 * i32, i64), IMIN and IMAX (IT's range) defined
 * (ONNXL_FN(name) is name_SFX, see kernel_common.h): no include guard, on purpose. */

/* Over n positions (target stride ts; mask mk with stride ms, or NULL): *count counted
 * targets in range, *bad counted ones outside [0, C), *first_bad the first of those (0 if
 * none), *wsum the sum of w[t] over the counted in-range ones (their count when w == NULL).
 * ignore_index ii applies only when use_ii (None has no value to spare in int64).
 * C >= 1, n < 2^31 (the callers pass tiles). */
static ONNXL_CLONES void ONNXL_FN(targets_scan)(const IT *t, ptrdiff_t ts,
        const unsigned char *mk, ptrdiff_t ms, ptrdiff_t n, int use_ii, int64_t ii,
        int64_t C, const double *w, int64_t *count, int64_t *bad, int64_t *first_bad,
        double *wsum) {
    const int has_ii = use_ii && ii >= (int64_t)(IMIN) && ii <= (int64_t)(IMAX);
    const IT iv = has_ii ? (IT)ii : (IT)0;
    const IT top = C - 1 > (int64_t)(IMAX) ? (IT)(IMAX) : (IT)(C - 1);
    int nc = 0, nb = 0;
    double ws = 0;
    if (ts == 1 && (!mk || ms == 1) && !w) {
        /* the common case, in the target's width: counts only */
        _Pragma("omp simd reduction(+:nc, nb)") for (ptrdiff_t i = 0; i < n; i++) {
            const IT v = t[i];
            const int ok = (!has_ii || v != iv) & (mk ? mk[i] != 0 : 1);
            const int in = (v >= (IT)0) & (v <= top);
            nc += ok & in;
            nb += ok & !in;
        }
        ws = (double)nc;
    } else {
        for (ptrdiff_t i = 0; i < n; i++) {
            const IT v = t[i * ts];
            if ((has_ii && v == iv) || (mk && mk[i * ms] == 0)) continue;
            if (v >= (IT)0 && v <= top) {
                nc++;
                ws += w ? w[(ptrdiff_t)v] : 1.0;
            } else {
                nb++;
            }
        }
    }
    *first_bad = 0;
    if (nb) {   /* rare (it raises): find the first one again, plainly */
        for (ptrdiff_t i = 0; i < n; i++) {
            const IT v = t[i * ts];
            if ((has_ii && v == iv) || (mk && mk[i * ms] == 0)) continue;
            if (!(v >= (IT)0 && v <= top)) { *first_bad = (int64_t)v; break; }
        }
    }
    *count = nc;
    *bad = nb;
    *wsum = ws;
}
/* A tile of L positions: cnt[i] = counted, tt[i] = its class index (0 where not counted,
 * so that gathers by tt never leave the tile's classes).  ignore_index ii applies only
 * when use_ii. */
static ONNXL_CLONES void ONNXL_FN(targets_tile)(const IT *t, ptrdiff_t ts,
        const unsigned char *mk, ptrdiff_t ms, ptrdiff_t L, int use_ii, int64_t ii,
        int64_t *restrict tt, unsigned char *restrict cnt) {
    const int has_ii = use_ii && ii >= (int64_t)(IMIN) && ii <= (int64_t)(IMAX);
    const IT iv = has_ii ? (IT)ii : (IT)0;
    if (ts == 1 && (!mk || ms == 1)) {
        ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {
            const IT v = t[i];
            const int ok = (!has_ii || v != iv) & (mk ? mk[i] != 0 : 1);
            tt[i] = ok ? (int64_t)v : 0;
            cnt[i] = (unsigned char)ok;
        }
    } else {
        for (ptrdiff_t i = 0; i < L; i++) {
            const IT v = t[i * ts];
            const int ok = (!has_ii || v != iv) && (!mk || mk[i * ms] != 0);
            tt[i] = ok ? (int64_t)v : 0;
            cnt[i] = (unsigned char)ok;
        }
    }
}
