"""Drives the elementwise kernel (BCE, BCE with logits, sigmoid focal): every operand as a
view over the input's shape (broadcast operands get zero strides, nothing is copied), one
position walk for all of them, then the kernel."""
import numpy as np

from . import _checks, _elementwise
from ._boundary import float_scalar
from ._layout import element_strides, exact_copy, walk, writable_in_place
from ._threads import get_num_threads
from .stats import ieee_divide

BCE, BCE_LOGITS, SIGMOID_FOCAL = (_elementwise.Loss.BCE, _elementwise.Loss.BCE_WITH_LOGITS,
                                 _elementwise.Loss.SIGMOID_FOCAL)
TILE = 2048
_KERNEL_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def compute_dtype(x):
    return np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)


def check_range(name, arr, lo=0.0, hi=1.0):
    """ValueError when any element of float array `arr` lies outside [lo, hi] (NaN passes)."""
    if arr.size == 0:
        return
    a = arr if arr.dtype in _KERNEL_FLOATS else arr.astype(np.float32)
    w = walk(a.shape, [element_strides(a)])
    n, first = _elementwise.count_outside(a, w.offsets[0], w.strides[0], w.inner, lo, hi,
                                          get_num_threads())
    if n:
        raise ValueError(f"{name} must lie in [{lo:g}, {hi:g}]: {n} value{'s' if n > 1 else ''} "
                         f"outside, e.g. {first!r}")


def operand_walk(x, *arrays):
    """The position walk of the kernel's operands, in its order (x, y, target, classes,
    weight, pos_weight, mask, grad_output, loss_out, grad; None for an absent one)."""
    return walk(x.shape, [None if a is None else element_strides(a) for a in (x,) + arrays])


def run(mode, x, *, y=None, target=None, classes=None, weight=None, pos_weight=None,
        mask=None, grad_output=None, loss_out=False, grad=None, ignore_index=-100,
        gamma=0.0, alpha=-1.0, thr=0.0, B=0.0, layout=None):
    """Run the kernel over x (compute dtype).  Every array argument is a view of x's shape.
    `grad` is the array the gradient goes into (or None for no gradient); `grad_output` the
    per-element factor of the gradient; `layout`: the operands' walk when the caller has it
    (operand_walk of arrays with these headers).  Returns (sum of losses, sum of focal
    terms, per-element losses or None)."""
    lo = np.empty(x.shape, dtype=x.dtype) if loss_out else None
    if x.size == 0:
        return 0.0, 0.0, lo
    w = layout if layout is not None else operand_walk(
        x, y, target, classes, weight, pos_weight, mask, grad_output, lo, grad)
    total, total_ft = _elementwise.run(
        mode, w, x, y, target, classes, weight, pos_weight, mask, grad_output, lo, grad,
        ignore_index=ignore_index, gamma=gamma, alpha=alpha, thr=thr, B=B, tile=TILE,
        nthreads=get_num_threads())
    return total, total_ft, lo


def scalar_or_array_grad_output(grad_output, reduction, shape, dtype, scale):
    """The per-element factor d(reduction)/d(loss_e) times grad_output, as a view."""
    if reduction == "none":
        if grad_output is None:
            return np.broadcast_to(np.asarray(scale, dtype=dtype), shape)
        go = exact_copy(_checks.array_grad_output(grad_output, shape).astype(dtype, copy=False))
        # asarray: a 0-d array times a scalar is a NumPy scalar, which no kernel takes
        return np.asarray(go * dtype.type(scale)) if scale != 1 else go
    g = _checks.scalar_grad_output(grad_output, reduction)
    return np.broadcast_to(np.asarray(g * scale, dtype=dtype), shape)


def prepare_out(out, input, x, target=None, reads=()):
    """The array the kernel writes the gradient into: `out` itself when the kernel can
    write it in place (the compute dtype, walkable, sharing no memory with the arrays in
    `reads`), else a temporary."""
    if _checks.gradient_out(out, input, target) is None:
        return np.empty_like(x)
    return out if out.dtype == x.dtype and writable_in_place(out, *reads) else \
        np.empty_like(x)


def finish_grad(grad, out, input_dtype):
    if out is None:
        return grad.astype(input_dtype, copy=False)
    if grad is not out:
        out[...] = grad
    return out


def reduce_value(total, count, reduction, lo, input_dtype):
    if reduction == "none":
        return lo.astype(input_dtype, copy=False)
    if reduction == "sum":
        return float_scalar(float(total), input_dtype)
    return float_scalar(ieee_divide(float(total), float(count)), input_dtype)
