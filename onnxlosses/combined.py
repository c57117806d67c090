"""Weighted sums of losses on the same input and target: cross-entropy + Dice, focal + Dice.

    L(x, t) = sum_k w_k L_k(x, t)

``ce + 0.5 * dice`` builds one; so do ``CombinedLoss([(1.0, ce), (0.5, dice)])`` and
``sum(losses)``.  A combined loss is a loss like any other: its value is the weighted sum of
its terms' values, its gradient (``value_and_grad``, ``out=``) the weighted sum of theirs
written into one array, its statistics each term's (``.value()`` is the weighted sum of each
term's exact value), and ``to_onnx()`` exports one graph in which the terms share every node
they have in common (the log-softmax of the logits, the target checks).

Terms must read the input the same way (logits, log-probabilities or probabilities, with the
class axis in the same place), share a target kind, and either all reduce to a number or all
keep one value per position or element (reduction "none", with the same shape).  A mismatch
is a ValueError at construction.  Each term applies its own ``ignore_index``: a class index
one term ignores and another does not is checked (and refused when out of range) by that
other term, and an exported graph ignores only what every term ignores.
"""
from __future__ import annotations

import dataclasses
from numbers import Real
from typing import Sequence, Tuple

import numpy as np

from . import _fused
from ._base import Loss, functional
from ._checks import boolean
from ._spec import Example, LossSpec, Param


def _check_terms(name, value):
    """(weight, loss) pairs, nested combined losses flattened, checked to fit together."""
    if isinstance(value, (Loss, str, bytes)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{name} must be a sequence of (weight, loss) pairs, got {value!r}")
    terms = []
    for i, pair in enumerate(value):
        if isinstance(pair, Loss):
            pair = (1.0, pair)
        try:
            weight, loss = pair
        except (TypeError, ValueError):
            raise TypeError(f"{name}[{i}] must be a (weight, loss) pair, got {pair!r}") from None
        if isinstance(weight, (bool, np.bool_)) or not isinstance(weight, Real):
            raise TypeError(f"{name}[{i}]'s weight must be a real number, got {weight!r}")
        if not np.isfinite(weight):
            raise ValueError(f"{name}[{i}]'s weight must be finite, got {weight!r}")
        if not isinstance(loss, Loss):
            raise TypeError(f"{name}[{i}] must pair a weight with an onnxlosses loss, "
                            f"got {loss!r}")
        if isinstance(loss, CombinedLoss):
            terms += [(float(weight) * w, term) for w, term in loss.terms]
        else:
            terms.append((float(weight), loss))
    if not terms:
        raise ValueError(f"{name} must hold at least one (weight, loss) pair")
    _check_compatible(terms)
    return tuple(terms)


def _check_compatible(terms):
    first = terms[0][1]
    for _, loss in terms[1:]:
        if loss.spec.input != first.spec.input:
            raise ValueError(f"the terms must read the same input: {first!r} takes "
                             f"{first.spec.input}, {loss!r} takes {loss.spec.input}")
    kinds = _common_kinds(terms)
    if not kinds:
        raise ValueError("the terms take no common target kind: " + "; ".join(
            f"{loss!r} takes {', '.join(loss.spec.target_kinds(loss.config))}"
            for _, loss in terms))
    dense = kinds[0] != "index"
    axes = {loss.spec.class_axis(loss.config, dense) for _, loss in terms} - {None}
    if len(axes) > 1:
        raise ValueError("the terms must see the class axis in the same place: " + "; ".join(
            f"{loss!r}: {loss.spec.class_axis(loss.config, dense)}" for _, loss in terms))
    per_element = [loss.config.get("reduction") == "none" for _, loss in terms]
    if any(per_element) and not all(per_element):
        raise ValueError("the terms must all reduce to a number or all keep reduction "
                         "'none': " + ", ".join(f"{loss!r}" for _, loss in terms))
    if all(per_element):
        probe = ["N", "C", "H", "W"]
        shapes = {tuple(loss.spec.loss_shape(loss.config, probe)) for _, loss in terms}
        if len(shapes) > 1:
            raise ValueError(f"reduction 'none' gives the terms different shapes "
                             f"({sorted(shapes)} for an input (N, C, H, W)): they cannot add")


def _optional_message(name, value):
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be None or a message (str), got {value!r}")
    return value


def _takes(loss, kind):
    """Whether `loss` takes targets of `kind` (class probabilities are dense targets too)."""
    kinds = loss.spec.target_kinds(loss.config)
    return kind in kinds or (kind == "probabilities" and "dense" in kinds)


def _common_kinds(terms):
    """The target kinds every term takes, in the first term's order of preference."""
    first = terms[0][1]
    order = []
    for k in first.spec.target_kinds(first.config):
        order += ["probabilities", "dense"] if k == "dense" else [k]
    return tuple(dict.fromkeys(k for k in order if all(_takes(loss, k) for _, loss in terms)))


def _target_kinds(config):
    """The target kinds every term takes."""
    return _common_kinds(config["terms"])


def _reduction_of(terms):
    return "none" if terms[0][1].config.get("reduction") == "none" else "mean"


def _first(config):
    return config["terms"][0][1]


COMBINED = LossSpec(
    "combined_loss",
    (Param("terms", (), _check_terms,
           "(weight, loss) pairs: the loss is sum_k weight_k loss_k(input, target)"),
     # derived from the terms, never passed: whether they reduce to a number ("mean") or
     # keep one value per position ("none"), and the class index every term ignores
     Param("reduction", "mean", lambda name, value: value, internal=True),
     Param("ignore_index", None, lambda name, value: value, internal=True),
     # MONAI's DiceCELoss: class indices may come as (N, 1, d1, ...)
     Param("_target_channel", False, boolean, internal=True),
     Param("_refuse_one_channel", None, _optional_message,
           "None, or the ValueError's message for an input with a single channel (C = 1), "
           "where the library a preset follows computes another loss than these terms",
           internal=True)),
    formula="""
    L = sum_k w_k L_k(input, target), each term with its own parameters and reduction;
    gradient sum_k w_k dL_k/dinput.
    """,
    targets=_target_kinds,
    class_axis=lambda config, dense: next(
        (a for a in (loss.spec.class_axis(loss.config, dense) for _, loss in config["terms"])
         if a is not None), None),
    fixed_classes=lambda config: next(
        (c for c in (loss.spec.fixed_classes(loss.config) for _, loss in config["terms"])
         if c is not None), None),
    loss_shape=lambda config, shape: _first(config).spec.loss_shape(_first(config).config,
                                                                    shape),
    emit="_combined:emit",
    positional=("terms",),
    # per position where every term is
    local=lambda config: all(loss.spec.local(loss.config) for _, loss in config["terms"]),
    reference="combined:numpy_reference", torch_reference="combined:torch_reference",
    examples=(
        Example("ce + 0.5 dice", lambda C: dict(terms=_example_terms(C, "ce")), "index255"),
        Example("focal + dice", lambda C: dict(terms=_example_terms(C, "focal")), "index",
                mask=True),
        Example("ce + generalized dice, probabilities",
                lambda C: dict(terms=_example_terms(C, "soft")), "probabilities"),
        Example("bce + dice, multilabel", lambda C: dict(terms=_example_terms(C, "dense")),
                "dense"),
        Example("none", lambda C: dict(terms=_example_terms(C, "none")), "index"),
    ))


def _example_terms(C, which):
    """Terms of the registry's example configurations (imported late: the loss modules
    import this one's siblings)."""
    from .bce import BCEWithLogitsLoss
    from .cross_entropy import CrossEntropyLoss
    from .dice import DiceLoss, GeneralizedDiceLoss
    from .focal import FocalLoss
    from ._spec import per_class
    if which == "ce":
        return [(1.0, CrossEntropyLoss(ignore_index=255, label_smoothing=0.1)),
                (0.5, DiceLoss(ignore_index=255))]
    if which == "focal":
        return [(1.0, FocalLoss(gamma=2.0)), (1.0, DiceLoss(squared=True))]
    if which == "soft":
        return [(0.7, CrossEntropyLoss(weight=per_class(C))),
                (0.3, GeneralizedDiceLoss(mode="multilabel", from_logits=True))]
    if which == "dense":
        return [(1.0, BCEWithLogitsLoss()), (2.0, DiceLoss(mode="multilabel"))]
    return [(1.0, CrossEntropyLoss(reduction="none")),
            (0.25, FocalLoss(gamma=1.5, reduction="none"))]


class CombinedLoss(Loss):
    """A weighted sum of losses on the same input and target; see the module docstring.

    Examples
    --------
    >>> import numpy as np
    >>> from onnxlosses import CrossEntropyLoss, DiceLoss
    >>> x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)
    >>> t = np.random.default_rng(1).integers(0, 3, (2, 4, 4))
    >>> loss = CrossEntropyLoss() + 0.5 * DiceLoss()
    >>> bool(np.isclose(loss(x, t), CrossEntropyLoss()(x, t) + 0.5 * DiceLoss()(x, t)))
    True
    """

    spec = COMBINED

    def __init__(self, terms: Sequence[Tuple[float, Loss]] = ()) -> None:
        Loss.__init__(self, terms=terms)
        self._finish()

    @classmethod
    def _from_config(cls, params):
        loss = super()._from_config(params)
        loss._finish()
        return loss

    def _finish(self):
        """The derived reduction, and this instance's spec: what the terms read."""
        terms = self._config["terms"]
        self._config["reduction"] = _reduction_of(terms)
        ignored = {loss.config.get("ignore_index") for _, loss in terms}
        self._config["ignore_index"] = ignored.pop() if len(ignored) == 1 else None
        losses = [loss for _, loss in terms]
        self.spec = dataclasses.replace(
            COMBINED, input=losses[0].spec.input,
            takes_mask=all(loss.spec.takes_mask for loss in losses),
            mask_over="elements" if any(loss.spec.mask_over == "elements" for loss in losses)
            else "positions",
            torch_has_loss=all(loss.spec.torch_has_loss for loss in losses))

    @property
    def terms(self) -> Tuple[Tuple[float, Loss], ...]:
        """The (weight, loss) pairs."""
        return self._config["terms"]

    def __repr__(self):
        parts = [repr(loss) if w == 1 else f"{w!r} * {loss!r}" for w, loss in self.terms]
        return " + ".join(parts) if len(parts) > 1 else f"CombinedLoss([{self.terms[0]!r}])"

    def _class_count(self, input):
        return next((c for c in (loss._class_count(input) for _, loss in self.terms)
                     if c is not None), None)

    # -- statistics: each term's, under its index ---------------------------------------
    @property
    def _concat_parts(self):
        return tuple(f"{k}.{name}" for k, (_, loss) in enumerate(self.terms)
                     for name in loss._concat_parts)

    def _split(self, parts):
        """Each term's statistics out of the combined ones."""
        split = [{} for _ in self.terms]
        for key, value in parts.items():
            k, name = key.split(".", 1)
            split[int(k)][name] = value
        return split

    def _value_from_stats(self, parts):
        return np.float64(sum(w * np.float64(loss._value_from_stats(p))
                              for (w, loss), p in zip(self.terms, self._split(parts))))

    def _term_totals(self, total):
        from .stats import LossStats
        return [LossStats(loss, p, loss._concat_parts, window=total.window,
                          classes=total.classes)
                for (_, loss), p in zip(self.terms, self._split(total.parts))]

    # -- evaluation -----------------------------------------------------------------------
    def _check_mask(self, mask):
        if mask is not None and not self.spec.takes_mask:
            refusing = [repr(loss) for _, loss in self.terms if not loss.spec.takes_mask]
            raise TypeError(f"mask is not supported: {', '.join(refusing)} take(s) none")

    def _check_target(self, target):
        kinds = self.spec.target_kinds(self._config)
        if "index" not in kinds and np.asarray(target).dtype.kind in "iub":
            takes = "; ".join(f"{loss!r} takes {', '.join(loss.spec.target_kinds(loss.config))}"
                              for _, loss in self.terms)
            raise TypeError(f"target must be float ({' or '.join(kinds)} of the input's shape): "
                            f"the terms share no class-index targets ({takes})")

    def _check_channels(self, input):
        why = self._config["_refuse_one_channel"]
        if why is not None and np.ndim(input) >= 2 and np.shape(input)[1] == 1:
            raise ValueError(f"input has a single channel, shape {np.shape(input)}: {why}")

    def _evaluate(self, input, target, mask, want_grad, grad_output, out, total=None,
                  stats_only=False):
        self._check_channels(input)
        self._check_mask(mask)
        self._check_target(target)
        if self._config["_target_channel"]:
            t = np.asarray(target)
            if t.dtype.kind in "iu" and t.ndim == np.ndim(input) >= 2 and t.shape[1] == 1 \
                    and np.shape(input)[1] > 1:
                target = t[:, 0]        # MONAI's (N, 1, d1, ...) class indices
        if stats_only:
            parts = {}
            for k, (_, loss) in enumerate(self.terms):
                term = loss._evaluate(input, target, mask, False, None, None, stats_only=True)
                parts.update({f"{k}.{name}": v for name, v in term.items()})
            return parts
        totals = self._term_totals(total) if total is not None else [None] * len(self.terms)
        dtype = _value_dtype(input)
        value = None
        grad = None
        terms = list(self.terms)
        fusing = _fused.pair(terms) if total is None else None
        if fusing is not None:
            # a softmax loss and a Dice-family loss in one kernel (None: not for these
            # arguments, and each term runs on its own)
            fused = _fused.evaluate(terms[fusing[0]], terms[fusing[1]], input, target, mask,
                                    want_grad, grad_output, out)
            if fused is not None:
                value, grad = fused
                terms = [t for k, t in enumerate(terms) if k not in fusing]
                totals = [None] * len(terms)
        spare = None        # one scratch gradient, reused by every term after the first
        for (w, loss), term_total in zip(terms, totals):
            if not want_grad:
                v, _ = loss._evaluate(input, target, mask, False, None, None, total=term_total)
            else:
                go, after = _share(grad_output, w, self._config["reduction"] == "none")
                if grad is None:
                    v, grad = loss._evaluate(input, target, mask, True, go, out,
                                             total=term_total)
                    if after != 1:
                        grad *= after
                else:
                    v, spare = loss._evaluate(input, target, mask, True, go, spare,
                                              total=term_total)
                    if after != 1:
                        spare *= after
                    grad += spare
            v = w * np.asarray(v, dtype=np.float64)
            value = v if value is None else value + v
        value = value.astype(dtype) if value.ndim else dtype.type(value)
        return value, grad


def _value_dtype(input):
    """The dtype of the loss value: the input's float type (float16, 32 or 64)."""
    dt = np.asarray(input).dtype
    return dt if dt in (np.float16, np.float32, np.float64) else np.dtype(np.float64)


def _share(grad_output, weight, per_element):
    """(grad_output for a term, factor for its gradient afterwards): the term's share of
    the gradient is its weight times grad_output.  With no grad_output and reduction
    "none" (one value per position, whose shape the term knows) the term's gradient is
    scaled afterwards."""
    if grad_output is None:
        return (None, weight) if per_element else (np.float64(weight), 1.0)
    g = np.asarray(grad_output)
    if g.dtype.kind not in "fiu":
        return grad_output, 1.0         # the term's own check says what is wrong
    return g * weight, 1.0


combined_loss = functional(
    CombinedLoss, "combined_loss",
    "sum_k w_k loss_k(input, target) for `terms`, (w_k, loss_k) pairs; see CombinedLoss.")
