/* Loops over integer class targets, for each width they are read in (suffix u8, i16, i32,
 * i64), in C so that they vectorise: the range check before any logit is read, and the
 * per-tile index / counted arrays of the kernels.  Both were scalar Cython loops of about
 * ten instructions a position, a fifth of cross-entropy's instructions and most of NLL's.
 *
 * A target t at a position is counted when the mask (if any) is set there and t differs
 * from ignore_index; a counted target must lie in [0, C).  Comparisons happen in the
 * target's own type: ignore_index is matched only when that type can hold it, and C - 1 is
 * clipped to the type's largest value, so no widening is needed to decide either.
 */
#ifndef ONNXLOSSES_TARGETS_H
#define ONNXLOSSES_TARGETS_H
#include "softmax_loops.h"

#define ONNXL_DEFINE_TARGETS(IT, ISFX, IMIN, IMAX)                                             \
/* Over n positions (target stride ts; mask mk with stride ms, or NULL): *count counted    \
 * targets in range, *bad counted ones outside [0, C), *first_bad the first of those (0 if  \
 * none), *wsum the sum of w[t] over the counted in-range ones (their count when w == NULL). \
 * ignore_index ii applies only when use_ii (None has no value to spare in int64).         \
 * C >= 1, n < 2^31 (the callers pass tiles). */                                             \
static ONNXL_CLONES void targets_scan_##ISFX(const IT *t, ptrdiff_t ts,                      \
        const unsigned char *mk, ptrdiff_t ms, ptrdiff_t n, int use_ii, int64_t ii,          \
        int64_t C, const double *w, int64_t *count, int64_t *bad, int64_t *first_bad,        \
        double *wsum) {                                                                      \
    const int has_ii = use_ii && ii >= (int64_t)(IMIN) && ii <= (int64_t)(IMAX);            \
    const IT iv = has_ii ? (IT)ii : (IT)0;                                                   \
    const IT top = C - 1 > (int64_t)(IMAX) ? (IT)(IMAX) : (IT)(C - 1);                       \
    int nc = 0, nb = 0;                                                                      \
    double ws = 0;                                                                           \
    if (ts == 1 && (!mk || ms == 1) && !w) {                                                 \
        /* the common case, in the target's width: counts only */                            \
        _Pragma("omp simd reduction(+:nc, nb)") for (ptrdiff_t i = 0; i < n; i++) {          \
            const IT v = t[i];                                                               \
            const int ok = (!has_ii || v != iv) & (mk ? mk[i] != 0 : 1);                     \
            const int in = (v >= (IT)0) & (v <= top);                                        \
            nc += ok & in;                                                                   \
            nb += ok & !in;                                                                  \
        }                                                                                    \
        ws = (double)nc;                                                                     \
    } else {                                                                                 \
        for (ptrdiff_t i = 0; i < n; i++) {                                                  \
            const IT v = t[i * ts];                                                          \
            if ((has_ii && v == iv) || (mk && mk[i * ms] == 0)) continue;                    \
            if (v >= (IT)0 && v <= top) {                                                    \
                nc++;                                                                        \
                ws += w ? w[(ptrdiff_t)v] : 1.0;                                             \
            } else {                                                                         \
                nb++;                                                                        \
            }                                                                                \
        }                                                                                    \
    }                                                                                        \
    *first_bad = 0;                                                                          \
    if (nb) {   /* rare (it raises): find the first one again, plainly */                    \
        for (ptrdiff_t i = 0; i < n; i++) {                                                  \
            const IT v = t[i * ts];                                                          \
            if ((has_ii && v == iv) || (mk && mk[i * ms] == 0)) continue;                    \
            if (!(v >= (IT)0 && v <= top)) { *first_bad = (int64_t)v; break; }               \
        }                                                                                    \
    }                                                                                        \
    *count = nc;                                                                             \
    *bad = nb;                                                                               \
    *wsum = ws;                                                                              \
}                                                                                            \
/* A tile of L positions: cnt[i] = counted, tt[i] = its class index (0 where not counted,  \
 * so that gathers by tt never leave the tile's classes). */                                 \
static ONNXL_CLONES void targets_tile_##ISFX(const IT *t, ptrdiff_t ts,                      \
        const unsigned char *mk, ptrdiff_t ms, ptrdiff_t L, int64_t ii,                      \
        int64_t *restrict tt, unsigned char *restrict cnt) {                                 \
    const int has_ii = ii >= (int64_t)(IMIN) && ii <= (int64_t)(IMAX);                      \
    const IT iv = has_ii ? (IT)ii : (IT)0;                                                   \
    if (ts == 1 && (!mk || ms == 1)) {                                                       \
        ONNXL_SIMD for (ptrdiff_t i = 0; i < L; i++) {                                       \
            const IT v = t[i];                                                               \
            const int ok = (!has_ii || v != iv) & (mk ? mk[i] != 0 : 1);                     \
            tt[i] = ok ? (int64_t)v : 0;                                                     \
            cnt[i] = (unsigned char)ok;                                                      \
        }                                                                                    \
    } else {                                                                                 \
        for (ptrdiff_t i = 0; i < L; i++) {                                                  \
            const IT v = t[i * ts];                                                          \
            const int ok = (!has_ii || v != iv) && (!mk || mk[i * ms] != 0);                 \
            tt[i] = ok ? (int64_t)v : 0;                                                     \
            cnt[i] = (unsigned char)ok;                                                      \
        }                                                                                    \
    }                                                                                        \
}

ONNXL_DEFINE_TARGETS(uint8_t, u8, 0, UINT8_MAX)
ONNXL_DEFINE_TARGETS(int16_t, i16, INT16_MIN, INT16_MAX)
ONNXL_DEFINE_TARGETS(int32_t, i32, INT32_MIN, INT32_MAX)
ONNXL_DEFINE_TARGETS(int64_t, i64, INT64_MIN, INT64_MAX)

#endif
