"""The Dice losses of hubutui/DiceLoss-PyTorch (``loss.py``) by their own arguments:
onnxlosses losses.  ``DiceLoss`` softmaxes the input and scores one-hot targets, skipping
the class channel ``ignore_index``; ``BinaryDiceLoss`` takes probabilities."""
from ..dice import DiceLoss as _Dice

__all__ = ["DiceLoss", "BinaryDiceLoss"]


def DiceLoss(weight=None, ignore_index=None, smooth=1, p=2, reduction="mean"):
    """hubutui's DiceLoss: per image, ``I / (sum p^p + sum t^p)``, the classes but
    ``ignore_index`` weighted and summed, divided by the number of classes."""
    kw = dict(smooth=smooth, p=p, reduction=reduction)
    if weight is not None:
        kw["weight"] = weight
    if ignore_index is not None:
        kw["skip_class"] = ignore_index
    return _Dice.preset("seed", **kw)


def BinaryDiceLoss(smooth=1, p=2, reduction="mean"):
    """hubutui's BinaryDiceLoss: probabilities (N, ...) against targets of their shape."""
    return _Dice.preset("seed_binary", smooth=smooth, p=p, reduction=reduction)
