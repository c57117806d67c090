"""The user-facing loss object: one configured loss, callable, differentiable."""
import numpy as np


class Loss:
    """Base class of every configured loss.

    Subclasses set `spec` (a LossSpec) and implement `_evaluate(input, target, mask,
    want_grad, grad_output, out) -> (value, grad)`.
    """

    spec = None

    def __init__(self, **params):
        self._config = self.spec.bind(params)

    def __getattr__(self, name):
        config = self.__dict__.get("_config", {})
        if name in config:
            return config[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def config(self):
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

    def __call__(self, input, target, *, mask=None):
        """The loss value: a NumPy scalar of the input's dtype, or an array for "none"."""
        return self._evaluate(input, target, mask, False, None, None)[0]

    def value_and_grad(self, input, target, grad_output=None, out=None, *, mask=None,
                       total=None):
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
            if total.classes != classes:
                raise ValueError(f"total holds statistics of inputs with {total.classes} "
                                 f"classes, input has {classes}")
        return self._evaluate(input, target, mask, True, grad_output, out, total=total)

    def stats(self, input, target, *, mask=None):
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

    def to_onnx(self, opset=None, dtype="float32", target_dtype=None, shape=None, *,
                ndim=None, grad=False, impl="composed", mask=False, check_targets=True):
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


def _rebuild(cls, config):
    return cls(**config)


def class_axis_size(input):
    """C of an input laid out (C,), (N, C) or (N, C, d1, ...), without converting it."""
    shape = np.shape(input)
    return shape[1] if len(shape) > 1 else shape[0] if shape else None
