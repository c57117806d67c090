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
#include "kernel_common.h"

#define IT uint8_t
#define SFX u8
#define IMIN 0
#define IMAX UINT8_MAX
#include "targets_typed.h"
#undef IT
#undef SFX
#undef IMIN
#undef IMAX

#define IT int16_t
#define SFX i16
#define IMIN INT16_MIN
#define IMAX INT16_MAX
#include "targets_typed.h"
#undef IT
#undef SFX
#undef IMIN
#undef IMAX

#define IT int32_t
#define SFX i32
#define IMIN INT32_MIN
#define IMAX INT32_MAX
#include "targets_typed.h"
#undef IT
#undef SFX
#undef IMIN
#undef IMAX

#define IT int64_t
#define SFX i64
#define IMIN INT64_MIN
#define IMAX INT64_MAX
#include "targets_typed.h"
#undef IT
#undef SFX
#undef IMIN
#undef IMAX

/* The kernels' entry points: a target array of any of the four widths (1, 2, 4 or 8 bytes:
 * uint8, int16, int32, int64), `t` pointing at element `at` of it.  The one place the
 * width is dispatched on, so that no kernel is compiled once per target type. */
static inline void onnxl_targets_tile(const void *t, int width, ptrdiff_t at, ptrdiff_t ts,
                                      const unsigned char *mk, ptrdiff_t ms, ptrdiff_t L,
                                      int use_ii, int64_t ii, int64_t *tt,
                                      unsigned char *cnt) {
    switch (width) {
    case 1: targets_tile_u8((const uint8_t *)t + at, ts, mk, ms, L, use_ii, ii, tt, cnt); break;
    case 2: targets_tile_i16((const int16_t *)t + at, ts, mk, ms, L, use_ii, ii, tt, cnt); break;
    case 4: targets_tile_i32((const int32_t *)t + at, ts, mk, ms, L, use_ii, ii, tt, cnt); break;
    default: targets_tile_i64((const int64_t *)t + at, ts, mk, ms, L, use_ii, ii, tt, cnt);
    }
}
static inline void onnxl_targets_scan(const void *t, int width, ptrdiff_t at, ptrdiff_t ts,
                                      const unsigned char *mk, ptrdiff_t ms, ptrdiff_t n,
                                      int use_ii, int64_t ii, int64_t C, const double *w,
                                      int64_t *count, int64_t *bad, int64_t *first_bad,
                                      double *wsum) {
    switch (width) {
    case 1: targets_scan_u8((const uint8_t *)t + at, ts, mk, ms, n, use_ii, ii, C, w, count,
                            bad, first_bad, wsum); break;
    case 2: targets_scan_i16((const int16_t *)t + at, ts, mk, ms, n, use_ii, ii, C, w, count,
                             bad, first_bad, wsum); break;
    case 4: targets_scan_i32((const int32_t *)t + at, ts, mk, ms, n, use_ii, ii, C, w, count,
                             bad, first_bad, wsum); break;
    default: targets_scan_i64((const int64_t *)t + at, ts, mk, ms, n, use_ii, ii, C, w, count,
                              bad, first_bad, wsum);
    }
}

#endif
