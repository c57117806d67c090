"""A softmax loss and a Dice-family loss on the same logits, in the Dice kernel's two passes.

    L = w_s L_s(x, t) + w_d L_d(x, t)

with L_s cross-entropy (class weights, label smoothing) or the softmax focal loss, and L_d a
Dice-family loss over the softmax of the same logits, both on class indices and counting the
same positions.  Both exponentiate every logit; evaluated apart they read the logits three
times for a value and gradient (the Dice statistics, the Dice gradient, cross-entropy's one
pass) and add two full-size gradients.  Here the Dice kernel's statistics pass also sums
L_s's per-position losses, and its gradient pass writes
    dL/dx = w_s dL_s/dx + w_d dL_d/dx
in one store per element (pyx/_dice.pyx, dice_loops.h), from the same exponentials.

The pair comes from the registry: a loss whose spec has a `softmax_term` (the term's
description, a SoftmaxTerm) beside one whose spec `adds_softmax_term`.  Whatever does not fit
at call time (class-probability or dense targets, a Dice term that is not over a softmax,
ignore_index values that count different positions, a weight of the wrong length) is left
to the terms' own evaluation, which also reports what is wrong with the arguments.
"""
import numpy as np

from . import _checks
from .stats import mean_value


def pair(terms):
    """(k_softmax, k_dice): the indices of the first pair of terms that may fuse, or None."""
    soft = [k for k, (_, loss) in enumerate(terms)
            if loss.spec.softmax_term is not None and loss.config.get("reduction") != "none"]
    dice = [k for k, (_, loss) in enumerate(terms)
            if loss.spec.adds_softmax_term(loss.config)
            and loss.config.get("reduction") != "none"]
    if not soft or not dice:
        return None
    return soft[0], dice[0]


def _counts_alike(term_ii, dice_ii):
    """Whether the two ignore_index values leave out the same positions: equal, or the Dice
    term ignoring nothing and the softmax term a negative index (no class index is one; a
    negative target is refused by the Dice term's scan either way)."""
    return term_ii == dice_ii or (dice_ii is None and term_ii < 0)


def evaluate(softmax, dice, input, target, mask, want_grad, grad_output, out):
    """(w_s L_s + w_d L_d as float64, their gradient or None), or None where the pair does
    not fuse for these arguments.  softmax, dice: (weight, loss) pairs."""
    (w_s, soft_loss), (w_d, dice_loss) = softmax, dice
    if want_grad:
        _checks.gradient_out(out, input, target)
        g0 = _checks.scalar_grad_output(grad_output, soft_loss.config["reduction"])
    d = dice_loss._prepare(input, target, mask)
    C = d["C"]
    term = soft_loss.spec.softmax_term(soft_loss.config, C)
    act_softmax = d["act"] == type(d["act"]).ONNXL_ACT_SOFTMAX
    if term is None or d["t"] is None or not act_softmax \
            or not _counts_alike(term.ignore_index, d["ii"]) \
            or (term.weight is not None and len(term.weight) != C):
        return None
    dtype = d["xin"].dtype
    options = (term.weight, term.label_smoothing, term.focal_gamma)
    stats, _, term_sum = dice_loss._statistics(d, options + (0.0,))

    # the softmax term's value, as its own evaluation gives it: the mean over the counted
    # positions' weight (sum_c w_c n_c, n_c = T: the counted positions of class c), their
    # number, or the number of their elements (times C)
    counted = stats[..., 2].sum(axis=0)
    if term.mean_over == "weight" and term.weight is not None:
        denom = float(np.dot(term.weight, counted))
    else:
        denom = float(counted.sum()) * (C if term.mean_over == "elements" else 1)
    soft_value = dtype.type(mean_value({"loss": term_sum, "weight": denom}, term.reduction))

    if not want_grad:
        dice_value, _, _ = dice_loss._reduce(stats, False, None)
        return _weighted(w_s, soft_value, w_d, dice_value, dtype), None
    dice_value, dI, dP = dice_loss._reduce(stats, True, np.float64(g0 * w_d))
    go = np.float64(g0 * w_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = go / np.float64(denom) if term.reduction == "mean" else go
    grad = dice_loss._gradient(d, dI, dP, input, out, options + (float(scale),))
    return _weighted(w_s, soft_value, w_d, dice_value, dtype), grad


def _weighted(w_s, soft_value, w_d, dice_value, dtype):
    """w_s L_s + w_d L_d in float64 from the terms' values in the input's type, as the
    combined loss adds any two terms."""
    return w_s * np.float64(soft_value) + w_d * np.float64(dtype.type(dice_value))
