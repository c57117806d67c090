"""segmentation_models_pytorch's losses (smp.losses, 0.5) by their own arguments:
onnxlosses losses.  ``mode`` is "binary", "multiclass" or "multilabel", as in smp."""
from ..dice import DiceLoss as _Dice, JaccardLoss as _Jaccard, TverskyLoss as _Tversky

__all__ = ["DiceLoss", "JaccardLoss", "TverskyLoss"]


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
