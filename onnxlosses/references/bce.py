"""float64 references for BCELoss and BCEWithLogitsLoss, from docs/semantics.md ("BCE, BCE
with logits"), PyTorch's formulas:

    BCE:         l = -w [y max(log p, -100) + (1 - y) max(log(1 - p), -100)]
                 gradient w (p - y) / max(p (1 - p), 1e-12f)   (PyTorch's float epsilon)
    with logits: l = w [(1 - y) x + lw softplus(-x)],  lw = 1 + (pw - 1) y
                 gradient w (lw sigmoid(x) - pw y)
    weight, pos_weight broadcast to the input's shape; "mean" divides by the element count.
"""
import numpy as np

from ._common import f64, grad_output_for, sigmoid, softplus_neg

EPS_F32 = float(np.float32(1e-12))   # PyTorch's epsilon is the float 1e-12, also for double


def _broadcast(name, value, shape):
    if value is None:
        return np.ones(shape)
    try:
        return np.broadcast_to(f64(value), shape)
    except ValueError:
        raise ValueError(f"{name} of shape {np.shape(value)} does not broadcast to the "
                         f"input's shape {tuple(shape)}") from None


def _in_unit_interval(name, a):
    bad = (a < 0) | (a > 1)           # NaN is neither: it passes, and gives NaN
    n = int(np.count_nonzero(bad))
    if n:
        raise ValueError(f"{name} must lie in [0, 1]: {n} value{'s' if n > 1 else ''} "
                         f"outside, e.g. {float(a[bad][0])!r}")


def _reduce(per, dper, reduction, grad_output):
    go = grad_output_for(grad_output, reduction, per.shape)
    if reduction == "none":
        return per, go * dper
    if reduction == "sum":
        return np.float64(per.sum()), go * dper
    n = np.float64(per.size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.float64(per.sum()) / n, (go / n if per.size else 0.0) * dper


def _common(loss, input, target, mask):
    if mask is not None:
        raise TypeError(f"{type(loss).__name__} takes no mask (PyTorch's has none)")
    x, y = f64(input), f64(target)
    if y.shape != x.shape:
        raise ValueError(f"target must have the input's shape {x.shape}, got {y.shape}")
    return x, y, _broadcast("weight", loss.config["weight"], x.shape)


def bce(loss, input, target, mask=None, grad_output=None):
    """(value, grad) of a BCELoss in float64."""
    p, y, w = _common(loss, input, target, mask)
    _in_unit_interval("input", p)
    _in_unit_interval("target", y)
    with np.errstate(divide="ignore", invalid="ignore"):
        per = -w * (y * np.maximum(np.log(p), -100.0)
                    + (1 - y) * np.maximum(np.log1p(-p), -100.0))
        dper = w * (p - y) / np.maximum(p * (1 - p), EPS_F32)
    return _reduce(per, dper, loss.config["reduction"], grad_output)


def bce_with_logits(loss, input, target, mask=None, grad_output=None):
    """(value, grad) of a BCEWithLogitsLoss in float64."""
    x, y, w = _common(loss, input, target, mask)
    pw = _broadcast("pos_weight", loss.config["pos_weight"], x.shape)
    lw = 1 + (pw - 1) * y
    with np.errstate(invalid="ignore", over="ignore"):
        per = w * ((1 - y) * x + lw * softplus_neg(x))
        dper = w * (lw * sigmoid(x) - pw * y)
    return _reduce(per, dper, loss.config["reduction"], grad_output)
