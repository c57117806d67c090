"""Shared test helpers: memory layouts and float64 NumPy references written from the
formulas (independent of the code under test)."""
import numpy as np


def relayout(x, kind, class_axis=1):
    """The same values as `x` in another memory layout (a view, never a contiguous copy)."""
    x = np.asarray(x)
    if kind == "contiguous" or x.ndim == 0:
        return np.ascontiguousarray(x)
    if kind == "channels_last":
        if x.ndim < 2:
            return x
        last = np.ascontiguousarray(np.moveaxis(x, class_axis, -1))
        return np.moveaxis(last, -1, class_axis)
    if kind == "negative":
        axis = x.ndim - 1
        return np.flip(np.flip(x, axis).copy(), axis)
    if kind == "strided":
        big = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
        big[..., ::2] = x
        return big[..., ::2]
    if kind == "fortran":
        return np.asfortranarray(x)
    raise ValueError(kind)


LAYOUTS = ["contiguous", "channels_last", "negative", "strided", "fortran"]


def log_softmax(x, axis=1):
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


def cross_entropy_ref(x, target, weight=None, ignore_index=-100, reduction="mean",
                      label_smoothing=0.0, mask=None, log_probs=False):
    """float64 cross-entropy / NLL from the formula, for index or probability targets."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
        target = np.asarray(target)[None]
        mask = None if mask is None else np.asarray(mask)[None]
    C = x.shape[1]
    lp = x if log_probs else log_softmax(x)
    w = np.ones(C) if weight is None else np.asarray(weight, dtype=np.float64)
    wb = w.reshape((1, C) + (1,) * (x.ndim - 2))
    eps = label_smoothing
    target = np.asarray(target)
    if target.dtype.kind == "f":
        q = (1 - eps) * target.astype(np.float64) + eps / C
        k = wb * q
        per = -np.sum(np.where(k != 0, k * lp, 0.0), axis=1)
        counted = np.ones(per.shape, bool) if mask is None else np.asarray(mask, bool)
        per = np.where(counted, per, 0.0)
        denom = counted.sum()
    else:
        t = target.astype(np.int64)
        counted = t != ignore_index
        if mask is not None:
            counted &= np.asarray(mask, bool)
        tc = np.where(counted, t, 0)
        lpt = np.take_along_axis(lp, tc[:, None], axis=1)[:, 0]
        wt = w[tc]
        per = -wt * lpt
        if eps > 0:
            smooth = -np.sum(np.where(wb != 0, wb * lp, 0.0), axis=1)
            per = (1 - eps) * per + eps / C * smooth
        per = np.where(counted, per, 0.0)
        denom = np.sum(np.where(counted, wt, 0.0))
    if reduction == "none":
        return per
    if reduction == "sum":
        return per.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        return per.sum() / denom


def central_difference(f, x, h=1e-6):
    """d f / d x by central differences, element by element (float64, small x only)."""
    x = np.array(x, dtype=np.float64)
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old - h
        fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g
