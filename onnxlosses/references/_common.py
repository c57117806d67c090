"""Pieces every float64 NumPy reference uses: stable activations, the class-index check, the
reductions' grad_output.  Written from docs/semantics.md's definitions, not from the kernels."""
import numpy as np

INDEX_KINDS = ("uint8", "int16", "int32", "int64")


def f64(a):
    return np.asarray(a, dtype=np.float64)


def log_softmax(x, axis=1):
    """x - max - log(sum(exp(x - max))) over `axis`: no overflow for any finite x."""
    x = f64(x)
    with np.errstate(invalid="ignore", over="ignore"):
        m = np.max(x, axis=axis, keepdims=True) if x.size else x
        m = np.where(np.isfinite(m), m, 0.0)
        z = x - m
        return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def sigmoid(x):
    """1 / (1 + exp(-x)) without overflow: exp of a non-positive number only."""
    x = f64(x)
    e = np.exp(-np.abs(x))
    with np.errstate(invalid="ignore"):
        return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def softplus_neg(x):
    """softplus(-x) = log(1 + exp(-x)) = max(-x, 0) + log1p(exp(-|x|)) (docs/semantics.md, BCE)."""
    x = f64(x)
    return np.maximum(-x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def check_class_indices(t, counted, C, ignore_index):
    """The target rule (docs/semantics.md): every counted target lies in [0, C), else ValueError
    naming how many do not and one of them (values where nothing counts are not read)."""
    bad = counted & ((t < 0) | (t >= C))
    n = int(np.count_nonzero(bad))
    if n:
        other = "" if ignore_index is None else f" other than ignore_index={ignore_index}"
        raise ValueError(f"target has {n} value{'s' if n > 1 else ''} outside [0, {C})"
                         f"{other}, e.g. {int(t[bad][0])}")


def is_index_target(t):
    return np.asarray(t).dtype.name in INDEX_KINDS


def grad_output_for(grad_output, reduction, loss_shape):
    """The factor on each loss element: grad_output broadcast to the loss's shape ("none"),
    or the scalar grad_output (default 1)."""
    if reduction == "none":
        if grad_output is None:
            return np.ones(loss_shape)
        go = f64(grad_output)
        if go.shape != tuple(loss_shape):
            raise ValueError(f"grad_output must have the loss's shape {tuple(loss_shape)}, "
                             f"got {go.shape}")
        return go
    if grad_output is None:
        return 1.0
    if np.ndim(grad_output) != 0:
        raise ValueError(f"grad_output must be a scalar for reduction {reduction!r}")
    return float(grad_output)

