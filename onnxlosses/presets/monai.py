"""MONAI's losses (monai.losses, 1.6) by their own arguments: onnxlosses losses.

Inputs are (N, C, d1, ...); targets one-hot of the input's shape, or with
``to_onehot_y=True`` class indices (N, 1, d1, ...) (or (N, d1, ...)).  The number of classes
comes from the input: ``include_background=False`` scores classes 1..C-1 of whatever C the
input has, and ``weight`` then has C-1 entries, as in MONAI.  ``reduction="none"`` gives
MONAI's shape, (N, C, 1, ...) (per sample; (C, 1, ...) with ``batch=True``) for the Dice
losses, the input's shape for FocalLoss.

What a preset cannot honour exactly is a ValueError naming the argument, at construction:
docs/presets.md lists each refusal and its reason.
"""
import numpy as np

from .. import _checks
from ..bce import BCEWithLogitsLoss
from ..combined import CombinedLoss
from ..cross_entropy import CrossEntropyLoss
from ..dice import DiceLoss as _Dice, GeneralizedDiceLoss as _Generalized, \
    JaccardLoss as _Jaccard, TverskyLoss as _Tversky
from ..focal import FocalLoss as _SoftmaxFocal, SigmoidFocalLoss as _SigmoidFocal

__all__ = ["DiceLoss", "GeneralizedDiceLoss", "TverskyLoss", "DiceCELoss", "FocalLoss",
           "DiceFocalLoss"]


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
    Dice term, as MONAI does.

    A single-channel input is where MONAI takes BCE with logits (``pos_weight=weight``)
    instead of cross-entropy, and ignores softmax, to_onehot_y, include_background and the
    Dice weight.  The channel count is known only at call time, and a CombinedLoss adds
    every one of its terms: a ``weight`` of one entry says C = 1 (cross-entropy takes one
    per class) and gives that Dice + BCEWithLogitsLoss (float targets of the input's shape).
    Without a weight the terms are Dice + cross-entropy, for C >= 2: on one channel the
    cross-entropy would be 0, not MONAI's BCE (docs/presets.md)."""
    for name, value in (("lambda_dice", lambda_dice), ("lambda_ce", lambda_ce)):
        if _checks.real(name, value) < 0:
            raise ValueError(f"{name} should be no less than 0.0, got {value}")
    _activation(sigmoid, softmax, other_act)
    if reduction == "none":
        raise ValueError("DiceCELoss takes reduction 'mean' or 'sum' (MONAI's cross-entropy "
                         "and Dice 'none' shapes do not add)")
    dice_weight = None
    if weight is not None:
        weight = _checks.class_weight("weight", weight)
        if len(weight) == 1:
            _checks.unit_interval("label_smoothing", label_smoothing)  # unused by BCE, as MONAI
            dice = DiceLoss(sigmoid=sigmoid, other_act=other_act, squared_pred=squared_pred,
                            jaccard=jaccard, reduction=reduction, smooth_nr=smooth_nr,
                            smooth_dr=smooth_dr, batch=batch)
            bce = BCEWithLogitsLoss(pos_weight=weight, reduction=reduction)
            return CombinedLoss([(lambda_dice, dice), (lambda_ce, bce)])
        dice_weight = weight if include_background else weight[1:]
    dice = DiceLoss(include_background=include_background, to_onehot_y=to_onehot_y,
                    sigmoid=sigmoid, softmax=softmax, other_act=other_act,
                    squared_pred=squared_pred, jaccard=jaccard, reduction=reduction,
                    smooth_nr=smooth_nr, smooth_dr=smooth_dr, batch=batch, weight=dice_weight)
    ce = CrossEntropyLoss(weight=weight, reduction=reduction, label_smoothing=label_smoothing)
    return CombinedLoss._from_config(dict(terms=[(lambda_dice, dice), (lambda_ce, ce)],
                                          _target_channel=True))


# ---- focal --------------------------------------------------------------------------------
# MONAI 1.6's FocalLoss, per element (n, c, s) of the input after include_background:
#   sigmoid: l = alpha_t (1 - p_t)^gamma BCE(x, y) (alpha_t = alpha y + (1 - alpha)(1 - y),
#            1 without alpha), SigmoidFocalLoss's formula for hard targets;
#   softmax: l = -alpha_c (1 - p_c)^gamma log p_c y_c (alpha_c = [1 - alpha, alpha, ...] for
#            a number), non-zero at the target class only: FocalLoss's per-position loss;
#   then times weight_c; "mean" divides by every element (N C S), "sum" is the sum of each
#   (n, c)'s mean over the spatial positions S, "none" keeps (N, C, d1, ...).
# Sigmoid "mean" and "none" are SigmoidFocalLoss's; softmax "mean" is FocalLoss's divided
# by C, which the preset knows only where a per-class weight or alpha fixes C.


def _number_or_classes(name, value):
    """None, a number >= 0 (float), or one value >= 0 per class (float64 array)."""
    if value is None:
        return None
    if np.ndim(value) == 0:
        return _checks.nonnegative_real(name, np.asarray(value).item())
    return _checks.class_weight(name, value)


def _check_focal(gamma, alpha, weight, reduction, ignore_index):
    """MONAI FocalLoss's arguments, checked: (alpha, weight, reduction)."""
    _checks.nonnegative_real("gamma", gamma)
    reduction = _checks.reduction("reduction", getattr(reduction, "value", reduction))
    alpha = _number_or_classes("alpha", alpha)
    weight = _number_or_classes("weight", weight)
    if ignore_index is not None:
        _checks.integer("ignore_index", ignore_index)
        raise ValueError(
            f"ignore_index={ignore_index} cannot be honoured: MONAI's focal 'mean' then divides "
            f"by the unignored pixels without the class count (C times SigmoidFocalLoss's "
            f"mean, C known only at call time), and one-hot targets would need a mask; pass "
            f"mask= at call time to an onnxlosses.SigmoidFocalLoss instead")
    return alpha, weight, reduction


def _sigmoid_focal(include_background, gamma, alpha, weight, reduction):
    """(factor, SigmoidFocalLoss) of MONAI's sigmoid focal loss, or a ValueError."""
    if not include_background:
        raise ValueError("include_background=False cannot be honoured with the sigmoid focal "
                         "loss: SigmoidFocalLoss scores every channel (MONAI drops channel 0 "
                         "for C > 1)")
    if reduction == "sum":
        raise ValueError("reduction='sum' cannot be honoured: MONAI's focal 'sum' adds each "
                         "(sample, class)'s mean over the spatial positions (the sum divided "
                         "by their number, known only at call time); use 'mean' or 'none'")
    if isinstance(alpha, np.ndarray):
        raise ValueError("alpha as one value per class cannot be honoured with the sigmoid "
                         "focal loss (MONAI weighs the positives of class c by alpha[c] and "
                         "the negatives by 1; SigmoidFocalLoss's alpha is one number)")
    if isinstance(weight, np.ndarray):
        raise ValueError("weight as one value per class cannot be honoured with the sigmoid "
                         "focal loss (SigmoidFocalLoss has no class weights); one number "
                         "for every class can")
    loss = _SigmoidFocal(alpha=-1.0 if alpha is None else alpha, gamma=gamma,
                         reduction=reduction)
    return (1.0 if weight is None else weight), loss


def _softmax_focal(include_background, to_onehot_y, gamma, alpha, weight, reduction):
    """FocalLoss of MONAI's softmax focal loss (its class weights divided by C), or a
    ValueError."""
    if not include_background:
        raise ValueError("include_background=False cannot be honoured with use_softmax=True: "
                         "MONAI's softmax then runs over channels 1..C-1 only, not "
                         "FocalLoss's over all C")
    if not to_onehot_y:
        raise ValueError("use_softmax=True needs to_onehot_y=True (class indices (N, 1, ...)): "
                         "onnxlosses' softmax FocalLoss takes class indices, not MONAI's "
                         "one-hot (or soft) targets")
    if reduction != "mean":
        raise ValueError(f"reduction={reduction!r} cannot be honoured with use_softmax=True: "
                         f"MONAI keeps a zero for every class but the target's ('none', "
                         f"FocalLoss keeps one value per position) or divides by the spatial "
                         f"size ('sum'); use 'mean'")
    sizes = {len(v) for v in (alpha, weight) if isinstance(v, np.ndarray)}
    if len(sizes) > 1:
        raise ValueError(f"alpha and weight must have one entry per class each, got lengths "
                         f"{len(alpha)} and {len(weight)}")
    if not sizes:
        raise ValueError("use_softmax=True needs the number of classes, which only a per-class "
                         "weight or alpha gives: MONAI's mean divides by every element, N C S, "
                         "FocalLoss's by the positions N S, and C is known only at call time")
    C = sizes.pop()
    if alpha is None:
        alpha = np.ones(C)
    elif np.ndim(alpha) == 0:
        if alpha > 1:
            raise ValueError(f"alpha must be in [0, 1] with use_softmax=True (the background "
                             f"class gets 1 - alpha), got {alpha}")
        alpha = np.array([1.0 - alpha] + [alpha] * (C - 1))
    scale = (1.0 if weight is None else weight) / C
    return _SoftmaxFocal(alpha=alpha * scale, gamma=gamma, reduction="mean")


def FocalLoss(include_background=True, to_onehot_y=False, gamma=2.0, alpha=None, weight=None,
              reduction="mean", use_softmax=False, ignore_index=None):
    """monai.losses.FocalLoss: a SigmoidFocalLoss (the default) or, with use_softmax=True, a
    FocalLoss; in a CombinedLoss where ``weight`` scales it or ``to_onehot_y=True`` takes
    class indices (N, 1, d1, ...).

    Sigmoid: one-hot / multi-label targets of the input's shape (hard, 0 or 1: MONAI's focal
    factor for soft targets, sigmoid(-x (2y - 1))^gamma, is not (1 - p_t)^gamma), or class
    indices with to_onehot_y=True; ``alpha`` and ``weight`` numbers; reduction "mean" (over
    every element) or "none" (the input's shape, as MONAI).  Softmax: class indices
    (to_onehot_y=True), include_background=True, reduction "mean", and a per-class
    ``weight`` or ``alpha`` (MONAI's mean divides by C as well, and only these give C).
    Anything else is a ValueError naming the argument and why: see docs/presets.md.
    """
    for name, value in (("include_background", include_background),
                        ("to_onehot_y", to_onehot_y), ("use_softmax", use_softmax)):
        _checks.boolean(name, value)
    alpha, weight, reduction = _check_focal(gamma, alpha, weight, reduction, ignore_index)
    if use_softmax:
        factor, loss = 1.0, _softmax_focal(include_background, to_onehot_y, gamma, alpha,
                                           weight, reduction)
    else:
        factor, loss = _sigmoid_focal(include_background, gamma, alpha, weight, reduction)
    if factor == 1.0 and not to_onehot_y:
        return loss
    return CombinedLoss._from_config(dict(terms=[(factor, loss)], _target_channel=to_onehot_y))


def DiceFocalLoss(include_background=True, to_onehot_y=False, sigmoid=False, softmax=False,
                  other_act=None, squared_pred=False, jaccard=False, reduction="mean",
                  smooth_nr=1e-5, smooth_dr=1e-5, batch=False, gamma=2.0, weight=None,
                  lambda_dice=1.0, lambda_focal=1.0, alpha=None):
    """monai.losses.DiceFocalLoss: ``lambda_dice * dice + lambda_focal * focal``, a
    CombinedLoss of this module's DiceLoss and (sigmoid) FocalLoss, both on the input as it
    comes (MONAI's focal term always takes it as logits; sigmoid / softmax / other_act are
    the Dice term's).  Reduction "mean" only, include_background=True, no ``weight``, a
    number or None for ``alpha``: what the focal term can honour (docs/presets.md)."""
    for name, value in (("lambda_dice", lambda_dice), ("lambda_focal", lambda_focal)):
        if _checks.real(name, value) < 0:
            raise ValueError(f"{name} should be no less than 0.0, got {value}")
    for name, value in (("include_background", include_background),
                        ("to_onehot_y", to_onehot_y)):
        _checks.boolean(name, value)
    _activation(sigmoid, softmax, other_act)
    alpha, weight, reduction = _check_focal(gamma, alpha, weight, reduction, None)
    if reduction == "none":
        raise ValueError("reduction='none' cannot be honoured: MONAI adds the Dice term's "
                         "(N, C, 1, ...) to the focal term's (N, C, d1, ...) by broadcasting, "
                         "which a CombinedLoss does not")
    if weight is not None:
        raise ValueError("weight cannot be honoured: MONAI's Dice term leaves it out where "
                         "one class is scored (known only at call time), and the sigmoid "
                         "focal term has no class weights")
    factor, focal = _sigmoid_focal(include_background, gamma, alpha, weight, reduction)
    dice = DiceLoss(include_background=include_background, to_onehot_y=to_onehot_y,
                    sigmoid=sigmoid, softmax=softmax, other_act=other_act,
                    squared_pred=squared_pred, jaccard=jaccard, reduction=reduction,
                    smooth_nr=smooth_nr, smooth_dr=smooth_dr, batch=batch)
    return CombinedLoss._from_config(dict(terms=[(lambda_dice, dice),
                                                 (lambda_focal * factor, focal)],
                                          _target_channel=True))
