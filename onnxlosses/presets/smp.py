"""segmentation_models_pytorch's losses (smp.losses, 0.5) by their own arguments:
onnxlosses losses.  ``mode`` is "binary", "multiclass" or "multilabel", as in smp.  What a
preset cannot honour exactly is a ValueError naming the argument, at construction
(docs/presets.md)."""
from .. import _checks
from ..dice import DiceLoss as _Dice, JaccardLoss as _Jaccard, TverskyLoss as _Tversky
from ..focal import SigmoidFocalLoss as _SigmoidFocal

__all__ = ["DiceLoss", "JaccardLoss", "TverskyLoss", "FocalLoss"]

_MODES = ("binary", "multiclass", "multilabel")


def _common(mode, classes, log_loss, from_logits, smooth, ignore_index, eps):
    kw = dict(mode=mode, log_loss=log_loss, from_logits=from_logits, smooth=smooth, eps=eps)
    if classes is not None:
        if mode == "binary":
            raise ValueError("masking classes is not supported with mode=binary (as in smp)")
        kw["classes"] = classes
    if ignore_index is not None:
        kw["ignore_index"] = ignore_index
    return kw


def DiceLoss(mode, classes=None, log_loss=False, from_logits=True, smooth=0.0,
             ignore_index=None, eps=1e-7):
    """smp.losses.DiceLoss: a DiceLoss."""
    return _Dice.preset("smp", **_common(mode, classes, log_loss, from_logits, smooth,
                                         ignore_index, eps))


def JaccardLoss(mode, classes=None, log_loss=False, from_logits=True, smooth=0.0,
                ignore_index=None, eps=1e-7):
    """smp.losses.JaccardLoss: a JaccardLoss."""
    return _Jaccard.preset("smp", **_common(mode, classes, log_loss, from_logits, smooth,
                                            ignore_index, eps))


def TverskyLoss(mode, classes=None, log_loss=False, from_logits=True, smooth=0.0,
                ignore_index=None, eps=1e-7, alpha=0.5, beta=0.5, gamma=1.0):
    """smp.losses.TverskyLoss: a TverskyLoss (gamma applied to the mean, as smp)."""
    return _Tversky.preset("smp", alpha=alpha, beta=beta, gamma=gamma,
                           **_common(mode, classes, log_loss, from_logits, smooth,
                                     ignore_index, eps))


def FocalLoss(mode, alpha=None, gamma=2.0, ignore_index=None, reduction="mean",
              normalized=False, reduced_threshold=None):
    """smp.losses.FocalLoss: a SigmoidFocalLoss (``alpha=None``: no alpha term).

    "binary" / "multilabel": targets of the input's shape (smp flattens both; an integer
    (N, d1, ...) mask for an (N, 1, d1, ...) input would be read as class indices here:
    pass ``target[:, None]``), hard (0 or 1: smp's ``p_t = exp(-BCE)`` is not
    ``p y + (1 - p)(1 - y)`` for soft ones; neither is checked); reduction "mean",
    "sum" or "batchwise_mean" (a sum, on smp's flattened loss); normalized and
    reduced_threshold as smp.  "multiclass": class indices (N, d1, ...), the sum over
    classes c of the binary focal loss on ``target == c``, with ``ignore_index``; reduction
    "mean" (smp adds the C per-class means: the sum over the counted positions, a
    SigmoidFocalLoss whose mean is over positions, not elements) or "sum".  The rest is a
    ValueError naming the argument: docs/presets.md.
    """
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, _MODES))}, got {mode!r}")
    if alpha is not None:
        alpha = _checks.nonnegative_real("alpha", alpha)   # < 0 disables SigmoidFocalLoss's
    _checks.nonnegative_real("gamma", gamma)
    _checks.boolean("normalized", normalized)
    _checks.threshold("reduced_threshold", reduced_threshold)
    if reduction not in ("mean", "sum", "none", "batchwise_mean"):
        raise ValueError(f"reduction must be one of 'mean', 'sum', 'none', 'batchwise_mean', "
                         f"got {reduction!r}")
    if ignore_index is not None:
        _checks.integer("ignore_index", ignore_index)
    if reduction == "none":
        raise ValueError("reduction='none' cannot be honoured: smp returns the flattened loss "
                         "without the ignored elements (binary, multilabel) or the sum over "
                         "classes per position (multiclass), not the input's shape")
    kw = dict(alpha=-1.0 if alpha is None else alpha, gamma=gamma,
              reduced_threshold=reduced_threshold, normalized=normalized)
    if mode == "multiclass":
        if reduction == "batchwise_mean":
            raise ValueError("reduction='batchwise_mean' cannot be honoured with "
                             "mode='multiclass': smp sums over the batch per pixel, an (H, W) "
                             "array; use 'mean' or 'sum'")
        if normalized:
            raise ValueError("normalized=True cannot be honoured with mode='multiclass': smp "
                             "normalizes each class's loss by that class's focal terms, "
                             "SigmoidFocalLoss by all of them")
        if ignore_index is not None:
            kw["ignore_index"] = ignore_index
        # smp's "mean" adds the C per-class means over the same counted positions (and
        # takes class indices only, as the switch does)
        return _SigmoidFocal._from_config(dict(kw, reduction=reduction,
                                               _mean_over="positions"))
    if ignore_index is not None:
        raise ValueError(f"ignore_index={ignore_index} cannot be honoured with mode={mode!r}: "
                         f"SigmoidFocalLoss ignores class indices only, and these targets are "
                         f"dense; pass mask=(target != {ignore_index}) at call time instead")
    return _SigmoidFocal(reduction="sum" if reduction == "batchwise_mean" else reduction, **kw)
