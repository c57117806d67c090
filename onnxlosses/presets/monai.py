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
    Without a weight the terms are Dice + cross-entropy, for C >= 2: a single-channel input
    is a ValueError at call time (its cross-entropy would be 0, not MONAI's BCE) that says
    to pass ``weight=[1.0]`` instead, which gives MONAI's value (docs/presets.md)."""
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
    one_channel = None if weight is not None else (
        "MONAI's DiceCELoss takes BCE with logits there, where this one, built without a "
        "weight, has a cross-entropy of one class (0); build it with weight=[1.0] (one "
        "entry: a single channel) for Dice + BCE with logits, MONAI's loss on one channel")
    return CombinedLoss._from_config(dict(terms=[(lambda_dice, dice), (lambda_ce, ce)],
                                          _target_channel=True,
                                          _refuse_one_channel=one_channel))


# ---- focal --------------------------------------------------------------------------------
# MONAI 1.6's FocalLoss, per element (n, c, s) of the input after include_background:
#   sigmoid: l = alpha_t (1 - p_t)^gamma BCE(x, y) (alpha_t = alpha y + (1 - alpha)(1 - y),
#            1 without alpha), SigmoidFocalLoss's formula for hard targets;
#   softmax: l = -alpha_c (1 - p_c)^gamma log p_c y_c (alpha_c = [1 - alpha, alpha, ...] for
#            a number), non-zero at the target class only: FocalLoss's per-position loss;
#   then times weight_c; "mean" divides by every element (N C S), "sum" is the sum of each
#   (n, c)'s mean over the spatial positions S, "none" keeps (N, C, d1, ...).  With
#   ignore_index the ignored pixels' losses are 0 and "mean" divides by the pixels left
#   (N S minus the ignored, without C).
# Sigmoid "mean" and "none" are SigmoidFocalLoss's (with ignore_index: its mean over
# positions); softmax "mean" is FocalLoss's mean over elements (with ignore_index: its
# plain mean over positions).


def _number_or_classes(name, value):
    """None, a number >= 0 (float), or one value >= 0 per class (float64 array)."""
    if value is None:
        return None
    if np.ndim(value) == 0:
        return _checks.nonnegative_real(name, np.asarray(value).item())
    return _checks.class_weight(name, value)


def _check_focal(gamma, alpha, weight, reduction, ignore_index):
    """MONAI FocalLoss's arguments, checked: (alpha, weight, reduction, ignore_index)."""
    _checks.nonnegative_real("gamma", gamma)
    reduction = _checks.reduction("reduction", getattr(reduction, "value", reduction))
    alpha = _number_or_classes("alpha", alpha)
    weight = _number_or_classes("weight", weight)
    if ignore_index is not None:
        ignore_index = _checks.integer("ignore_index", ignore_index)
    return alpha, weight, reduction, ignore_index


def _sigmoid_focal(include_background, to_onehot_y, gamma, alpha, weight, reduction,
                   ignore_index):
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
    config = dict(alpha=-1.0 if alpha is None else alpha, gamma=gamma, reduction=reduction)
    if ignore_index is not None:
        if not to_onehot_y:
            raise ValueError(
                f"ignore_index={ignore_index} cannot be honoured with one-hot targets "
                f"(to_onehot_y=False): MONAI finds the ignored pixels from the one-hot "
                f"channels and divides 'mean' by their number (without C); pass class "
                f"indices (N, 1, ...) with to_onehot_y=True instead")
        # MONAI's mean over the pixels left: the sum over classes of each class's mean
        config.update(ignore_index=ignore_index, _mean_over="positions")
    return (1.0 if weight is None else weight), _SigmoidFocal._from_config(config)


def _softmax_focal(include_background, to_onehot_y, gamma, alpha, weight, reduction,
                   ignore_index):
    """(factor, FocalLoss) of MONAI's softmax focal loss, or a ValueError."""
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
    if np.ndim(alpha) == 0 and alpha is not None and alpha > 1:
        raise ValueError(f"alpha must be in [0, 1] with use_softmax=True (the background "
                         f"class gets 1 - alpha), got {alpha}")
    # MONAI's "mean" divides by every element, N C S, without ignore_index; with it, by the
    # pixels left, N S minus the ignored: FocalLoss's own mean
    config = dict(gamma=gamma, reduction="mean",
                  _mean_over="elements" if ignore_index is None else "positions")
    if ignore_index is not None:
        config["ignore_index"] = ignore_index
    factor = 1.0
    if isinstance(weight, np.ndarray):          # C known: MONAI's alpha factors times weight
        C = len(weight)
        a = np.ones(C) if alpha is None else alpha if np.ndim(alpha) else \
            np.array([1.0 - alpha] + [alpha] * (C - 1))
        config["alpha"] = a * weight
    else:
        factor = 1.0 if weight is None else weight
        config["alpha"] = alpha
        if alpha is not None and np.ndim(alpha) == 0:
            config["_alpha0"] = 1.0 - alpha     # [1 - alpha, alpha, ..., alpha] for any C
    return factor, _SoftmaxFocal._from_config(config)


def FocalLoss(include_background=True, to_onehot_y=False, gamma=2.0, alpha=None, weight=None,
              reduction="mean", use_softmax=False, ignore_index=None):
    """monai.losses.FocalLoss: a SigmoidFocalLoss (the default) or, with use_softmax=True, a
    FocalLoss; in a CombinedLoss where ``weight`` scales it or ``to_onehot_y=True`` takes
    class indices (N, 1, d1, ...).

    Sigmoid: one-hot / multi-label targets of the input's shape (hard, 0 or 1: MONAI's focal
    factor for soft targets, sigmoid(-x (2y - 1))^gamma, is not (1 - p_t)^gamma), or class
    indices with to_onehot_y=True; ``alpha`` and ``weight`` numbers; reduction "mean" (over
    every element) or "none" (the input's shape, as MONAI); ``ignore_index`` with class
    indices (to_onehot_y=True, C >= 2), "mean" then over the pixels left.  Softmax: class
    indices (to_onehot_y=True), include_background=True, reduction "mean" (over every
    element, or with ``ignore_index`` over the pixels left, as MONAI), ``alpha`` and
    ``weight`` numbers or per class.  Anything else is a ValueError naming the argument
    and why: see docs/presets.md.
    """
    for name, value in (("include_background", include_background),
                        ("to_onehot_y", to_onehot_y), ("use_softmax", use_softmax)):
        _checks.boolean(name, value)
    alpha, weight, reduction, ignore_index = _check_focal(gamma, alpha, weight, reduction,
                                                          ignore_index)
    build = _softmax_focal if use_softmax else _sigmoid_focal
    factor, loss = build(include_background, to_onehot_y, gamma, alpha, weight, reduction,
                         ignore_index)
    if factor == 1.0 and not to_onehot_y:
        return loss
    # on one channel MONAI ignores to_onehot_y and reads the target as it comes, 0 / 1 with
    # ignored pixels, which a SigmoidFocalLoss built for class indices cannot
    one_channel = None if ignore_index is None or use_softmax else (
        f"MONAI's FocalLoss reads a single-channel target as it comes (0 / 1, and "
        f"ignore_index={ignore_index} at ignored pixels), where this one takes class indices; "
        f"build it without ignore_index and pass mask=(target != {ignore_index}) at call "
        f"time (on one channel its mean over elements is MONAI's over the pixels left)")
    return CombinedLoss._from_config(dict(terms=[(factor, loss)], _target_channel=to_onehot_y,
                                          _refuse_one_channel=one_channel))


def DiceFocalLoss(include_background=True, to_onehot_y=False, sigmoid=False, softmax=False,
                  other_act=None, squared_pred=False, jaccard=False, reduction="mean",
                  smooth_nr=1e-5, smooth_dr=1e-5, batch=False, gamma=2.0, weight=None,
                  lambda_dice=1.0, lambda_focal=1.0, alpha=None):
    """monai.losses.DiceFocalLoss: ``lambda_dice * dice + lambda_focal * focal``, a
    CombinedLoss of this module's DiceLoss and (sigmoid) FocalLoss, both on the input as it
    comes (MONAI's focal term always takes it as logits; sigmoid / softmax / other_act are
    the Dice term's).  Reduction "mean" only, include_background=True, ``weight`` None or a
    number, a number or None for ``alpha``: what the focal term can honour
    (docs/presets.md).  A number ``weight`` scales both terms, as MONAI's do for C >= 2; a
    single-channel input, where MONAI's Dice term leaves it out, is then a ValueError at call
    time that says what to pass instead."""
    for name, value in (("lambda_dice", lambda_dice), ("lambda_focal", lambda_focal)):
        if _checks.real(name, value) < 0:
            raise ValueError(f"{name} should be no less than 0.0, got {value}")
    for name, value in (("include_background", include_background),
                        ("to_onehot_y", to_onehot_y)):
        _checks.boolean(name, value)
    _activation(sigmoid, softmax, other_act)
    alpha, weight, reduction, _ = _check_focal(gamma, alpha, weight, reduction, None)
    if reduction == "none":
        raise ValueError("reduction='none' cannot be honoured: MONAI adds the Dice term's "
                         "(N, C, 1, ...) to the focal term's (N, C, d1, ...) by broadcasting, "
                         "which a CombinedLoss does not")
    if isinstance(weight, np.ndarray):
        raise ValueError("weight as one value per class cannot be honoured: the sigmoid focal "
                         "term has no class weights (and MONAI's Dice term leaves the weight "
                         "out where one class is scored); one number for every class can")
    factor, focal = _sigmoid_focal(include_background, to_onehot_y, gamma, alpha, weight,
                                   reduction, None)
    dice = DiceLoss(include_background=include_background, to_onehot_y=to_onehot_y,
                    sigmoid=sigmoid, softmax=softmax, other_act=other_act,
                    squared_pred=squared_pred, jaccard=jaccard, reduction=reduction,
                    smooth_nr=smooth_nr, smooth_dr=smooth_dr, batch=batch)
    # MONAI's Dice term multiplies every class's score by a number weight, then takes their
    # plain mean: the weight times the Dice loss, except on one channel, where it leaves
    # the weight out
    one_channel = None if weight is None else (
        f"MONAI's DiceFocalLoss leaves weight={weight} out of its Dice term there (it "
        f"scales the focal term only); for a single-channel input build it with "
        f"weight=None and lambda_focal={lambda_focal * weight} (lambda_focal * weight)")
    return CombinedLoss._from_config(dict(terms=[(lambda_dice * factor, dice),
                                                 (lambda_focal * factor, focal)],
                                          _target_channel=True,
                                          _refuse_one_channel=one_channel))
