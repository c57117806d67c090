"""Cross-entropy and negative log-likelihood, with PyTorch's semantics."""
from __future__ import annotations

from . import _checks
from ._base import Loss, class_axis_size
from ._softmax_ce import evaluate
from ._spec import Example, LossSpec, Param, SoftmaxTerm, class_weight_length, per_class
from ._types import ArrayLike, OptionalArray, Reduction, Value

_WEIGHT = Param("weight", None, _checks.class_weight,
                "per-class weights w_c (length C, finite, >= 0); None means all ones")
_IGNORE = Param("ignore_index", -100, _checks.integer,
                "targets equal to it contribute nothing and are not counted")
_REDUCTION = Param("reduction", "mean", _checks.reduction, "'none', 'mean' or 'sum'")
_SMOOTHING = Param("label_smoothing", 0.0, _checks.unit_interval,
                   "eps in [0, 1]: the target mixes (1 - eps) of itself with eps / C per class")

def _softmax_term(config, C):
    """Cross-entropy with class indices as a softmax term (reduction "none": none)."""
    if config["reduction"] == "none":
        return None
    return SoftmaxTerm(config["weight"], config["ignore_index"], config["label_smoothing"],
                       None, config["reduction"], "weight")


CROSS_ENTROPY = LossSpec(
    "cross_entropy",
    (_WEIGHT, _IGNORE, _REDUCTION, _SMOOTHING),
    formula="""
    lp_c = x_c - log(sum_k exp(x_k))                       (stable log-softmax over classes)
    class index t:  l = (1 - eps) * w_t * (-lp_t) + (eps / C) * sum_c w_c * (-lp_c)
    probabilities q: l = -sum_c w_c * q'_c * lp_c,  q' = (1 - eps) * q + eps / C
    mean: index targets divide by sum of w_t over counted positions; probability targets
    by the number of counted positions.  Ignored and masked positions give 0.
    """,
    targets=("index", "probabilities"),
    fixed_classes=class_weight_length,
    emit="_cross_entropy:emit_cross_entropy",
    emit_native="_cross_entropy:emit_native_cross_entropy",
    reference="cross_entropy:cross_entropy", torch_reference="pytorch:cross_entropy",
    torch_has_loss=True, local=lambda config: True, softmax_term=_softmax_term,
    examples=(
        Example(),
        Example("weight ignore=255", lambda C: dict(weight=per_class(C), ignore_index=255),
                "index255"),
        Example("smoothing weight", lambda C: dict(weight=per_class(C), label_smoothing=0.1)),
        Example("sum mask", dict(reduction="sum"), mask=True),
        Example("none", dict(reduction="none", ignore_index=0)),
        Example("probabilities", lambda C: dict(weight=per_class(C), label_smoothing=0.2),
                "probabilities"),
    ),
)

NLL = LossSpec(
    "nll_loss",
    (_WEIGHT, _IGNORE, _REDUCTION),
    formula="""
    l = -w_t * x_t         (x holds log-probabilities)
    mean divides by sum of w_t over counted positions.
    """,
    fixed_classes=class_weight_length,
    emit="_cross_entropy:emit_nll",
    emit_native="_cross_entropy:emit_native_nll",
    reference="cross_entropy:cross_entropy", torch_reference="pytorch:cross_entropy",
    torch_has_loss=True, local=lambda config: True,
    input="log_probabilities",
    examples=(
        Example("", dict(ignore_index=-1), "index-1"),
        Example("weight none", lambda C: dict(weight=per_class(C), reduction="none")),
    ),
)


class CrossEntropyLoss(Loss):
    """Cross-entropy of logits against class indices or class probabilities.

    Parameters
    ----------
    weight : array of shape (C,), optional
        Per-class weights ``w_c``, finite and non-negative.  None means all ones.
    ignore_index : int, default -100
        Index targets equal to it contribute 0 and are not counted in the mean.  Not
        supported with probability targets (use ``mask``).
    reduction : {"mean", "sum", "none"}, default "mean"
    label_smoothing : float in [0, 1], default 0.0

    Call it as ``loss(input, target, mask=None)`` or
    ``loss.value_and_grad(input, target, grad_output=None, out=None, mask=None)``.

    ``input`` is ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dk)`` of float16/32/64 logits,
    in any memory order.  ``target`` is either class indices of shape ``(N, d1, ..., dk)``
    (uint8, int16, int32 or int64, read as they are) or class probabilities of the input's
    shape.  ``mask`` is a boolean array of the target's shape; False positions are ignored.

    Notes
    -----
    With ``lp_c = x_c - logsumexp(x)`` over the class axis, per position:

    * index target ``t``: ``l = (1 - eps) w_t (-lp_t) + (eps / C) sum_c w_c (-lp_c)``
    * probabilities ``q``: ``l = -sum_c w_c q'_c lp_c`` with ``q' = (1 - eps) q + eps / C``

    "mean" divides by ``sum w_t`` over counted positions for index targets (PyTorch's
    weighted mean; NaN when that is 0, with an all-zero gradient when nothing is counted)
    and by the number of counted positions for probability targets.  "sum" adds;
    "none" returns per-position losses, 0 where ignored.

    Examples
    --------
    >>> import numpy as np
    >>> from onnxlosses import CrossEntropyLoss
    >>> loss = CrossEntropyLoss(weight=np.array([1.0, 2.0, 1.0]), ignore_index=255)
    >>> x = np.array([[2.0, 1.0, 0.1], [0.5, 2.5, 0.3]], dtype=np.float32)
    >>> t = np.array([0, 255], dtype=np.uint8)
    >>> round(float(loss(x, t)), 4)
    0.417
    """

    spec = CROSS_ENTROPY
    _class_count = staticmethod(class_axis_size)

    def __init__(self, *, weight: OptionalArray = None, ignore_index: int = -100,
                 reduction: Reduction = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight=weight, ignore_index=ignore_index, reduction=reduction,
                         label_smoothing=label_smoothing)

    def _evaluate(self, input, target, mask, want_grad, grad_output, out, total=None,
                  stats_only=False):
        return evaluate(self._config, input, target, mask, log_probs=False,
                        want_grad=want_grad, grad_output=grad_output, out=out, total=total,
                        stats_only=stats_only)


class NLLLoss(Loss):
    """Negative log-likelihood of log-probabilities against class indices.

    Parameters
    ----------
    weight : array of shape (C,), optional
    ignore_index : int, default -100
    reduction : {"mean", "sum", "none"}, default "mean"

    ``input`` holds log-probabilities, ``(C,)``, ``(N, C)`` or ``(N, C, d1, ..., dk)``;
    ``target`` holds class indices ``(N, d1, ..., dk)`` (uint8/int16/int32/int64).

    Notes
    -----
    ``l = -w_t x_t`` per counted position; "mean" divides by ``sum w_t`` over them.

    Examples
    --------
    >>> import numpy as np
    >>> from onnxlosses import NLLLoss
    >>> logp = np.log(np.array([[0.7, 0.2, 0.1]]))
    >>> round(float(NLLLoss()(logp, np.array([0]))), 4)
    0.3567
    """

    spec = NLL
    _class_count = staticmethod(class_axis_size)

    def __init__(self, *, weight: OptionalArray = None, ignore_index: int = -100,
                 reduction: Reduction = "mean") -> None:
        super().__init__(weight=weight, ignore_index=ignore_index, reduction=reduction)

    def _evaluate(self, input, target, mask, want_grad, grad_output, out, total=None,
                  stats_only=False):
        return evaluate(self._config, input, target, mask, log_probs=True,
                        want_grad=want_grad, grad_output=grad_output, out=out, total=total,
                        stats_only=stats_only)


def cross_entropy(input: ArrayLike, target: ArrayLike, weight: OptionalArray = None,
                  ignore_index: int = -100, reduction: Reduction = "mean",
                  label_smoothing: float = 0.0, mask: OptionalArray = None) -> Value:
    """Cross-entropy loss, as ``torch.nn.functional.cross_entropy``; see CrossEntropyLoss."""
    loss = CrossEntropyLoss(weight=weight, ignore_index=ignore_index, reduction=reduction,
                            label_smoothing=label_smoothing)
    return loss(input, target, mask=mask)


def nll_loss(input: ArrayLike, target: ArrayLike, weight: OptionalArray = None,
             ignore_index: int = -100, reduction: Reduction = "mean",
             mask: OptionalArray = None) -> Value:
    """Negative log-likelihood loss, as ``torch.nn.functional.nll_loss``; see NLLLoss."""
    return NLLLoss(weight=weight, ignore_index=ignore_index, reduction=reduction)(
        input, target, mask=mask)
