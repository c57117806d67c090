/* Hot loops of the elementwise (sigmoid / probability) losses, in C so the math vectorises.
 *
 * Every array here is contiguous over the L elements of one run: the Cython driver gathers
 * strided or broadcast operands (pos_weight of shape (C, 1, 1), masks, scalar grad_output)
 * into per-thread buffers first, so one simple loop per loss serves every layout.
 *
 *   bce_prob:    l = w [ (y - 1) max(log(1 - p), -100) - y max(log p, -100) ]   (PyTorch;
 *                its epsilon below is the float 1e-12f, also for double)
 *                dl/dp = w (p - y) / max(p (1 - p), 1e-12)                    (PyTorch's)
 *   bce_logits:  l = w [ (1 - y) x + lw softplus(-x) ],  lw = 1 + (pw - 1) y
 *                dl/dx = w (lw sigmoid(x) - pw y)
 *   focal:       torchvision: ce = bce_logits(x, y), q = 1 - p_t = s + y - 2 s y,
 *                ft = q^gamma (or (q / thr)^gamma, and 1 where p_t < thr: smp's
 *                reduced_threshold), at = alpha y + (1 - alpha)(1 - y) or 1 (alpha < 0),
 *                l = at ft ce; dl/dx = at (dft ce + ft (s - y)).
 *                dft is taken as gamma q^gamma (dq / q) with dq/dx = s (1 - s)(1 - 2y): finite
 *                for every gamma >= 0, and 0 where q == 0 (saturated logits), its limit.
 *
 * softplus(-x) = max(-x, 0) + log1p(exp(-|x|)) is stable for any x; +-inf logits give the
 * right limits.  Per-element math in T; sums over elements in double (simd reductions with
 * a fixed lane order for a given binary, so results do not depend on the thread count).
 */
#ifndef ONNXLOSSES_SIGMOID_LOOPS_H
#define ONNXLOSSES_SIGMOID_LOOPS_H
#include "kernel_common.h"
#include "exp_nonpositive.h"
#include "log1p_unit.h"
#include "log1p_f64.h"

/* The kernels' own log1p, only ever of -p in [-1, 0] (LOG1P_NEG) and of exp(-|x|) in
 * [0, 1] (LOG1P_UNIT), and in float their own exp (only ever of -|x|). */
#define T float
#define SFX f32
#define EXP onnxl_exp_nonpos
#define LOG logf
#define LOG1P_NEG onnxl_log1p_negunit
#define LOG1P_UNIT onnxl_log1p_unit
#define POW powf
#include "sigmoid_loops_typed.h"
#undef T
#undef SFX
#undef EXP
#undef LOG
#undef LOG1P_NEG
#undef LOG1P_UNIT
#undef POW

#define T double
#define SFX f64
#define EXP exp
#define LOG log
#define LOG1P_NEG onnxl_log1p_f64
#define LOG1P_UNIT onnxl_log1p_f64
#define POW pow
#include "sigmoid_loops_typed.h"
#undef T
#undef SFX
#undef EXP
#undef LOG
#undef LOG1P_NEG
#undef LOG1P_UNIT
#undef POW

#endif
