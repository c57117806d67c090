"""The user-facing loss object: one configured loss, callable, differentiable."""
from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any, Dict, Optional, Sequence, Tuple

import numpy as np

from ._types import ArrayLike, OptionalArray, Value

if TYPE_CHECKING:
    import onnx

    from .stats import LossStats


class Loss:
    """Base class of every configured loss.

    Subclasses set `spec` (a LossSpec) and implement `_evaluate(input, target, mask,
    want_grad, grad_output, out) -> (value, grad)`.
    """

    spec = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        spec = cls.__dict__.get("spec")
        if spec is not None and cls.__doc__ and "Parameters\n" not in cls.__doc__:
            cls.__doc__ = _with_parameters(inspect.cleandoc(cls.__doc__), spec)

    def __init__(self, **params):
        self._config = self.spec.bind(params)

    @classmethod
    def _from_config(cls, params):
        """A loss configured with internal switches too (presets, unpickling)."""
        loss = cls.__new__(cls)
        loss._config = cls.spec.bind(params, internal=True)
        return loss

    def __getattr__(self, name):
        config = self.__dict__.get("_config", {})
        if name in config:
            return config[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def config(self) -> Dict[str, Any]:
        """The validated parameters, as a new dict."""
        return dict(self._config)

    def __repr__(self):
        changed = []
        for name, value in self._config.items():
            default = self.spec.defaults[name]
            same = (value is None and default is None) if isinstance(value, np.ndarray) \
                else value == default
            if not same:
                shown = " ".join(np.array2string(value, separator=", ", threshold=8,
                                                 edgeitems=2).split()) \
                    if isinstance(value, np.ndarray) else repr(value)
                changed.append(f"{name}={shown}")
        return f"{type(self).__name__}({', '.join(changed)})"

    # -- weighted sums: ce + 0.5 * dice is a CombinedLoss (combined.py) ---------------------
    def __add__(self, other):
        from .combined import CombinedLoss
        if isinstance(other, Loss):
            return CombinedLoss([(1.0, self), (1.0, other)])
        return NotImplemented

    def __radd__(self, other):
        if isinstance(other, (int, float)) and not isinstance(other, bool) and other == 0:
            return self                          # sum() starts from 0
        return NotImplemented

    def __mul__(self, weight):
        from .combined import CombinedLoss
        from numbers import Real
        if isinstance(weight, Real) and not isinstance(weight, bool):
            return CombinedLoss([(weight, self)])
        return NotImplemented

    __rmul__ = __mul__

    def __truediv__(self, divisor):
        return self * (1.0 / divisor) if isinstance(divisor, (int, float)) and \
            not isinstance(divisor, bool) else NotImplemented

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        return self + (-1.0) * other if isinstance(other, Loss) else NotImplemented

    def __call__(self, input: ArrayLike, target: ArrayLike, *,
                 mask: OptionalArray = None) -> Value:
        """The loss value: a NumPy scalar of the input's dtype, or an array for "none"."""
        return self._evaluate(input, target, mask, False, None, None)[0]

    def value_and_grad(self, input: ArrayLike, target: ArrayLike,
                       grad_output: OptionalArray = None, out: Optional[np.ndarray] = None, *,
                       mask: OptionalArray = None,
                       total: Optional["LossStats"] = None) -> Tuple[Value, np.ndarray]:
        """`(value, grad)`: grad is d sum(grad_output * loss) / d input.

        `grad_output` defaults to 1; for reduction "none" it has the target's shape.  The
        gradient has the input's shape and dtype and is written into `out` when given.
        With `total` (a LossStats of all the data, this shard included) the value is the
        global loss and the gradient that of the global loss with respect to this shard.
        """
        if total is not None:
            from .stats import LossStats, require_reduction
            require_reduction(self)
            if not isinstance(total, LossStats) or not total._same_loss(
                    LossStats(self, {})):
                raise ValueError(f"total must be statistics of {self!r} (loss.stats(...))")
            classes = self._class_count(input)
            if classes is not None and total.classes != classes:
                raise ValueError(f"total must be statistics of inputs with the input's "
                                 f"C={classes} classes, got statistics of C={total.classes}")
        return self._evaluate(input, target, mask, True, grad_output, out, total=total)

    def stats(self, input: ArrayLike, target: ArrayLike, *,
              mask: OptionalArray = None) -> "LossStats":
        """Sufficient statistics of this loss on (input, target): a LossStats that adds
        with others and gives the loss of all of them with `.value()`."""
        from .stats import LossStats, require_reduction
        require_reduction(self)
        parts = self._evaluate(input, target, mask, False, None, None, stats_only=True)
        return LossStats(self, parts, self._concat_parts, classes=self._class_count(input))

    _concat_parts = ()   # statistics that concatenate per sample rather than add

    def _class_count(self, input):
        """C of an input that passed the checks, or None for losses without a class axis
        (statistics of different C never add)."""
        return None

    def __reduce__(self):
        # rebuilt through the constructor, so arrays in the configuration come back
        # validated and read-only (a plain unpickle would make them writeable)
        return (_rebuild, (type(self), self._config))

    def _value_from_stats(self, parts):
        """The loss from its statistics (float64); losses with a loss sum and a mean's
        denominator share this one."""
        from .stats import mean_value
        return mean_value(parts, self._config["reduction"])

    def to_onnx(self, opset: Optional[int] = None, dtype: str = "float32",
                target_dtype: Optional[str] = None, shape: Optional[Sequence] = None, *,
                ndim: Optional[int] = None, grad: bool = False, impl: str = "composed",
                mask: bool = False, check_targets: bool = True) -> "onnx.ModelProto":
        """This loss as a checked `onnx.ModelProto` with inputs `input`, `target` (and
        `mask` when mask=True) and output `loss` (and `grad`, d sum(loss) / d input, when
        grad=True).

        opset: 13 up to the newest the installed onnxruntime runs (default 18, IR 8).
        dtype: the input's float type; float16 is computed in float32 inside the graph.
        target_dtype: None (int64 class indices for cross-entropy, NLL and focal; the
        input's float type for BCE and sigmoid focal), an integer type for class indices,
        or the input's float type for probabilities / dense targets.  shape: the input's shape, ints or names; by default
        ("N", C, "H", "W") with C fixed by the weight when there is one; `ndim` picks
        another rank.  impl: "composed" (elementary ops, default) or "native" (the ONNX
        loss operators, where they can express the configuration).  check_targets: with
        class-index targets, a counted target outside [0, C) makes the loss and gradient NaN
        (False leaves the check out of the graph).
        """
        from .onnx import to_onnx
        return to_onnx(self, opset=opset, dtype=dtype, target_dtype=target_dtype, shape=shape,
                       ndim=ndim, grad=grad, impl=impl, mask=mask, check_targets=check_targets)


def _with_parameters(doc, spec):
    """`doc` with a numpydoc Parameters section written from the spec's public parameters,
    placed before Notes / Examples (or at the end)."""
    lines = ["Parameters", "----------"]
    for p in spec.public:
        lines += [f"{p.name} : default {p.default!r}", f"    {p.doc}"]
    block = "\n".join(lines) + "\n\n"
    for head in ("Notes\n-----", "Examples\n--------"):
        at = doc.find(head)
        if at >= 0:
            return doc[:at] + block + doc[at:]
    return doc.rstrip() + "\n\n" + block


def _rebuild(cls, config):
    return cls._from_config(config)


def class_axis_size(input):
    """C of an input laid out (C,), (N, C) or (N, C, d1, ...), without converting it."""
    shape = np.shape(input)
    return shape[1] if len(shape) > 1 else shape[0] if shape else None


def functional(cls, name, summary):
    """The functional form of loss class `cls`: `name(input, target, *, <the constructor's
    keywords>, mask=None)`, its signature (what help() and introspection show) taken from
    the constructor, so the two cannot drift apart."""
    ctor = list(inspect.signature(cls.__init__).parameters.values())[1:]
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    signature = inspect.Signature(
        [inspect.Parameter("input", positional, annotation="ArrayLike"),
         inspect.Parameter("target", positional, annotation="ArrayLike")] + ctor +
        [inspect.Parameter("mask", inspect.Parameter.KEYWORD_ONLY, default=None,
                           annotation="OptionalArray")],
        return_annotation="Value")

    def loss(input, target, *, mask=None, **params):
        return cls(**params)(input, target, mask=mask)

    loss.__signature__ = signature
    loss.__name__ = loss.__qualname__ = name
    loss.__doc__ = summary
    loss.__module__ = cls.__module__
    return loss
