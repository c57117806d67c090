"""MONAI's losses (monai.losses, 1.6) by their own arguments: onnxlosses losses.

Inputs are (N, C, d1, ...); targets one-hot of the input's shape, or with
``to_onehot_y=True`` class indices (N, 1, d1, ...) (or (N, d1, ...)).  The number of classes
comes from the input: ``include_background=False`` scores classes 1..C-1 of whatever C the
input has, and ``weight`` then has C-1 entries, as in MONAI.  ``reduction="none"`` gives
MONAI's shape, (N, C, 1, ...) (per sample; (C, 1, ...) with ``batch=True``).
"""
import numpy as np

from .. import _checks
from ..combined import CombinedLoss
from ..cross_entropy import CrossEntropyLoss
from ..dice import DiceLoss as _Dice, GeneralizedDiceLoss as _Generalized, \
    JaccardLoss as _Jaccard, TverskyLoss as _Tversky

__all__ = ["DiceLoss", "GeneralizedDiceLoss", "TverskyLoss", "DiceCELoss"]


def _activation(sigmoid, softmax, other_act):
    if other_act is not None:
        raise ValueError("other_act (a callable) cannot be honoured: pass activated inputs "
                         "with sigmoid=False, softmax=False instead")
    if sigmoid and softmax:
        raise ValueError("sigmoid=True and softmax=True are incompatible (as in MONAI)")
    return dict(sigmoid=sigmoid, softmax=softmax)


def DiceLoss(include_background=True, to_onehot_y=False, sigmoid=False, softmax=False,
             other_act=None, squared_pred=False, jaccard=False, reduction="mean",
             smooth_nr=1e-5, smooth_dr=1e-5, batch=False, weight=None, soft_label=False,
             ignore_index=None):
    """monai.losses.DiceLoss: a DiceLoss (JaccardLoss with ``jaccard=True``).  A ``weight``
    of one entry scores one class (C = 1, or C = 2 without the background), where MONAI
    leaves the weight out: it weighs nothing here either (the one-class length is kept)."""
    cls = _Jaccard if jaccard else _Dice
    kw = dict(include_background=include_background, to_onehot_y=to_onehot_y,
              squared_pred=squared_pred, reduction=reduction, smooth_nr=smooth_nr,
              smooth_dr=smooth_dr, batch=batch, soft_label=soft_label,
              **_activation(sigmoid, softmax, other_act))
    if weight is not None:
        weight = _checks.class_weight("weight", weight) if np.ndim(weight) else weight
        if np.ndim(weight) == 1 and len(weight) == 1:
            weight = np.ones(1)        # MONAI: `if class_weight is not None and C != 1`
        kw["weight"] = weight
    if ignore_index is not None:
        kw["ignore_index"] = ignore_index
    return cls.preset("monai", **kw)


def GeneralizedDiceLoss(include_background=True, to_onehot_y=False, sigmoid=False,
                        softmax=False, other_act=None, w_type="square", reduction="mean",
                        smooth_nr=1e-5, smooth_dr=1e-5, batch=False, soft_label=False):
    """monai.losses.GeneralizedDiceLoss: a GeneralizedDiceLoss (``w_type`` is its
    ``weighting``)."""
    return _Generalized.preset("monai", include_background=include_background,
                               to_onehot_y=to_onehot_y, w_type=w_type, reduction=reduction,
                               smooth_nr=smooth_nr, smooth_dr=smooth_dr, batch=batch,
                               soft_label=soft_label, **_activation(sigmoid, softmax, other_act))


def TverskyLoss(include_background=True, to_onehot_y=False, sigmoid=False, softmax=False,
                other_act=None, alpha=0.5, beta=0.5, reduction="mean", smooth_nr=1e-5,
                smooth_dr=1e-5, batch=False, soft_label=False):
    """monai.losses.TverskyLoss: a TverskyLoss."""
    return _Tversky.preset("monai", include_background=include_background,
                           to_onehot_y=to_onehot_y, alpha=alpha, beta=beta, reduction=reduction,
                           smooth_nr=smooth_nr, smooth_dr=smooth_dr, batch=batch,
                           soft_label=soft_label, **_activation(sigmoid, softmax, other_act))


def DiceCELoss(include_background=True, to_onehot_y=False, sigmoid=False, softmax=False,
               other_act=None, squared_pred=False, jaccard=False, reduction="mean",
               smooth_nr=1e-5, smooth_dr=1e-5, batch=False, weight=None, lambda_dice=1.0,
               lambda_ce=1.0, label_smoothing=0.0):
    """monai.losses.DiceCELoss: ``lambda_dice * dice + lambda_ce * cross_entropy``, a
    CombinedLoss.  ``weight`` (one per class, background included) weights the
    cross-entropy and, without its background entry when include_background=False, the
    Dice term, as MONAI does.  MONAI switches to BCE with logits for a single-channel
    input; this preset takes C >= 2 (cross-entropy over one class is 0)."""
    for name, value in (("lambda_dice", lambda_dice), ("lambda_ce", lambda_ce)):
        if value < 0:
            raise ValueError(f"{name} should be no less than 0.0, got {value}")
    dice_weight = None
    if weight is not None:
        weight = np.asarray(weight, np.float64)
        dice_weight = weight if include_background else weight[1:]
    dice = DiceLoss(include_background=include_background, to_onehot_y=to_onehot_y,
                    sigmoid=sigmoid, softmax=softmax, other_act=other_act,
                    squared_pred=squared_pred, jaccard=jaccard, reduction=reduction,
                    smooth_nr=smooth_nr, smooth_dr=smooth_dr, batch=batch, weight=dice_weight)
    if reduction == "none":
        raise ValueError("DiceCELoss takes reduction 'mean' or 'sum' (MONAI's cross-entropy "
                         "and Dice 'none' shapes do not add)")
    ce = CrossEntropyLoss(weight=weight, reduction=reduction, label_smoothing=label_smoothing)
    return CombinedLoss._from_config(dict(terms=[(lambda_dice, dice), (lambda_ce, ce)],
                                          _target_channel=True))
