/* Hot loops of the Dice-family kernel (see _dice.pyx), in C so that they vectorise.
 * A tile is a [C][L] block of probabilities `prob` (class stride L), the counted flags
 * keep[L] (1 or 0 in the tile's float type: a full-width mask lets the loops vectorise with
 * plain selects, where byte flags made gcc fall back to scalar code), and either integer
 * targets tt[L] or a dense target block y ([C][L], contiguous).
 * The activations write 0 at uncounted positions (selected, never multiplied by 0: NaN
 * there must not leak), so the statistics sum prob without a select.
 */
#ifndef ONNXLOSSES_DICE_LOOPS_H
#define ONNXLOSSES_DICE_LOOPS_H
#include "softmax_loops.h"

/* The activation that turns the input into probabilities. */
enum onnxl_activation {
    ONNXL_ACT_IDENTITY = 0,    /* the input is probabilities already */
    ONNXL_ACT_SOFTMAX = 1,     /* over the classes (multiclass from logits) */
    ONNXL_ACT_SIGMOID = 2      /* per class (binary, multilabel from logits) */
};

#define T float
#define SFX f32
#include "dice_loops_typed.h"
#undef T
#undef SFX

#define T double
#define SFX f64
#include "dice_loops_typed.h"
#undef T
#undef SFX

#endif
