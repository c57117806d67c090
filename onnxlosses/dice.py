"""Dice-family losses: Dice, Jaccard, Tversky and generalized Dice, from one statistics
kernel, with presets reproducing segmentation_models_pytorch and MONAI.

Per (sample or pooled batch, class) the kernel gives I = sum p t, P = sum p^k, T = sum t^k
(k = 2 when `squared`) over counted pixels.  Every score here is

    s = (a I + smooth) / max(bP P + bT T + c I + smooth_dr, eps)

    Dice      a = 2, bP = bT = 1, c = 0        2I / (P + T)
    Jaccard   a = 1, bP = bT = 1, c = -1       I / (P + T - I)
    Tversky   a = 1, bP = alpha, bT = beta,    I / (I + alpha FP + beta FN),
              c = 1 - alpha - beta             FP = P - I, FN = T - I

and the per-class loss is 1 - s, or -log(max(s, eps)) with log_loss (Tversky with gamma != 1:
max(1 - s, 0)^gamma, since s exceeds 1 when smooth > smooth_dr, or with squared sums and
alpha + beta < 1, and a fractional power of a negative number is not real; at gamma = 1 it
is 1 - s, as Dice).
Generalized Dice: 1 - (2 sum_c w_c I_c + smooth) / (sum_c w_c (P_c + T_c) + smooth_dr) per
sample (or pooled), w_c = 1 / T_c^2 ("square"), 1 / T_c ("simple") or 1 ("uniform"), an
infinite weight replaced by the largest finite one (MONAI's rule).

The gradient is exact: dL/dI and dL/dP per (sample, class) are computed here in float64 and
the kernel's second pass applies them through the activation.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from . import _boundary, _checks, _dice, _dice_scores, _gradient_stores, _target_scan
from ._base import Loss, class_axis_size, functional
from ._boundary import float_scalar
from ._layout import element_strides, exact_copy, remember, small, walk, writable_in_place
from ._softmax_ce import _tile_for
from ._spec import Example, LossSpec, Param, per_class
from ._threads import get_num_threads
from ._types import Absent, DiceMode, OptionalArray, Reduction, Weighting
from .stats import ieee_divide

_ACT = _dice.onnxl_activation     # how the kernel turns the input into probabilities

# What _prepare decided for arrays it uses as they are (plain ndarrays of the compute
# dtype, walkable, no mask; class indices, or dense targets without ignore_index): C, the
# positions' shape, the activation, the target scan's walk and the prepared kernels (by
# what the key leaves open, see _kernel), by the arrays' header key and the configuration's
# mode, from_logits, ignore_index and _target_channel.
PLAN_CACHE_SIZE = 64
_prepared = {}
PLAN_LAUNCHES = 8        # prepared kernels a plan keeps (see _DiceFamily._kernel)

MODES = ("binary", "multiclass", "multilabel")
ABSENT = ("keep", "zero", "skip")


def _optional_real(name, value):
    return None if value is None else _checks.nonnegative_real(name, value)


def _classes(name, value):
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.dtype.kind not in "iu" or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty list of class indices, got {value!r}")
    if len(set(arr.tolist())) != arr.size or arr.min() < 0:
        raise ValueError(f"{name} must hold distinct non-negative class indices, got {value!r}")
    return tuple(int(c) for c in arr)


def _optional_index(name, value):
    return None if value is None else _checks.integer(name, value)


COMMON = (
    Param("mode", "multiclass", _checks.choice(*MODES),
          "'binary' (sigmoid, one channel), 'multiclass' (softmax, class indices), "
          "'multilabel' (sigmoid per channel, dense targets)"),
    Param("from_logits", True, _checks.boolean, "apply the mode's activation to the input"),
    Param("smooth", 1.0, _checks.nonnegative_real, "added to numerator and denominator"),
    Param("smooth_dr", None, _optional_real, "denominator's smoothing; None: = smooth"),
    Param("eps", 0.0, _checks.nonnegative_real,
          "lower clamp of the denominator (and of the score under log_loss)"),
    Param("squared", False, _checks.boolean, "sums of squares p^2, t^2 in the denominator"),
    Param("weight", None, _checks.class_weight, "per-class weights of the average"),
    Param("ignore_index", None, _optional_index, "target value whose pixels are excluded"),
    Param("classes", None, _classes, "class indices to score; None: all"),
    Param("per_image", False, _checks.boolean, "score each sample, then average"),
    Param("log_loss", False, _checks.boolean, "-log(score) instead of 1 - score"),
    Param("absent", "keep", _checks.choice(*ABSENT),
          "a class with no target pixels: 'keep' its loss, 'zero' it (still counted), "
          "'skip' it in the average"),
    Param("reduction", "mean", _checks.reduction, "'mean', 'sum' or 'none'"),
)
# Internal switches: set by presets to reproduce another library's formula, never public.
_ONE = Param("_weight_mean", "sum", _checks.choice("sum", "count", "all"),
             "the weighted mean divides by the sum of the weights used, by their count "
             "(MONAI's), or by the count of all (sample,) class entries (the seed's)",
             internal=True)
_FACTOR = Param("_factor", 2.0, _checks.nonnegative_real,
                "the numerator's factor, 2 I (1 I in the seed's Dice)", internal=True)
_POW_AFTER = Param("_gamma_after_mean", False, _checks.boolean,
                   "Tversky's gamma applied to the mean (smp) instead of per class",
                   internal=True)
_JACCARD_2 = Param("_doubled", False, _checks.boolean,
                   "MONAI's jaccard, (2I + s) / (2 (P + T - I) + s)", internal=True)
_HARD = Param("_hard_targets", False, _checks.boolean,
              "dense targets must be 0 or 1 (smp's intersection is sum min(p, t), which is "
              "sum p t for hard targets only)", internal=True)
# MONAI's conventions, for its presets
_MONAI = (Param("_skip_class", None, _optional_index,
                "score every class of the input's C but this one (MONAI's "
                "include_background=False: 0; the seed's ignore_index)", internal=True),
          Param("_keep_spatial", False, _checks.boolean,
                "reduction 'none' keeps the input's rank with ones (MONAI's (N, C, 1, 1))",
                internal=True),
          Param("_target_channel", False, _checks.boolean,
                "class indices may come with a channel axis of 1, (N, 1, d1, ...) "
                "(MONAI's to_onehot_y=True)", internal=True))

def _targets(config):
    """multiclass: class indices (default) or dense one-hot / soft targets; else dense."""
    return ("index", "dense") if config["mode"] == "multiclass" else ("dense",)


def _class_axis(config, dense):
    """binary mode's dense targets may come without a channel axis"""
    return None if config["mode"] == "binary" and dense else 1


def scored_classes(config, C):
    """The classes a configuration scores for inputs of C classes: `classes`, every class
    but `_skip_class` (all of them for one class, as MONAI), or None for all.  C may be a
    symbolic dimension (a name): then only the count is known."""
    if config.get("classes"):
        return config["classes"]
    skip = config.get("_skip_class")
    if skip is not None and isinstance(C, (int, np.integer)) and C > 1:
        return tuple(c for c in range(C) if c != skip)
    return None


def _n_scored(config, C):
    """How many classes are scored (a name like "C-1" for a symbolic C)."""
    classes = scored_classes(config, C)
    if classes is not None:
        return len(classes)
    if config.get("_skip_class") is not None and not isinstance(C, (int, np.integer)):
        return f"{C}-1"
    return C


def _monai_shape(config, shape, natural):
    """MONAI's reduction "none" shape: the natural one padded with ones to the input's
    rank minus the pooled batch axis (per image (N, C, 1, 1), pooled (C, 1, 1))."""
    if not config.get("_keep_spatial"):
        return list(natural)
    pooled = 0 if config["per_image"] else 1
    return list(natural) + [1] * (len(shape) - len(natural) - pooled)


def _scores_shape(config, shape):
    """reduction "none": one loss per (sample when per image,) scored class."""
    samples = [shape[0]] if config["per_image"] else []
    if config["mode"] == "binary":
        return _monai_shape(config, shape, samples)
    return _monai_shape(config, shape, samples + [_n_scored(config, shape[1])])


def _per_sample_shape(config, shape):
    return _monai_shape(config, shape, [shape[0]] if config["per_image"] else [])


_FAMILY = dict(targets=_targets, class_axis=_class_axis, loss_shape=_scores_shape,
               # its kernel takes a softmax term beside the statistics (_fused.py)
               adds_softmax_term=lambda config: config["mode"] == "multiclass"
               and config["from_logits"],
               emit="_dice:emit_dice", reference="dice:dice_family",
               torch_reference="pytorch:dice_family")
DICE = LossSpec(
    "dice_loss", COMMON + (_ONE, _FACTOR, _HARD) + _MONAI, formula="s = (2I + smooth) / (P + T + smooth_dr)",
    examples=(Example("ignore=255", dict(ignore_index=255), "index255"),
              Example("smp preset", preset="smp"),
              Example("monai preset mask", dict(softmax=True), mask=True, preset="monai"),
              Example("monai no background none",
                      lambda C: dict(softmax=True, include_background=False, reduction="none",
                                     weight=per_class(C - 1)), preset="monai")),
    **_FAMILY)
JACCARD = LossSpec(
    "jaccard_loss", COMMON + (_ONE, _JACCARD_2, _HARD) + _MONAI,
    formula="s = (I + smooth) / (P + T - I + smooth_dr)",
    examples=(Example("log", dict(log_loss=True, eps=1e-7, per_image=True)),), **_FAMILY)
TVERSKY = LossSpec(
    "tversky_loss",
    COMMON + (Param("alpha", 0.5, _checks.nonnegative_real, "weight of false positives"),
              Param("beta", 0.5, _checks.nonnegative_real, "weight of false negatives"),
              Param("gamma", 1.0, _checks.nonnegative_real, "focal exponent of 1 - s"),
              _ONE, _POW_AFTER, _HARD) + _MONAI,
    formula="s = (I + smooth) / (I + alpha (P - I) + beta (T - I) + smooth_dr)",
    examples=(Example("smp preset", dict(alpha=0.3, beta=0.7, gamma=2.0), preset="smp"),),
    **_FAMILY)
GENERALIZED = LossSpec(
    "generalized_dice_loss",
    # one score over all classes: no per-class log_loss and no absent-class rule
    tuple(p for p in COMMON if p.name not in ("log_loss", "absent"))
    + (Param("weighting", "square", _checks.choice("square", "simple", "uniform"),
                    "class weights from target volumes: 1/T^2, 1/T or 1"),) + _MONAI,
    formula="1 - (2 sum_c w_c I_c + smooth) / (sum_c w_c (P_c + T_c) + smooth_dr)",
    examples=(Example("", dict(per_image=True, smooth=1e-5)),),
    **dict(_FAMILY, loss_shape=_per_sample_shape, emit="_dice:emit_generalized_dice"))


class _DiceFamily(Loss):
    """Shared evaluation: statistics, score, reduction, gradient."""

    def __init__(self, *, mode: DiceMode = "multiclass", from_logits: bool = True,
                 smooth: float = 1.0, smooth_dr: Optional[float] = None, eps: float = 0.0,
                 squared: bool = False, weight: OptionalArray = None,
                 ignore_index: Optional[int] = None,
                 classes: Optional[Sequence[int]] = None, per_image: bool = False,
                 log_loss: bool = False, absent: Absent = "keep",
                 reduction: Reduction = "mean") -> None:
        super().__init__(mode=mode, from_logits=from_logits, smooth=smooth, smooth_dr=smooth_dr, eps=eps,
                         squared=squared, weight=weight, ignore_index=ignore_index,
                         classes=classes, per_image=per_image, log_loss=log_loss,
                         absent=absent, reduction=reduction)

    def _coefficients(self):
        raise NotImplementedError

    def _class_count(self, input):
        return 1 if self._config["mode"] == "binary" else class_axis_size(input)

    # -- statistics ---------------------------------------------------------------------
    def _prepare(self, input, target, mask):
        cfg = self._config
        key = None
        if mask is None and not cfg.get("_hard_targets"):
            header = _boundary.header_key(input, target)
            if header is not None:
                key = (header, cfg["mode"], cfg["from_logits"], cfg["ignore_index"],
                       cfg.get("_target_channel", False))
                plan = _prepared.get(key)
                if plan is not None:
                    # the arrays are used as they are, and every check of their headers
                    # passed when the plan was made; class indices are scanned every call
                    C, pos, act, target_walk, launches = plan
                    index = target_walk is not None
                    if index:
                        _target_scan.scan(target, None, C, cfg["ignore_index"],
                                          walk=target_walk)
                    return dict(xin=input, x=input, t=target if index else None,
                                y=None if index else target, mask=None, C=C, pos=pos,
                                act=act, ii=cfg["ignore_index"], post_mask=None,
                                launches=launches)
        xin = _checks.float_array("input", input)
        if xin.ndim == 0:
            raise ValueError("input must be (N, C, d1, ...) (binary mode: (N, ...)), got a "
                             "scalar")
        x = exact_copy(xin.astype(np.float64 if xin.dtype == np.float64 else np.float32,
                                  copy=False))
        t = np.asarray(target)
        mode = cfg["mode"]
        ii = cfg["ignore_index"]
        post_mask = None
        if cfg.get("_target_channel") and t.dtype in _checks.INDEX_DTYPES and \
                t.ndim == xin.ndim and t.ndim >= 2 and t.shape[1] == 1 and xin.shape[1] > 1:
            t = t[:, 0]            # MONAI's (N, 1, d1, ...) class indices
            if mode != "multiclass":
                t = _one_hot(t, xin.shape[1], ii)
        if mode == "binary":
            if x.ndim >= 2 and x.shape[1] == 1:          # (N, 1, ...): targets (N, 1, ...)
                if t.shape == x.shape[:1] + x.shape[2:]:  # or (N, ...)
                    t = t[:, None]
            elif t.shape == x.shape:                      # no channel axis: add one to both
                x, t = x[:, None], t[:, None]
            else:
                raise ValueError(f"binary mode takes input (N, 1, ...) or (N, ...) and a "
                                 f"target of its shape, got {np.shape(input)} and "
                                 f"{np.shape(target)}")
        if x.ndim < 2:
            raise ValueError(f"input must be (N, C, d1, ...), got shape {np.shape(input)}")
        C = x.shape[1]
        if C == 0:
            raise ValueError(f"input must have at least one class, got shape "
                             f"{np.shape(input)}")
        pos = (x.shape[0],) + x.shape[2:]
        index = mode == "multiclass" and t.dtype in _checks.INDEX_DTYPES and t.shape == pos
        if mask is not None:   # one flag per pixel: the input without its class axis
            mask = _checks.bool_mask("mask", mask, pos)
        if index:
            y = None
            t = exact_copy(t)
            _target_scan.scan(t, None if mask is None else mask.view(np.uint8), C, ii)
        else:
            if t.shape != x.shape:
                raise ValueError(
                    f"{mode} mode needs a target of the input's shape {x.shape}"
                    + (f" or class indices of shape {pos}" if mode == "multiclass" else "")
                    + f", got {np.shape(target)} {t.dtype}")
            if t.dtype.kind not in "fiub":
                raise TypeError(f"target must be a real array, got dtype {t.dtype}")
            if cfg.get("_hard_targets"):
                soft = (t != 0) & (t != 1) & ((t != ii) if ii is not None else True)
                if np.any(soft):
                    raise ValueError(
                        f"target must be hard (0 or 1) under the smp preset, got "
                        f"{float(t[soft].flat[0])!r}: smp's intersection (sum p + sum t - "
                        f"sum |p - t|) / 2 is sum min(p, t) for soft targets, which this "
                        f"preset does not compute; use the loss's own configuration for them")
            y = exact_copy(t.astype(x.dtype, copy=False))
            if ii is not None:
                # elementwise ignore (smp binary / multilabel): p and t are zeroed there
                ignored = t == ii
                if mode == "binary" or C == 1:
                    keep = ~ignored.reshape(pos)
                    mask = keep if mask is None else (mask & keep)
                else:
                    post_mask = ~ignored
                    y = np.where(ignored, 0, y).astype(x.dtype)
                    x = np.where(ignored, -np.inf if cfg["from_logits"] else 0, x) \
                        .astype(x.dtype)
            t = None
        act = _ACT.ONNXL_ACT_IDENTITY
        if cfg["from_logits"]:
            act = _ACT.ONNXL_ACT_SOFTMAX if mode == "multiclass" else _ACT.ONNXL_ACT_SIGMOID
        if key is not None and x is input and mask is None and post_mask is None and \
                (t is target if index else y is target and ii is None):
            target_walk = _target_scan.target_walk(t, None) if index else None
            if small(target_walk):
                remember(_prepared, key, (C, pos, act, target_walk, {}), PLAN_CACHE_SIZE)
        return dict(xin=xin, x=x, t=t, y=y, mask=mask, C=C, pos=pos, act=act,
                    ii=ii, post_mask=post_mask)

    def _kernel(self, d, grad=None, term=False):
        """The Dice kernel prepared for d's arrays (and `grad`; `term`: with a softmax
        term), a _dice.Launch; a replayed plan keeps it (d["launches"])."""
        cfg, x = self._config, d["x"]
        launches, key = d.get("launches"), None
        if launches is not None:   # a replayed plan's: its arrays' headers are the plan's
            # what the plan's key leaves open: the configuration's per_image and squared,
            # x converted to float64 (_in_float64), the gradient's layout, the term
            key = (cfg["per_image"], cfg["squared"], term, x.strides, x.itemsize,
                   None if grad is None else (grad.strides, grad.itemsize))
            launch = launches.get(key)
            if launch is not None:
                return launch
        w = self._new_walk(d, grad)
        launch = _dice.Launch(w, self._groups(d), x, d["t"], d["y"], _mask_bytes(d), grad,
                              d["act"], cfg["squared"], _tile_for(d["C"]),
                              _gradient_stores.stream_gradient(grad), term)
        if key is not None and small(w) and len(launches) < PLAN_LAUNCHES:
            launches[key] = launch
        return launch

    def _new_walk(self, d, grad):
        x, t, y, mask = d["x"], d["t"], d["y"], d["mask"]
        pos = lambda s: (s[0],) + s[2:]
        strides = [pos(element_strides(x)),
                   None if t is None else element_strides(t),
                   None if y is None else pos(element_strides(y)),
                   None if mask is None else element_strides(mask),
                   None if grad is None else pos(element_strides(grad))]
        # per image, a run of positions never spans two samples; pooled, the samples are
        # one population and merge wherever the layout lets them (an (N, C) batch becomes
        # one run instead of N one-position runs, each with its own [C][3] partial slot)
        return walk(d["pos"], strides, keep_first=self._config["per_image"])

    def _groups(self, d):
        """How many statistics rows the kernel keeps: one per sample, or one pooled."""
        return d["x"].shape[0] if self._config["per_image"] else 1

    def _statistics(self, d, softmax_term=None):
        """(stats (G, C, 3), counts (G,)); with softmax_term (the kernel's tuple, see
        _dice.Launch) also the sum of that term's per-position losses."""
        x = d["x"]
        if x.size == 0:
            rows = self._groups(d)
            empty = np.zeros((rows, d["C"], 3)), np.zeros(rows, np.int64)
            return empty if softmax_term is None else empty + (0.0,)
        return self._kernel(d, None, softmax_term is not None).run(
            x, d["t"], d["y"], _mask_bytes(d), None, d["ii"], None, None, get_num_threads(),
            softmax_term)

    # -- evaluation ---------------------------------------------------------------------
    @property
    def _concat_parts(self):
        return ("stats",) if self._config["per_image"] else ()

    def _value_from_stats(self, parts):
        stats = parts["stats"]
        return np.float64(self._reduce(stats if stats.ndim == 3 else stats[None], False,
                                       None)[0])

    def _evaluate(self, input, target, mask, want_grad, grad_output, out, total=None,
                  stats_only=False):
        if want_grad:
            _checks.gradient_out(out, input, target)
            reduction = self._config["reduction"]
            if grad_output is not None and reduction != "none":
                _checks.scalar_grad_output(grad_output, reduction)
            elif grad_output is not None and np.asarray(grad_output).dtype.kind != "f":
                # the shape is known once the scored classes are (after the statistics)
                _checks.array_grad_output(grad_output, np.shape(grad_output))
        d = self._prepare(input, target, mask)
        stats, _ = self._statistics(d)
        if stats_only:
            return {"stats": stats if self._config["per_image"] else stats.sum(axis=0)}
        if total is None:
            natural = None
            if self._config["reduction"] == "none" and self._config["_keep_spatial"]:
                # MONAI's shape outside, the natural one inside
                cfg = dict(self._config, _keep_spatial=False)
                natural = tuple(self.spec.loss_shape(cfg, d["xin"].shape))
                outside = tuple(self.spec.loss_shape(self._config, d["xin"].shape))
                if grad_output is not None and want_grad:
                    grad_output = _checks.array_grad_output(grad_output, outside) \
                        .reshape(natural)
            value, dI, dP = self._reduce(stats, want_grad, grad_output)
            if natural is not None:
                value = np.reshape(value, outside)
        else:
            # pooled: the global sums give the coefficients; per image: this shard's samples,
            # with the global number (or weight) of scores as the mean's denominator
            g = total.parts["stats"]
            if self._config["per_image"]:
                norm = self._reduce(g, False, None, norm_only=True)
                if total.window is not None:   # a spatial tile: its samples' global sums
                    start, stop = total.window
                    if stop - start != stats.shape[0]:
                        raise ValueError(f"total.for_samples({start}, {stop}) does not match "
                                         f"this tile's {stats.shape[0]} samples")
                    stats = g[start:stop]
                _, dI, dP = self._reduce(stats, want_grad, grad_output, norm_override=norm)
            else:
                _, dI, dP = self._reduce(g[None], want_grad, grad_output)
                dI = np.broadcast_to(dI[:1], stats.shape[:2])
                dP = np.broadcast_to(dP[:1], stats.shape[:2])
            value = total.value()
        if isinstance(value, np.ndarray):
            value = value.astype(d["xin"].dtype)
        else:
            value = float_scalar(float(value), d["xin"].dtype)
        if not want_grad:
            return value, None
        return value, self._gradient(d, dI, dP, input, out)

    def _gradient(self, d, dI, dP, input, out, softmax_term=None):
        """The gradient pass: dL/dinput from dL/dI and dL/dP (N, C), into `out` when given,
        plus a softmax term's gradient (the kernel's tuple, see _dice.Launch)."""
        if d["x"].dtype == np.float32 and not _fits_float32(dI, dP):
            d = _in_float64(d)
        x = d["x"]
        direct = out is not None and out.dtype == x.dtype and d["post_mask"] is None \
            and writable_in_place(out, d["mask"])
        if direct:       # the kernel writes into the caller's buffer (a view for binary mode)
            grad = out if out.shape == x.shape else out[:, None]
            if x.size == 0:
                grad.fill(0)
        else:
            grad = np.zeros_like(x) if x.size == 0 else np.empty_like(x)
        if x.size:
            rows = self._groups(d)     # pooled: every sample's row is the same, pass one
            self._kernel(d, grad, softmax_term is not None).run(
                x, d["t"], d["y"], _mask_bytes(d), grad, d["ii"],
                np.ascontiguousarray(dI[:rows], np.float64),
                np.ascontiguousarray(dP[:rows], np.float64), get_num_threads(), softmax_term)
        if d["post_mask"] is not None:
            grad = np.where(d["post_mask"], grad, 0).astype(x.dtype)
        if direct:
            return out
        grad = grad.reshape(np.shape(input))
        if out is not None:
            out[...] = grad
            return out
        return grad.astype(d["xin"].dtype, copy=False)

    def _reduce(self, stats, want_grad, grad_output, norm_override=None, norm_only=False):
        """Value and dL/dI, dL/dP (N, C) from the statistics (N, C, 3), float64.
        norm_only: just the mean's denominator; norm_override: use that one instead."""
        cfg = self._config
        if not norm_only and cfg["reduction"] != "none" and not cfg["log_loss"] and \
                (cfg.get("gamma", 1.0) == 1.0 or cfg.get("_gamma_after_mean", False)) and \
                stats.dtype == np.float64 and stats.ndim == 3:
            compiled = self._reduce_compiled(stats, want_grad, grad_output, norm_override)
            if compiled is not None:
                return compiled
        return self._reduce_numpy(stats, want_grad, grad_output, norm_override, norm_only)

    def _reduce_numpy(self, stats, want_grad, grad_output, norm_override=None,
                      norm_only=False):
        """_reduce in float64 NumPy: every configuration."""
        cfg = self._config
        N, C = stats.shape[:2]
        per_image = cfg["per_image"]
        S = stats if per_image else stats.sum(axis=0, keepdims=True)
        I, P, T = S[..., 0], S[..., 1], S[..., 2]
        a, bP, bT, c = self._coefficients()
        s_nr = cfg["smooth"]
        s_dr = s_nr if cfg["smooth_dr"] is None else cfg["smooth_dr"]
        num = a * I + s_nr
        den_raw = bP * P + bT * T + c * I + s_dr
        eps = cfg["eps"]
        den = np.maximum(den_raw, eps)
        active = den_raw >= eps                     # the clamp passes the gradient
        with np.errstate(divide="ignore", invalid="ignore"):
            score = num / den
            # a den - num c without its c I terms, which cancel (see _dice_scores)
            ds_dI = np.where(active, (a * (bP * P + bT * T + s_dr) - s_nr * c) / den ** 2,
                             a / den)
            ds_dP = np.where(active, -num * bP / den ** 2, 0.0)
            if cfg["log_loss"]:
                clamped = np.maximum(score, eps)
                loss = -np.log(clamped)
                # 0 where the clamp holds; a NaN score keeps its NaN
                dl_ds = np.where(score < eps, 0.0, -1.0 / clamped)
            else:
                loss = 1.0 - score
                dl_ds = -np.ones_like(score)
            gamma = cfg.get("gamma", 1.0)
            if gamma != 1.0 and not cfg.get("_gamma_after_mean", False):
                # (max(1 - s, 0))^gamma; where the base is 0 the derivative is taken at its
                # limit from inside the clamp, 0 (for gamma < 1 the one-sided slope at
                # exactly 0 is infinite; focal loss makes the same choice at p_t = 1)
                base = np.maximum(loss, 0.0)
                dl_ds = dl_ds * gamma * np.where(base > 0, base ** (gamma - 1), 0.0)
                loss = base ** gamma
        used = np.ones(loss.shape, bool)
        scored = scored_classes(cfg, C)
        sel = _selected(scored, C)
        if sel is not None:
            used &= sel
        absent = T == 0
        if cfg["absent"] == "zero":
            loss = np.where(absent, 0.0, loss)
            dl_ds = np.where(absent, 0.0, dl_ds)
        elif cfg["absent"] == "skip":
            used = used & ~absent
        w = _class_weights(cfg["weight"], C)
        wu = np.where(used, w, 0.0)
        reduction = cfg["reduction"]
        with np.errstate(invalid="ignore", divide="ignore"):
            if reduction == "none":
                # one column per scored class in the order classes lists them, whatever
                # the data (skipped ones are NaN), as the exported graph
                cols = np.arange(C) if sel is None else np.array(scored)
                value = np.where(used, w * loss, np.nan)[:, cols]
                value = value if per_image else value[0]
                if cfg["mode"] == "binary":
                    value = value[..., 0]          # one channel: (N,) per image, () pooled
                go = np.ones(value.shape) if grad_output is None or not want_grad else \
                    _checks.array_grad_output(grad_output, value.shape).astype(np.float64)
                dv_dl = np.zeros(loss.shape)
                if cfg["mode"] == "binary":
                    go = go[..., None]
                dv_dl[:, cols] = (go if per_image else go[None]) * w[cols]
                dv_dl = np.where(used, dv_dl, 0.0)
            else:
                # a class left out (not scored, skipped) adds nothing, even a NaN loss (0/0
                # of an absent class predicted empty with smooth=0)
                terms = np.where(used, wu * loss, 0.0)
                total = terms.sum()
                norm = {"sum": wu.sum(), "count": used.sum(),
                        "all": used.size}[cfg.get("_weight_mean", "sum")]
                if norm_only:
                    return norm
                if norm_override is not None:
                    norm = norm_override
                g0 = _checks.scalar_grad_output(grad_output, reduction)
                if reduction == "sum":
                    value, dv_dl = total, wu * g0
                else:
                    # a mean over no scored class is NaN, and no class has a say: a zero
                    # gradient, as for nothing counted elsewhere
                    value = total / norm
                    dv_dl = wu * g0 / norm if used.any() else np.zeros_like(wu)
                if cfg.get("_gamma_after_mean", False) and cfg.get("gamma", 1.0) != 1.0:
                    gamma = cfg["gamma"]
                    base = max(value, 0.0)
                    dv_dl = dv_dl * gamma * (base ** (gamma - 1) if base > 0 else 0.0)
                    value = base ** gamma
        dI = _chain(dv_dl, dl_ds, ds_dI) if want_grad else None
        dP = _chain(dv_dl, dl_ds, ds_dP) if want_grad else None
        if want_grad and not per_image:
            dI, dP = np.broadcast_to(dI, (N, C)), np.broadcast_to(dP, (N, C))
        return value, dI, dP

    def _reduce_compiled(self, stats, want_grad, grad_output, norm_override):
        """_reduce's mean and sum without log_loss or a per-class gamma, the per-class math
        in _dice_scores (the same float64 operations in the same order, so the same bits);
        None where it cannot (a NaN denominator): then the NumPy code above decides."""
        cfg = self._config
        N, C = stats.shape[:2]
        per_image = cfg["per_image"]
        if per_image or N == 1:
            S, add_zero = stats, not per_image      # one row: its pooled sum is 0.0 + it
        else:
            S, add_zero = stats.sum(axis=0, keepdims=True), False
        S = np.ascontiguousarray(S)
        sel = _selected(scored_classes(cfg, C), C)
        w = None if cfg["weight"] is None else _class_weights(cfg["weight"], C)  # None: ones
        a, bP, bT, c = self._coefficients()
        s_nr = cfg["smooth"]
        s_dr = s_nr if cfg["smooth_dr"] is None else cfg["smooth_dr"]
        G = S.shape[0]
        work = np.empty((5, G, C))
        sums = _dice_scores.class_terms(
            S, work, a, bP, bT, c, s_nr, s_dr, cfg["eps"], w,
            None if sel is None else sel.view(np.uint8), _ABSENT[cfg["absent"]], add_zero)
        if sums is None:
            return None
        total, weight_sum, count = sums
        total = float(total)    # Python floats (made NumPy's at the end: float_scalar)
        norm = {"sum": weight_sum, "count": count,
                "all": G * C}[cfg.get("_weight_mean", "sum")]
        if norm_override is not None:
            norm = norm_override
        reduction = cfg["reduction"]
        g0 = _checks.scalar_grad_output(grad_output, reduction)
        if reduction == "sum":
            value, dv_kind = total, _dice_scores.DV_SUM
        else:
            # a mean over no scored class is NaN, and no class has a say: a zero gradient
            value = ieee_divide(total, float(norm))
            dv_kind = _dice_scores.DV_MEAN if count else _dice_scores.DV_ZERO
        gamma_on, gamma, factor = False, 1.0, 1.0
        if cfg.get("_gamma_after_mean", False) and cfg.get("gamma", 1.0) != 1.0:
            gamma = cfg["gamma"]
            base = max(np.float64(value), 0.0)      # NumPy's power: inf, not OverflowError
            gamma_on, factor = True, float(base ** (gamma - 1) if base > 0 else 0.0)
            value = base ** gamma
        else:
            value = float_scalar(value, _FLOAT64)     # the NumPy path's type
        if not want_grad:
            return value, None, None
        dI, dP = np.empty((G, C)), np.empty((G, C))
        _dice_scores.chain(work, dI, dP, dv_kind, g0, float(norm), gamma_on, gamma, factor)
        if not per_image:
            if N == 1:       # what broadcast_to gives, read-only, for a tenth of its cost
                dI.flags.writeable = dP.flags.writeable = False
            else:
                dI, dP = np.broadcast_to(dI, (N, C)), np.broadcast_to(dP, (N, C))
        return value, dI, dP


_ABSENT = {"keep": _dice_scores.ABSENT_KEEP, "zero": _dice_scores.ABSENT_ZERO,
           "skip": _dice_scores.ABSENT_SKIP}


def _one_hot(t, C, ignore_index):
    """MONAI's to_onehot_y for the sigmoid modes: dense one-hot targets of class indices;
    a pixel whose index is ignore_index gets it in every channel (so it is left out)."""
    hot = (t[:, None] == np.arange(C).reshape((1, C) + (1,) * (t.ndim - 1))).astype(np.float32)
    if ignore_index is not None:
        hot = np.where((t == ignore_index)[:, None], np.float32(ignore_index), hot)
    return hot


def _selected(classes, C):
    """The scored classes as a (C,) mask, or None for all of them."""
    if classes is None:
        return None
    if max(classes) >= C:
        raise ValueError(f"classes must lie in [0, {C}), got {list(classes)}")
    sel = np.zeros(C, bool)
    sel[list(classes)] = True
    return sel


def _class_weights(weight, C):
    if weight is None:
        return np.ones(C)
    if weight.shape[0] != C:
        raise ValueError(f"weight must have one value per class (C={C}), "
                         f"got length {weight.shape[0]}")
    return weight


def _chain(*factors):
    """The product of the chain rule's factors, 0 wherever one of them is exactly 0: a class
    not scored, a clamp that is active, an absent class zeroed, contributes nothing even
    where another factor is inf or NaN there (0/0 scores of classes that are not used).
    NaN from the data (a NaN input, a NaN grad_output) stays NaN elsewhere."""
    with np.errstate(invalid="ignore", over="ignore"):
        product = factors[0]
        for f in factors[1:]:
            product = product * f
    zero = np.zeros(np.shape(product), bool)
    for f in factors:
        zero |= np.asarray(f) == 0
    return np.where(zero, 0.0, product)


def _fits_float32(dI, dP):
    """True when the float32 gradient pass cannot overflow on its way: it casts dL/dI and
    dL/dP to float32 and forms dL/dp = A t + B k p^(k-1) (|.| <= |A| + 2|B| for p, t in
    [0, 1]) and then at most twice that through the activation."""
    if dI.ndim == 2 and dI.shape == dP.shape and dI.dtype == dP.dtype == np.float64:
        return _dice_scores.fits_float32(dI, dP, _FLOAT32_BOUND)
    return bool(np.all(np.abs(dI) + 2 * np.abs(dP) <= _FLOAT32_BOUND))


_FLOAT32_BOUND = float(np.finfo(np.float32).max / 8)
_FLOAT64 = np.dtype(np.float64)


def _mask_bytes(d):
    """The prepared mask as the kernel reads it (uint8), or None."""
    return None if d["mask"] is None else d["mask"].view(np.uint8)


def _in_float64(d):
    """The prepared arrays of a float32 call, in float64: coefficients beyond float32's
    range (a class with P + T near 0 and smooth=0 gives dL/dI ~ 1/P) become inf there,
    and inf * 0 is NaN where the true gradient is 0."""
    return dict(d, x=d["x"].astype(np.float64),
                y=None if d["y"] is None else d["y"].astype(np.float64))


class DiceLoss(_DiceFamily):
    """Soft Dice loss, ``1 - (2I + smooth) / (P + T + smooth_dr)`` per class; see the module
    docstring and docs/presets.md for every option and preset.

    Examples
    --------
    >>> import numpy as np
    >>> from onnxlosses import DiceLoss
    >>> p = np.array([[[0.9, 0.2]], [[0.1, 0.8]]]).transpose(1, 0, 2)   # (1, 2, 2)
    >>> # by hand: 1 - (2 * 0.9 / 2.1 + 2 * 0.8 / 1.9) / 2
    >>> round(float(DiceLoss(from_logits=False, smooth=0.0)(p, np.array([[0, 1]]))), 4)
    0.1504
    """

    spec = DICE

    def _coefficients(self):
        return self._config["_factor"], 1.0, 1.0, 0.0

    @classmethod
    def preset(cls, name, **overrides):
        """A DiceLoss configured as another library's: "smp" (segmentation_models_pytorch
        0.5 DiceLoss: its Tversky score with alpha = beta = 0.5, smooth=0, eps=1e-7 clamp,
        pooled over batch and space, absent classes zeroed but counted; hard targets only,
        smp's intersection (sum p + sum t - sum |p - t|) / 2 being sum p t only then),
        "monai" (MONAI DiceLoss: smooth_nr = smooth_dr = 1e-5, per image unless batch=True,
        weights multiply a plain mean, no activation unless softmax/sigmoid=True,
        include_background=False scores classes 1..C-1 with weight's C-1 entries,
        to_onehot_y=True takes (N, 1, ...) label maps, reduction "none" in MONAI's
        (N, C, 1, ...) shape; onnxlosses.presets.monai takes MONAI's arguments), "seed_binary" (the
        seed's BinaryDiceLoss: (sum p t + 1) / (sum p^2 + t^2 + 1) per sample, no factor 2,
        probabilities in) and "seed" (its multiclass DiceLoss: softmax, one-hot targets,
        per-class BinaryDiceLoss averaged over samples, one channel skipped with
        skip_class= (any C), weighted sum divided by the total number of classes; its weight path,
        which crashes in the seed, works here)."""
        return cls._from_config(_preset(name, "dice", overrides))


class JaccardLoss(_DiceFamily):
    """Soft Jaccard (IoU) loss, ``1 - (I + smooth) / (P + T - I + smooth_dr)`` per class."""

    spec = JACCARD

    def _coefficients(self):
        if self._config["_doubled"]:
            return 2.0, 2.0, 2.0, -2.0
        return 1.0, 1.0, 1.0, -1.0

    @classmethod
    def preset(cls, name, **overrides):
        """"smp" (JaccardLoss) or "monai" (DiceLoss(jaccard=True))."""
        return cls._from_config(_preset(name, "jaccard", overrides))


class TverskyLoss(_DiceFamily):
    """Tversky loss, ``max(1 - s, 0)^gamma`` per class with
    ``s = (I + smooth) / (I + alpha FP + beta FN + smooth_dr)`` (``1 - s`` at gamma = 1:
    alpha = beta = 0.5 is then Dice)."""

    spec = TVERSKY

    def __init__(self, *, mode: DiceMode = "multiclass", from_logits: bool = True,
                 smooth: float = 1.0, smooth_dr: Optional[float] = None, eps: float = 0.0,
                 squared: bool = False, weight: OptionalArray = None,
                 ignore_index: Optional[int] = None,
                 classes: Optional[Sequence[int]] = None, per_image: bool = False,
                 log_loss: bool = False, absent: Absent = "keep",
                 reduction: Reduction = "mean",
                 alpha: float = 0.5, beta: float = 0.5, gamma: float = 1.0) -> None:
        Loss.__init__(self, mode=mode, from_logits=from_logits, smooth=smooth,
                       smooth_dr=smooth_dr, eps=eps, squared=squared, weight=weight,
                       ignore_index=ignore_index, classes=classes, per_image=per_image,
                       log_loss=log_loss, absent=absent, reduction=reduction,
                       alpha=alpha, beta=beta, gamma=gamma)

    def _coefficients(self):
        a, b = self._config["alpha"], self._config["beta"]
        return 1.0, a, b, 1.0 - a - b

    @classmethod
    def preset(cls, name, **overrides):
        """"smp" (TverskyLoss: gamma applied to the mean over classes) or "monai"
        (TverskyLoss: per image unless batch=True, smooth 1e-5, a plain mean)."""
        return cls._from_config(_preset(name, "tversky", overrides))


class GeneralizedDiceLoss(_DiceFamily):
    """Generalized Dice loss (Sudre et al. 2017), MONAI's formulation."""

    spec = GENERALIZED

    def __init__(self, *, mode: DiceMode = "multiclass", from_logits: bool = True,
                 smooth: float = 1.0, smooth_dr: Optional[float] = None, eps: float = 0.0,
                 squared: bool = False, weight: OptionalArray = None,
                 ignore_index: Optional[int] = None,
                 classes: Optional[Sequence[int]] = None, per_image: bool = False,
                 reduction: Reduction = "mean", weighting: Weighting = "square") -> None:
        Loss.__init__(self, mode=mode, from_logits=from_logits, smooth=smooth,
                       smooth_dr=smooth_dr, eps=eps, squared=squared, weight=weight,
                       ignore_index=ignore_index, classes=classes, per_image=per_image,
                       reduction=reduction, weighting=weighting)

    def _reduce(self, stats, want_grad, grad_output, norm_override=None, norm_only=False):
        cfg = self._config
        N, C = stats.shape[:2]
        per_image = cfg["per_image"]
        if norm_only:
            return N if per_image else 1
        S = stats if per_image else stats.sum(axis=0, keepdims=True)
        keep = _selected(scored_classes(cfg, C), C)
        class_weight = _class_weights(cfg["weight"], C)
        if keep is not None:
            S = np.where(keep[None, :, None], S, 0.0)
        I, P, T = S[..., 0], S[..., 1], S[..., 2]
        with np.errstate(divide="ignore"):
            w = {"square": 1.0 / (T * T), "simple": 1.0 / T,
                 "uniform": np.ones_like(T)}[cfg["weighting"]]
        if keep is not None:
            w = np.where(keep[None, :], w, 0.0)
        inf = np.isinf(w)
        w = np.where(inf, 0.0, w)
        w = w + inf * w.max(axis=1, keepdims=True)
        w = w * class_weight
        s_nr = cfg["smooth"]
        s_dr = s_nr if cfg["smooth_dr"] is None else cfg["smooth_dr"]
        num = 2.0 * (w * I).sum(axis=1) + s_nr
        den_raw = (w * (P + T)).sum(axis=1) + s_dr
        den = np.maximum(den_raw, cfg["eps"])
        open_clamp = (den_raw >= cfg["eps"])[:, None] * 1.0   # a clamped den is a constant
        with np.errstate(invalid="ignore", divide="ignore"):
            loss = 1.0 - num / den                       # (S,)
            inv_den = (1.0 / den)[:, None]
        reduction = cfg["reduction"]
        if reduction == "none":
            value = loss if per_image else loss[0]
            go = np.ones(np.shape(value)) if grad_output is None or not want_grad else \
                _checks.array_grad_output(grad_output, np.shape(value)).astype(np.float64)
            dv = go.reshape(-1)
        else:
            g0 = _checks.scalar_grad_output(grad_output, reduction)
            n_scores = loss.size if norm_override is None else norm_override
            with np.errstate(invalid="ignore", divide="ignore"):   # no samples: NaN
                value = loss.sum() if reduction == "sum" else loss.sum() / np.float64(loss.size)
                dv = np.full(loss.shape, g0 if reduction == "sum" else g0 / np.float64(n_scores))
        if not want_grad:
            return value, None, None
        dI = _chain(dv[:, None], -2.0 * w, inv_den)
        dP = _chain(dv[:, None], num[:, None] * w, inv_den * inv_den, open_clamp)
        if not per_image:
            dI, dP = np.broadcast_to(dI, (N, C)), np.broadcast_to(dP, (N, C))
        return value, dI, dP

    @classmethod
    def preset(cls, name, **overrides):
        """"monai" (GeneralizedDiceLoss: per image unless batch=True, smooth 1e-5)."""
        return cls._from_config(_preset(name, "generalized", overrides))


def _public(overrides):
    internal = sorted(k for k in overrides if k.startswith("_"))
    if internal:
        raise TypeError(f"preset got unexpected keyword argument(s) {internal}")
    return overrides


def _preset(name, family, overrides):
    """The configuration (internal switches included) of preset `name` for `family`, with
    `overrides`: the preset's own keywords (another library's names) or public parameters."""
    o = dict(overrides)
    if name == "smp":
        if family == "generalized":
            raise ValueError("segmentation_models_pytorch has no generalized Dice loss")
        mode = o.pop("mode", "multiclass")
        smooth, eps = o.pop("smooth", 0.0), o.pop("eps", 1e-7)
        cfg = dict(mode=mode, smooth=smooth, eps=eps, absent="zero", per_image=False,
                   from_logits=o.pop("from_logits", True))
        if family != "generalized":
            cfg["_hard_targets"] = True
        if family == "dice":
            # smp 0.5's Dice is its Tversky score with alpha = beta = 0.5:
            # (I + s) / max((P + T) / 2 + s, eps) = (2I + 2s) / max(P + T + 2s, 2 eps)
            cfg.update(smooth=2 * smooth, eps=2 * eps)
        if family == "tversky":
            cfg["_gamma_after_mean"] = True
        cfg.update(_public(o))
        return cfg
    if name == "monai":
        for unsupported in ("other_act",):
            if o.pop(unsupported, None) is not None:
                raise ValueError(f"{unsupported} (a callable) cannot be honoured by a preset: "
                                 f"use from_logits=False on activated inputs instead")
        if o.pop("soft_label", False):
            raise ValueError("soft_label=True is not supported by the monai preset")
        softmax, sigmoid = o.pop("softmax", False), o.pop("sigmoid", False)
        include_background = o.pop("include_background", True)
        batch = o.pop("batch", False)
        mode = o.pop("mode", "multilabel" if sigmoid else "multiclass")
        cfg = dict(mode=mode, from_logits=bool(softmax or sigmoid),
                   smooth=o.pop("smooth_nr", 1e-5), smooth_dr=o.pop("smooth_dr", 1e-5),
                   per_image=not batch, _keep_spatial=True,
                   _target_channel=bool(o.pop("to_onehot_y", False)))
        if family != "tversky":
            cfg["squared"] = o.pop("squared_pred", False)
        if family != "generalized":
            cfg["_weight_mean"] = "count"
        else:
            cfg["weighting"] = o.pop("w_type", "square")
        if family == "jaccard":
            cfg["_doubled"] = True
        C = o.pop("num_classes", None)     # no longer needed: the input says how many
        weight = o.get("weight")
        if weight is not None and np.ndim(weight) == 0:
            if C is None:
                raise ValueError("a single weight for every class needs the number of "
                                 "classes: pass a list, one weight per scored class")
            o["weight"] = [weight] * (C - (0 if include_background else 1))
        if not include_background:
            cfg["_skip_class"] = 0
            if o.get("weight") is not None:
                # MONAI's weight has no entry for the background class 0, which is not
                # scored: it gets 1 here, whatever (one per class for the kernels)
                o["weight"] = np.concatenate([[1.0], np.asarray(o["weight"], np.float64)])
        cfg.update(_public(o))
        return cfg
    if name in ("seed", "seed_binary"):
        if family != "dice":
            raise ValueError("the seed presets are Dice losses")
        cfg = dict(smooth=o.pop("smooth", 1.0), squared=o.pop("p", 2) == 2, per_image=True,
                   _factor=1.0, absent="keep")
        if name == "seed_binary":
            cfg.update(mode="binary", from_logits=False)
        else:
            skip = o.pop("skip_class", None)
            o.pop("num_classes", None)     # no longer needed: the input says how many
            if skip is not None:
                cfg["_skip_class"] = _checks.integer("skip_class", skip)
            cfg.update(mode="multiclass", from_logits=True, _weight_mean="all")
        cfg.update(_public(o))
        return cfg
    raise ValueError(f"preset must be 'smp', 'monai', 'seed' or 'seed_binary', got {name!r}")


dice_loss = functional(DiceLoss, "dice_loss", "Soft Dice loss; see DiceLoss.")
jaccard_loss = functional(JaccardLoss, "jaccard_loss", "Soft Jaccard loss; see JaccardLoss.")
tversky_loss = functional(TverskyLoss, "tversky_loss", "Tversky loss; see TverskyLoss.")
generalized_dice_loss = functional(GeneralizedDiceLoss, "generalized_dice_loss",
                                   "Generalized Dice loss; see GeneralizedDiceLoss.")
