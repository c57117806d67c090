"""Binary cross-entropy on probabilities and on logits, with PyTorch's semantics."""
from __future__ import annotations

import numpy as np

from . import _boundary, _checks
from ._base import Loss
from ._elementwise_call import (BCE, BCE_LOGITS, check_range, compute_dtype, finish_grad,
                                operand_walk, prepare_out, reduce_value, run,
                                scalar_or_array_grad_output)
from ._layout import exact_copy, remember, small
from ._spec import Example, LossSpec, Param, elements
from ._types import ArrayLike, OptionalArray, Reduction, Value


def _optional_array(name, value):
    """None, or a real array (any shape broadcasting to the input's) of finite values >= 0,
    kept as a read-only float64 copy."""
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real array, got dtype {arr.dtype}")
    arr = np.array(arr, dtype=np.float64, order="C")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        i = np.unravel_index(int(np.flatnonzero(bad)[0]), arr.shape)
        where = "" if arr.ndim == 0 else f" at index {i[0] if arr.ndim == 1 else i}"
        raise ValueError(f"{name} must be finite and >= 0, got {float(arr[i])!r}{where}")
    arr.flags.writeable = False
    return arr


_REDUCTION = Param("reduction", "mean", _checks.reduction, "'none', 'mean' or 'sum'")
# elementwise on a target of the input's shape, no class axis, no mask (as PyTorch's)
_ELEMENTWISE = dict(targets=("dense",), class_axis=lambda config, dense: None,
                    loss_shape=elements, mask_over="elements", takes_mask=False,
                    local=lambda config: True)
_WEIGHT = Param("weight", None, _optional_array,
                "rescales each element's loss; broadcast to the input's shape")

BINARY_CROSS_ENTROPY = LossSpec(
    "binary_cross_entropy", (_WEIGHT, _REDUCTION),
    formula="""
    l = -w [ y max(log p, -100) + (1 - y) max(log(1 - p), -100) ]
    mean divides by the number of elements (not by the weights).
    """,
    **_ELEMENTWISE, emit="_elementwise:emit_bce", input="probabilities",
    reference="bce:bce", torch_reference="pytorch:bce", torch_has_loss=True,
    examples=(Example(targets="dense"),))

BINARY_CROSS_ENTROPY_WITH_LOGITS = LossSpec(
    "binary_cross_entropy_with_logits",
    (_WEIGHT, Param("pos_weight", None, _optional_array,
                    "weight of the positive term; broadcast to the input's shape"), _REDUCTION),
    formula="""
    l = w [ (1 - y) x + (1 + (pw - 1) y) softplus(-x) ],  softplus(-x) = max(-x, 0) + log1p(exp(-|x|))
    mean divides by the number of elements.
    """,
    **_ELEMENTWISE, emit="_elementwise:emit_bce_logits",
    reference="bce:bce_with_logits", torch_reference="pytorch:bce", torch_has_loss=True,
    examples=(Example("pos_weight", dict(pos_weight=[2.0], reduction="sum"), "dense"),))


class _ElementwiseBCE(Loss):
    mode = None

    def _evaluate(self, input, target, mask, want_grad, grad_output, out, total=None,
                  stats_only=False):
        if mask is not None:
            raise TypeError(f"{type(self).__name__} takes no mask (PyTorch's has none); "
                            "use weight=mask.astype(float)")
        cfg = self._config
        reduction = cfg["reduction"]
        key = None
        if grad_output is None and total is None and not stats_only:
            header = _boundary.header_key(input, target, out)
            if header is not None:
                # the weights by identity: the plan holds them, so no other array can
                # have their id while it is remembered
                key = (header, self.mode, want_grad, reduction, id(cfg["weight"]),
                       id(cfg.get("pos_weight")))
                plan = _plans.get(key)
                if plan is not None:
                    # the header checks passed when the plan was made: the values' range
                    # and where out is are checked again, in the same order
                    if self.mode == BCE:
                        check_range("input", input)
                        check_range("target", target)
                    grad = None
                    if want_grad:
                        if out is not None:
                            _checks.gradient_out_memory(out, input, target)
                        grad = out if plan.direct else np.empty_like(input)
                    total_sum, _, lo = run(
                        self.mode, input, y=target, weight=plan.weight,
                        pos_weight=plan.pos_weight, grad_output=plan.grad_output,
                        loss_out=reduction == "none", grad=grad, layout=plan.layout)
                    return _finish(total_sum, input.size, reduction, lo, input.dtype, grad,
                                   out, want_grad)
        xin = _checks.float_array("input", input)
        x = exact_copy(xin.astype(compute_dtype(xin), copy=False))
        y = _checks.float_array("target", target)
        if y.shape != x.shape:
            raise ValueError(f"target must have the input's shape {x.shape}, got {y.shape}")
        y = exact_copy(y.astype(x.dtype, copy=False))
        if self.mode == BCE:
            check_range("input", x)
            check_range("target", y)
        ones = np.broadcast_to(np.ones((), x.dtype), x.shape)
        w = _checks.broadcast_to("weight", cfg["weight"], x.shape, x.dtype) \
            if cfg["weight"] is not None else ones
        pw = None
        if self.mode == BCE_LOGITS:
            if cfg["weight"] is None and cfg["pos_weight"] is None:
                w = None     # neither: the kernel's plain loop (lw = 1, nothing to read)
            else:
                pw = _checks.broadcast_to("pos_weight", cfg["pos_weight"], x.shape, x.dtype) \
                    if cfg["pos_weight"] is not None else ones
        if stats_only:
            total_sum, _, _ = run(self.mode, x, y=y, weight=w, pos_weight=pw)
            return {"loss": total_sum, "weight": float(x.size)}
        n = x.size if total is None else float(total.parts["weight"])
        go = grad = None
        if want_grad:
            scale = 1.0 / n if reduction == "mean" and n else 1.0
            go = scalar_or_array_grad_output(grad_output, reduction, x.shape, x.dtype, scale)
            grad = prepare_out(out, input, x, target, reads=(go,))
        total_sum, _, lo = run(self.mode, x, y=y, weight=w, pos_weight=pw, grad_output=go,
                               loss_out=reduction == "none", grad=grad)
        if key is not None and x is input and y is target:
            layout = operand_walk(x, y, None, None, w, pw, None, go, lo, grad) \
                if x.size else None
            if small(layout):
                remember(_plans, key, _Plan(w, pw, go, grad is not None and grad is out,
                                            layout, (cfg["weight"], cfg.get("pos_weight"))),
                         PLAN_CACHE_SIZE)
        return _finish(total_sum, n, reduction, lo, xin.dtype, grad, out, want_grad,
                       None if total is None else xin.dtype.type(total.value()))


class _Plan:
    """What a call decided from its arrays' headers and the configuration: the broadcast
    weights and gradient factor (read-only views), whether the gradient is written into
    out, the operands' walk.  `keep` holds the configuration's arrays its key names."""

    __slots__ = ("weight", "pos_weight", "grad_output", "direct", "layout", "keep")

    def __init__(self, weight, pos_weight, grad_output, direct, layout, keep):
        self.weight, self.pos_weight, self.grad_output = weight, pos_weight, grad_output
        self.direct, self.layout, self.keep = direct, layout, keep


# Plans of calls whose arrays are used as they are (plain ndarrays of the compute dtype,
# walkable, no grad_output, no total), by header key, mode, reduction and the weights.
PLAN_CACHE_SIZE = 64
_plans = {}


def _finish(total_sum, n, reduction, lo, input_dtype, grad, out, want_grad, value=None):
    """(value, grad) as the caller gets them; `value` when it is not the reduction's (a
    total's)."""
    if value is None:
        value = reduce_value(total_sum, n, reduction, lo, input_dtype)
    if not want_grad:
        return value, None
    if reduction == "mean" and n == 0:
        grad.fill(0)
    return value, finish_grad(grad, out, input_dtype)


class BCELoss(_ElementwiseBCE):
    """Binary cross-entropy of probabilities, as ``torch.nn.BCELoss``.

    Parameters
    ----------
    weight : array, optional
        Broadcast to the input's shape; rescales each element's loss.
    reduction : {"mean", "sum", "none"}, default "mean"

    ``input`` holds probabilities in [0, 1] (anything else raises, naming how many and one
    of them; NaN passes through as NaN), ``target`` the same shape, values in [0, 1]
    (soft labels allowed).

    Notes
    -----
    ``l = -w [y max(log p, -100) + (1 - y) max(log(1 - p), -100)]`` (PyTorch's log clamp);
    gradient ``w (p - y) / max(p (1 - p), 1e-12)``.  "mean" divides by the number of
    elements.

    Examples
    --------
    >>> import numpy as np
    >>> from onnxlosses import BCELoss
    >>> round(float(BCELoss()(np.array([0.8, 0.4]), np.array([1.0, 0.0]))), 4)
    0.367
    """

    spec = BINARY_CROSS_ENTROPY
    mode = BCE

    def __init__(self, *, weight: OptionalArray = None, reduction: Reduction = "mean") -> None:
        super().__init__(weight=weight, reduction=reduction)


class BCEWithLogitsLoss(_ElementwiseBCE):
    """Binary cross-entropy of logits, as ``torch.nn.BCEWithLogitsLoss``.

    Parameters
    ----------
    weight : array, optional
        Broadcast to the input's shape.
    pos_weight : array, optional
        Weight of the positive term, broadcast to the input's shape (for (N, C, H, W) logits
        give it shape (C, 1, 1), as in PyTorch).
    reduction : {"mean", "sum", "none"}, default "mean"

    Notes
    -----
    ``l = w [(1 - y) x + lw softplus(-x)]`` with ``lw = 1 + (pw - 1) y`` and the stable
    ``softplus(-x) = max(-x, 0) + log1p(exp(-|x|))``; gradient ``w (lw sigmoid(x) - pw y)``.
    "mean" divides by the number of elements.

    Examples
    --------
    >>> import numpy as np
    >>> from onnxlosses import BCEWithLogitsLoss
    >>> round(float(BCEWithLogitsLoss()(np.array([0.0]), np.array([1.0]))), 4)
    0.6931
    """

    spec = BINARY_CROSS_ENTROPY_WITH_LOGITS
    mode = BCE_LOGITS

    def __init__(self, *, weight: OptionalArray = None, pos_weight: OptionalArray = None,
                 reduction: Reduction = "mean") -> None:
        super().__init__(weight=weight, pos_weight=pos_weight, reduction=reduction)


def binary_cross_entropy(input: ArrayLike, target: ArrayLike, weight: OptionalArray = None,
                         reduction: Reduction = "mean") -> Value:
    """As ``torch.nn.functional.binary_cross_entropy``; see BCELoss."""
    return BCELoss(weight=weight, reduction=reduction)(input, target)


def binary_cross_entropy_with_logits(input: ArrayLike, target: ArrayLike,
                                     weight: OptionalArray = None,
                                     pos_weight: OptionalArray = None,
                                     reduction: Reduction = "mean") -> Value:
    """As ``torch.nn.functional.binary_cross_entropy_with_logits``; see BCEWithLogitsLoss."""
    return BCEWithLogitsLoss(weight=weight, pos_weight=pos_weight, reduction=reduction)(
        input, target)
