"""The NumPy contender: each loss written the way a careful NumPy user would (float32
element math, float64 sums, one thread), and the value every other contender is
checked against (float64 in, float64 out).

Index losses take the class axis 1 and `ignore` (the ignore_index); means are over the
counted positions, as the losses' "mean" reduction is.
"""
import numpy as np


def _log_softmax(x):
    m = x.max(axis=1, keepdims=True)
    z = x - m
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def _picked(lp, t, ignore):
    """(log-probability at the target, counted mask) per position."""
    keep = t != ignore
    tc = np.where(keep, t, 0).astype(np.intp)
    return np.take_along_axis(lp, tc[:, None], axis=1)[:, 0], keep


def cross_entropy(x, t, ignore, label_smoothing=0.0):
    """mean over counted positions of -(1 - eps) log p_t - eps/C sum_c log p_c."""
    lp = _log_softmax(x)
    lpt, keep = _picked(lp, t, ignore)
    per = -lpt
    if label_smoothing:
        C = x.shape[1]
        per = (1 - label_smoothing) * per - label_smoothing / C * lp.sum(axis=1)
    return np.where(keep, per, 0).sum(dtype=np.float64) / keep.sum()


def cross_entropy_grad(x, t, ignore):
    """Value and d/dx of the mean cross-entropy: (softmax - onehot) / count."""
    m = x.max(axis=1, keepdims=True)
    e = np.exp(x - m)
    s = e.sum(axis=1, keepdims=True)
    lpt, keep = _picked(x - m - np.log(s), t, ignore)
    n = keep.sum()
    g = e / s
    tc = np.where(keep, t, 0).astype(np.intp)[:, None]
    np.put_along_axis(g, tc, np.take_along_axis(g, tc, axis=1) - 1, axis=1)
    g *= (keep / n).astype(x.dtype)[:, None]
    return np.where(keep, -lpt, 0).sum(dtype=np.float64) / n, g


def nll(logp, t, ignore):
    lpt, keep = _picked(logp, t, ignore)
    return np.where(keep, -lpt, 0).sum(dtype=np.float64) / keep.sum()


def focal(x, t, ignore, gamma=2.0):
    """mean over counted positions of -(1 - p_t)^gamma log p_t."""
    lpt, keep = _picked(_log_softmax(x), t, ignore)
    per = -(-np.expm1(lpt)) ** gamma * lpt
    return np.where(keep, per, 0).sum(dtype=np.float64) / keep.sum()


def dice(x, t, smooth=1e-5, pooled=False):
    """MONAI-style soft Dice: softmax, per sample (pooled: over the batch) and class
    1 - (2I + s) / (P + T + s), averaged (targets without ignored pixels)."""
    lp = _log_softmax(x)
    p = np.exp(lp)
    C = x.shape[1]
    axes = ((0,) if pooled else ()) + tuple(range(2, x.ndim))
    onehot = (t[:, None] == np.arange(C).reshape((1, C) + (1,) * (x.ndim - 2)))
    inter = (p * onehot).sum(axis=axes, dtype=np.float64)
    den = p.sum(axis=axes, dtype=np.float64) + onehot.sum(axis=axes)
    return float(np.mean(1 - (2 * inter + smooth) / (den + smooth)))


def _softplus_neg_abs(x):
    return np.log1p(np.exp(-np.abs(x)))


def bce_with_logits(x, y):
    """mean of max(x, 0) - x y + log(1 + exp(-|x|))."""
    per = np.maximum(x, 0) - x * y + _softplus_neg_abs(x)
    return per.sum(dtype=np.float64) / x.size


def bce_with_logits_grad(x, y):
    """Value and gradient (sigmoid(x) - y) / numel."""
    p = 1 / (1 + np.exp(-x))
    return bce_with_logits(x, y), (p - y) / np.float32(x.size)


def bce(p, y):
    """mean of -(y log p + (1 - y) log(1 - p)), logs clamped at -100 as PyTorch does."""
    per = -(y * np.maximum(np.log(p), -100) + (1 - y) * np.maximum(np.log1p(-p), -100))
    return per.sum(dtype=np.float64) / p.size


def sigmoid_focal(x, y, alpha=0.25, gamma=2.0):
    """torchvision's sigmoid_focal_loss, mean: alpha_t (1 - p_t)^gamma BCE-with-logits."""
    p = 1 / (1 + np.exp(-x))
    ce = np.maximum(x, 0) - x * y + _softplus_neg_abs(x)
    p_t = p * y + (1 - p) * (1 - y)
    a_t = alpha * y + (1 - alpha) * (1 - y)
    return (a_t * ce * (1 - p_t) ** gamma).sum(dtype=np.float64) / x.size
