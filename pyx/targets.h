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

#endif
