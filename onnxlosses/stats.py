"""Sufficient statistics of a configured loss: exact accumulation across micro-batches,
tiles of a volume and shards of a dataset.

`loss.stats(input, target)` returns a LossStats; statistics add with `+` (and `sum()`),
pickle, and `.value()` gives the number `loss(all_inputs, all_targets)` gives on the
concatenated data (up to float64 rounding).  What they hold:

- cross-entropy, NLL, focal, BCE, BCE with logits, sigmoid focal: the loss sum and the
  mean's denominator (class-weight sum for cross-entropy / NLL, counted positions or
  elements for the others); sigmoid focal also the sum of focal terms (for normalized).
- Dice family: the per-class sums (I, P, T) pooled over the batch, or per sample
  (per_image=True: shards then concatenate their samples, in the order they are added).

An all-ignored shard contributes zeros, never NaN.  `loss.value_and_grad(input, target,
total=stats)` is the gradient of the global loss on one shard: two passes over the data
(statistics, then gradients), because a mean's denominator (and pooled Dice's sums, and
normalized focal's focal-term sum) are only known once every shard is seen.  The
reductions "mean" and "sum" have statistics; "none" is per element and needs none.
"""
import numpy as np


class LossStats:
    """Statistics of one configured loss; see the module docstring."""

    def __init__(self, loss, parts, concat=(), window=None, classes=None):
        self.loss = loss
        self.parts = {k: np.asarray(v, dtype=np.float64) for k, v in parts.items()}
        self.concat = tuple(concat)        # parts that concatenate (per sample) when added
        self.window = window               # (start, stop): the samples a tile belongs to
        self.classes = classes             # C of the inputs, for losses with a class axis

    def _check_addable(self, other):
        if not self._same_loss(other):
            raise ValueError(f"cannot add statistics of {self.loss!r} and {other.loss!r}")
        if self.classes != other.classes:
            raise ValueError(f"cannot add statistics of inputs with C={self.classes} and "
                             f"C={other.classes} classes")

    def _same_loss(self, other):
        return _same(self.loss, other.loss)

    def __add__(self, other):
        if isinstance(other, (int, float)) and other == 0:      # sum() starts from 0
            return self
        if not isinstance(other, LossStats):
            return NotImplemented
        self._check_addable(other)
        parts = {k: (np.concatenate([v, other.parts[k]]) if k in self.concat
                     else v + other.parts[k]) for k, v in self.parts.items()}
        return LossStats(self.loss, parts, self.concat, classes=self.classes)

    __radd__ = __add__

    def merge_tiles(self, other):
        """Statistics of two tiles of the same samples (a volume cut along its spatial
        axes): every part adds, per-sample ones included."""
        self._check_addable(other)
        if any(v.shape != other.parts[k].shape for k, v in self.parts.items()):
            raise ValueError("cannot merge tiles of different samples: per-sample statistics "
                             "differ in shape")
        return LossStats(self.loss, {k: v + other.parts[k] for k, v in self.parts.items()},
                         self.concat, classes=self.classes)

    def for_samples(self, start, stop):
        """These (global) statistics, marked for a tile holding samples [start, stop) of the
        global batch: what `value_and_grad(tile, ..., total=...)` needs for per-image Dice
        when tiles cut samples along their spatial axes."""
        return LossStats(self.loss, self.parts, self.concat, window=(start, stop),
                         classes=self.classes)

    def value(self):
        """The loss of all the data these statistics were gathered on (float64)."""
        return self.loss._value_from_stats(self.parts)

    def __repr__(self):
        shown = ", ".join(f"{k}={v.tolist() if v.size <= 4 else f'array{v.shape}'}"
                          for k, v in self.parts.items())
        return f"LossStats({self.loss!r}: {shown})"


def ieee_divide(a, b):
    """float64 a / b of Python floats, bit for bit NumPy's: Python's division is the same
    IEEE division, but raises for b == 0, where NumPy gives +-inf or the machine's NaN
    (0 / 0 is -NaN on x86): that rare case is NumPy's own.  The drivers' scalars are Python
    floats: a NumPy scalar and an error-state context cost more than a small batch's
    kernel."""
    try:
        return a / b
    except ZeroDivisionError:
        with np.errstate(divide="ignore", invalid="ignore"):
            return float(np.float64(a) / np.float64(b))


def mean_value(parts, reduction):
    """value of a loss whose statistics are a loss sum and the mean's denominator."""
    if reduction == "sum":
        return np.float64(parts["loss"])
    weight = np.float64(parts["weight"])
    if weight == 0:     # PyTorch's weighted mean over no weight is 0/0, NaN, whatever the sum
        return np.float64(np.nan)
    return np.float64(parts["loss"]) / weight


def _same(a, b):
    """Whether two losses (or configuration values) are configured alike: the same class
    and equal configurations, arrays and the terms of combined losses compared by value."""
    from ._base import Loss
    if isinstance(a, Loss) or isinstance(b, Loss):
        return type(a) is type(b) and _same(a.config, b.config)
    if isinstance(a, dict) or isinstance(b, dict):
        return isinstance(a, dict) and isinstance(b, dict) and a.keys() == b.keys() and \
            all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and \
            len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    return a == b


def require_reduction(loss):
    if loss.config["reduction"] == "none":
        raise ValueError("statistics exist for reduction 'mean' and 'sum'; 'none' is per "
                         "element and needs none")
