"""Focal losses: softmax (categorical) and sigmoid (torchvision's, with smp's options)."""
from __future__ import annotations

from typing import Optional, Union

import numpy as np

from . import _checks, _target_scan
from ._base import Loss, class_axis_size
from ._elementwise_call import (SIGMOID_FOCAL, compute_dtype, finish_grad, prepare_out,
                                reduce_value, run, scalar_or_array_grad_output)
from ._layout import exact_copy
from ._softmax_ce import evaluate
from ._spec import Example, LossSpec, Param, SoftmaxTerm, elements, per_class
from ._types import ArrayLike, OptionalArray, Reduction, Value

_IGNORE = Param("ignore_index", -100, _checks.integer,
                "index targets equal to it contribute nothing and are not counted")


def _optional_nonnegative(name, value):
    return None if value is None else _checks.nonnegative_real(name, value)


def alpha_per_class(config, C):
    """alpha as per-class weights: None, or float64 (C,) (a number applies to every class;
    _alpha0, where set, replaces class 0's entry, alpha None counting as 1)."""
    alpha, alpha0 = config["alpha"], config["_alpha0"]
    if (alpha is not None and np.ndim(alpha) == 0) or (alpha is None and alpha0 is not None):
        alpha = np.full(C, 1.0 if alpha is None else alpha)
    if alpha0 is not None and C:
        alpha = np.array(alpha, dtype=np.float64)
        alpha[0] = alpha0
    return alpha


def _softmax_term(config, C):
    """The softmax focal loss as a softmax term (reduction "none": none)."""
    if config["reduction"] == "none":
        return None
    return SoftmaxTerm(alpha_per_class(config, C), config["ignore_index"], 0.0,
                       config["gamma"], config["reduction"], config["_mean_over"])


def _sigmoid_targets(config):
    """dense (default) or class indices; a preset's mean over positions (smp's multiclass
    FocalLoss) takes class indices only."""
    return ("index",) if config["_mean_over"] == "positions" else ("dense", "index")


FOCAL = LossSpec(
    "focal_loss",
    (Param("alpha", None, _checks.class_alpha,
           "None, one non-negative number for every class, or one per class"),
     Param("gamma", 2.0, _checks.nonnegative_real, "focusing exponent, >= 0"),
     _IGNORE,
     Param("reduction", "mean", _checks.reduction, "'none', 'mean' or 'sum'"),
     Param("_mean_over", "positions", _checks.choice("positions", "elements"),
           "what reduction 'mean' divides by: the counted positions, or the counted "
           "elements, positions times C (MONAI's use_softmax=True mean over (N, C, d1, ...), "
           "whose entries off the target class are 0)", internal=True),
     Param("_alpha0", None, _optional_nonnegative,
           "class 0's alpha in place of alpha's entry (alpha None counting as 1 for the "
           "others): MONAI's use_softmax=True number alpha, 1 - alpha for the background",
           internal=True)),
    formula="""
    l = -alpha_t (1 - p_t)^gamma log p_t,  log p_t from a stable log-softmax over classes
    mean divides by the number of counted positions.
    """,
    fixed_classes=lambda config: None if np.ndim(config["alpha"]) == 0 else len(config["alpha"]),
    emit="_cross_entropy:emit_focal",
    reference="focal:focal", torch_reference="pytorch:focal", local=lambda config: True,
    softmax_term=_softmax_term,
    examples=(
        Example("", lambda C: dict(alpha=per_class(C), gamma=2.0, ignore_index=255),
                "index255"),
        Example("gamma=0.5 none mask", dict(gamma=0.5, reduction="none"), mask=True),
    ))

SIGMOID_FOCAL_SPEC = LossSpec(
    "sigmoid_focal_loss",
    (Param("alpha", 0.25, _checks.finite_real, "weight of positives; < 0 disables the term"),
     Param("gamma", 2.0, _checks.nonnegative_real, "focusing exponent, >= 0"),
     Param("reduction", "none", _checks.reduction, "'none', 'mean' or 'sum'"),
     _IGNORE,
     Param("normalized", False, _checks.boolean,
           "divide by the sum of the focal terms (smp's normalized=True)"),
     Param("reduced_threshold", None, _checks.threshold,
           "smp's reduced focal loss: focal term ((1 - p_t) / thr)^gamma, 1 where p_t < thr"),
     Param("_mean_over", "elements", _checks.choice("elements", "positions"),
           "what reduction 'mean' divides by: the counted elements, or the counted positions "
           "(N, d1, ...) of class-index targets, so that 'mean' is the sum over classes of "
           "each class's mean (smp's multiclass FocalLoss; MONAI's FocalLoss with "
           "ignore_index), C times the elements' mean.  'positions' takes class indices "
           "only: a dense target, which has no positions apart from its elements, is a "
           "ValueError, whatever the reduction", internal=True)),
    formula="""
    p = sigmoid(x), p_t = p y + (1 - p)(1 - y), ce = BCEWithLogits(x, y)
    l = alpha_t (1 - p_t)^gamma ce,  alpha_t = alpha y + (1 - alpha)(1 - y) (1 when alpha < 0)
    mean divides by the number of counted elements; normalized divides by
    max(sum of focal terms, 1e-6).
    """,
    targets=_sigmoid_targets,
    class_axis=lambda config, dense: None if dense else 1,
    loss_shape=elements,
    mask_over="elements",
    local=lambda config: not config["normalized"],    # normalized: divided by a global sum
    emit="_elementwise:emit_sigmoid_focal",
    reference="focal:sigmoid_focal", torch_reference="pytorch:sigmoid_focal",
    examples=(
        Example("", dict(reduction="mean"), "dense"),
        Example("normalized", dict(normalized=True, reduced_threshold=0.5), "dense"),
        Example("indices", dict(reduction="sum", ignore_index=255), "index255"),
    ))


class FocalLoss(Loss):
    """Softmax (categorical) focal loss over the class axis.

    Parameters
    ----------
    alpha : None, float or array of shape (C,), optional
        Class weight ``alpha_t`` (a number applies to every class).
    gamma : float >= 0, default 2.0
    ignore_index : int, default -100
    reduction : {"mean", "sum", "none"}, default "mean"

    ``input``: logits ``(N, C)`` or ``(N, C, d1, ..., dk)``; ``target``: class indices
    ``(N, d1, ..., dk)`` (uint8/int16/int32/int64); ``mask`` as in CrossEntropyLoss.

    Notes
    -----
    Per counted position ``l = -alpha_t (1 - p_t)^gamma log p_t`` with ``log p_t`` from a
    stable log-softmax; "mean" divides by the number of counted positions (not by alpha),
    NaN when there are none (with a zero gradient); MONAI's ``use_softmax=True`` mean also
    divides by C (``presets.monai.FocalLoss`` builds that).  ``gamma=0`` and
    ``alpha=None`` give cross-entropy.  ``1 - p_t`` is computed as ``-expm1(log p_t)`` and
    the gradient's ``(1 - p_t)^(gamma - 1) log p_t`` term is taken at its limit 0 where
    ``p_t == 1``, so ``gamma < 1`` gives finite gradients at saturated logits.

    Examples
    --------
    >>> import numpy as np
    >>> from onnxlosses import FocalLoss
    >>> x = np.array([[2.0, 0.0, 0.0]])
    >>> round(float(FocalLoss(gamma=0.0)(x, np.array([0]))), 4)  # = cross-entropy
    0.2395
    """

    spec = FOCAL
    _class_count = staticmethod(class_axis_size)

    def __init__(self, *, alpha: Union[None, float, ArrayLike] = None, gamma: float = 2.0,
                 ignore_index: int = -100, reduction: Reduction = "mean") -> None:
        super().__init__(alpha=alpha, gamma=gamma, ignore_index=ignore_index,
                         reduction=reduction)

    def _evaluate(self, input, target, mask, want_grad, grad_output, out, total=None,
                  stats_only=False):
        cfg = self._config
        if np.ndim(input) == 0:
            raise ValueError("input must be (C,), (N, C) or (N, C, d1, ..., dk), got a scalar")
        config = dict(weight=alpha_per_class(cfg, class_axis_size(input)),
                      ignore_index=cfg["ignore_index"], mean_over=cfg["_mean_over"],
                      reduction=cfg["reduction"], label_smoothing=0.0)
        return evaluate(config, input, target, mask, log_probs=False, want_grad=want_grad,
                        grad_output=grad_output, out=out, focal_gamma=cfg["gamma"],
                        total=total, stats_only=stats_only)


class SigmoidFocalLoss(Loss):
    """Sigmoid focal loss: torchvision's ``sigmoid_focal_loss``, with smp's options.

    Parameters
    ----------
    alpha : float, default 0.25
        ``alpha_t = alpha y + (1 - alpha)(1 - y)``; a negative alpha disables the term.
    gamma : float >= 0, default 2.0
    reduction : {"none", "mean", "sum"}, default "none" (torchvision's default)
    ignore_index : int, default -100
        For integer class targets only.
    normalized : bool, default False
        Divide by ``max(sum of focal terms, 1e-6)`` (segmentation_models_pytorch).
    reduced_threshold : float in (0, 1], optional
        Focal term ``((1 - p_t) / thr)^gamma``, and 1 where ``p_t < thr`` (smp).

    Targets: either dense, of the input's shape (binary or multi-label, soft values
    allowed), or integer class indices ``(N, d1, ..., dk)`` for input ``(N, C, d1, ...)``,
    compared one-vs-rest with every class (smp's multiclass focal), with ``ignore_index``.
    ``mask``: broadcast to the input's shape (dense) or of the target's shape (indices);
    False elements are ignored.

    Notes
    -----
    ``p = sigmoid(x)``, ``p_t = p y + (1 - p)(1 - y)``, ``ce = BCEWithLogits(x, y)``,
    ``l = alpha_t (1 - p_t)^gamma ce``.  "mean" divides by the number of counted elements
    (for class indices: counted positions times C; smp's multiclass FocalLoss adds the C
    per-class means, C times this, which ``presets.smp.FocalLoss("multiclass")`` builds).
    Gradients stay finite for every gamma >= 0.

    Examples
    --------
    >>> import numpy as np
    >>> from onnxlosses import SigmoidFocalLoss
    >>> round(float(SigmoidFocalLoss(reduction="sum")(np.array([0.0]), np.array([1.0]))), 5)
    0.04332
    """

    spec = SIGMOID_FOCAL_SPEC

    def __init__(self, *, alpha: float = 0.25, gamma: float = 2.0,
                 reduction: Reduction = "none", ignore_index: int = -100,
                 normalized: bool = False, reduced_threshold: Optional[float] = None) -> None:
        super().__init__(alpha=alpha, gamma=gamma, reduction=reduction,
                         ignore_index=ignore_index, normalized=normalized,
                         reduced_threshold=reduced_threshold)

    def _evaluate(self, input, target, mask, want_grad, grad_output, out, total=None,
                  stats_only=False):
        cfg = self._config
        xin = _checks.float_array("input", input)
        if want_grad:   # before any pass (the normalized form runs two)
            _checks.gradient_out(out, input, target)
        x = exact_copy(xin.astype(compute_dtype(xin), copy=False))
        t = np.asarray(target)
        y = tg = classes = m = None
        if t.shape == x.shape:
            if cfg["_mean_over"] == "positions":
                raise ValueError(
                    f"target must be integer class indices of shape "
                    f"{x.shape[:1] + x.shape[2:]} for this loss (a preset's: its mean is over "
                    f"positions, the sum of the classes' means), got the input's shape "
                    f"{t.shape}")
            if t.dtype.kind not in "fiub":
                raise TypeError(f"target must be a real array, got dtype {t.dtype}")
            y = exact_copy(t.astype(x.dtype, copy=False))
            if mask is not None:
                m = _checks.broadcast_to("mask", _bool(mask), x.shape, np.uint8)
            count = x.size if m is None else int(np.count_nonzero(m))
        elif t.dtype in _checks.INDEX_DTYPES and x.ndim >= 2 and \
                t.shape == x.shape[:1] + x.shape[2:]:
            C = x.shape[1]
            if C == 0:
                raise ValueError(f"input must have at least one class for class-index "
                                 f"targets, got shape {np.shape(input)}")
            t = exact_copy(t)
            if mask is not None:
                mask = _checks.bool_mask("mask", mask, t.shape)
            count = _target_scan.scan(t, mask, C, cfg["ignore_index"])[0] * \
                (1 if cfg["_mean_over"] == "positions" else C)
            tg = np.broadcast_to(np.expand_dims(t, 1), x.shape)
            classes = np.broadcast_to(
                np.arange(C, dtype=np.int64).reshape((1, C) + (1,) * (x.ndim - 2)), x.shape)
            if mask is not None:
                m = np.broadcast_to(np.expand_dims(mask, 1), x.shape)
        else:
            raise ValueError(
                f"target must have the input's shape {x.shape} (binary / multi-label), or be "
                f"integer class indices of shape {x.shape[:1] + x.shape[2:]}; got "
                f"{t.shape} {t.dtype}")
        # a gamma beyond the compute type's range would become inf there (and inf * 0 NaN
        # in the gradient); its largest finite value gives the same powers of r in [0, 1]
        gamma = min(cfg["gamma"], float(np.finfo(x.dtype).max))
        params = dict(target=tg, classes=classes, y=y, mask=m, ignore_index=cfg["ignore_index"],
                      gamma=gamma, alpha=cfg["alpha"],
                      thr=cfg["reduced_threshold"] or 0.0)
        reduction = cfg["reduction"]
        if stats_only:
            total_sum, total_ft, _ = run(SIGMOID_FOCAL, x, **params)
            return {"loss": total_sum, "weight": float(count), "ft": total_ft}
        n = count if total is None else float(total.parts["weight"])
        scale = 1.0 / n if reduction == "mean" and n else 1.0
        need_lo = reduction == "none" or (cfg["normalized"] and want_grad)
        if not cfg["normalized"]:
            go = grad = None
            if want_grad:
                go = scalar_or_array_grad_output(grad_output, reduction, x.shape, x.dtype, scale)
                grad = prepare_out(out, input, x, target, reads=(go, m))
            total_sum, _, lo = run(SIGMOID_FOCAL, x, grad_output=go, loss_out=need_lo,
                                   grad=grad, **params)
            value = reduce_value(total_sum, count, reduction, lo, xin.dtype)
        else:
            # L = s * sum(go * l) / F with F = max(sum ft, 1e-6): first the sums, then the
            # gradient d/dx = s go dl / F - s sum(go l) / F^2 dF (dF = 0 where clamped).
            total_sum, total_ft, lo = run(SIGMOID_FOCAL, x, loss_out=need_lo, **params)
            if total is not None:
                total_sum, total_ft = float(total.parts["loss"]), float(total.parts["ft"])
            F = max(total_ft, 1e-6)
            if reduction == "none":
                value = (lo / x.dtype.type(F)).astype(xin.dtype, copy=False)
            else:
                value = reduce_value(total_sum / F, count, reduction, None, xin.dtype)
            grad = None
            if want_grad:
                go1 = scalar_or_array_grad_output(grad_output, reduction, x.shape, x.dtype, 1.0)
                s_go = float(np.sum(go1 * lo, dtype=np.float64)) if reduction == "none" \
                    else float(go1.flat[0]) * total_sum if go1.size else 0.0
                B = -scale * s_go / F ** 2 if total_ft > 1e-6 else 0.0
                go = scalar_or_array_grad_output(grad_output, reduction, x.shape, x.dtype,
                                                 scale / F)
                grad = prepare_out(out, input, x, target, reads=(go, m))
                run(SIGMOID_FOCAL, x, grad_output=go, grad=grad, B=B, **params)
        if total is not None:
            value = xin.dtype.type(total.value())
        if not want_grad:
            return value, None
        if reduction == "mean" and n == 0:
            grad.fill(0)
        return value, finish_grad(grad, out, xin.dtype)

    def _value_from_stats(self, parts):
        if self._config["normalized"]:
            parts = dict(parts, loss=parts["loss"] / max(float(parts["ft"]), 1e-6))
        return super()._value_from_stats(parts)


def _bool(mask):
    arr = np.asarray(mask)
    if arr.dtype != np.bool_:
        raise TypeError(f"mask must be a boolean array, got dtype {arr.dtype}")
    return arr


def focal_loss(input: ArrayLike, target: ArrayLike, alpha: Union[None, float, ArrayLike] = None,
               gamma: float = 2.0, ignore_index: int = -100, reduction: Reduction = "mean",
               mask: OptionalArray = None) -> Value:
    """Softmax focal loss; see FocalLoss."""
    return FocalLoss(alpha=alpha, gamma=gamma, ignore_index=ignore_index,
                     reduction=reduction)(input, target, mask=mask)


def sigmoid_focal_loss(input: ArrayLike, target: ArrayLike, alpha: float = 0.25,
                       gamma: float = 2.0, reduction: Reduction = "none",
                       mask: OptionalArray = None, ignore_index: int = -100,
                       normalized: bool = False,
                       reduced_threshold: Optional[float] = None) -> Value:
    """Sigmoid focal loss (torchvision's, with smp's options); see SigmoidFocalLoss."""
    return SigmoidFocalLoss(alpha=alpha, gamma=gamma, reduction=reduction,
                            ignore_index=ignore_index, normalized=normalized,
                            reduced_threshold=reduced_threshold)(input, target, mask=mask)
