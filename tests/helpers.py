"""Shared test helpers: memory layouts, central differences, and the functional form of the
float64 cross-entropy reference (the references themselves live in onnxlosses.references)."""
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


def cross_entropy_ref(x, target, weight=None, ignore_index=-100, reduction="mean",
                      label_smoothing=0.0, mask=None, log_probs=False):
    """float64 cross-entropy / NLL value from the formula: the package's reference
    (onnxlosses.references), called with the functional's arguments."""
    from onnxlosses import CrossEntropyLoss, NLLLoss
    from onnxlosses.references import numpy_reference
    loss = NLLLoss(weight=weight, ignore_index=ignore_index, reduction=reduction) \
        if log_probs else CrossEntropyLoss(weight=weight, ignore_index=ignore_index,
                                           reduction=reduction, label_smoothing=label_smoothing)
    return numpy_reference(loss, x, target, mask=mask)[0]


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
