"""Argument checks shared by every loss: one function per kind of constraint, so every error
message has the same form ("<name> must be ..., got ...") and names the argument."""
import numbers
import operator

import numpy as np

from ._layout import overlaps_itself

REDUCTIONS = ("none", "mean", "sum")
FLOAT_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
INDEX_DTYPES = (np.dtype(np.uint8), np.dtype(np.int16), np.dtype(np.int32), np.dtype(np.int64))


def reduction(name, value):
    if not isinstance(value, str) or value not in REDUCTIONS:
        raise ValueError(f"{name} must be one of 'none', 'mean', 'sum', got {value!r}")
    return value


def integer(name, value):
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
    if not -2 ** 63 <= value < 2 ** 63:
        raise ValueError(f"{name} must fit in int64 [-2**63, 2**63), got {value}")
    return value


def real(name, value):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    return float(value)


def unit_interval(name, value):
    value = real(name, value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return value


def class_weight(name, value):
    """None, or a 1-D array of finite, non-negative per-class weights (kept as float64)."""
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"{name} must be a real array, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per class), got shape {arr.shape}")
    arr = np.array(arr, dtype=np.float64, order="C")
    bad = ~np.isfinite(arr) | (arr < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name} must be finite and >= 0, got {float(arr[i])!r} at index {i}")
    arr.flags.writeable = False
    return arr


def float_array(name, value):
    """An ndarray of float16/32/64 (lists are converted; ints are refused, not guessed)."""
    arr = np.asarray(value)
    if arr.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float16, float32 or float64, got dtype {arr.dtype}")
    return arr


def bool_mask(name, value, shape):
    arr = np.asarray(value)
    if arr.dtype != np.bool_:
        raise TypeError(f"{name} must be a boolean array, got dtype {arr.dtype}")
    if arr.shape != tuple(shape):
        raise ValueError(f"{name} must have the target's shape {tuple(shape)}, got {arr.shape}")
    return arr.view(np.uint8)


def nonnegative_real(name, value):
    value = real(name, value)
    if not value >= 0 or value == float("inf"):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return value


def finite_real(name, value):
    value = real(name, value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return value


def class_alpha(name, value):
    """None, one non-negative number for every class, or one per class (kept as float64)."""
    if value is None:
        return None
    if np.ndim(value) == 0:
        return nonnegative_real(name, value)
    return class_weight(name, value)


def threshold(name, value):
    """None (off) or a number in (0, 1]."""
    if value is None:
        return None
    value = real(name, value)
    if not 0.0 < value <= 1.0:
        raise ValueError(f"{name} must be in (0, 1] or None, got {value!r}")
    return value


def boolean(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def broadcast_to(name, value, shape, dtype):
    """`value` as a read-only view broadcast to `shape` (no copy), in `dtype`; PyTorch's rule:
    the broadcast must not change the shape."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be a real array, got dtype {arr.dtype}")
    try:
        out = np.broadcast_to(arr, shape)
    except ValueError:
        raise ValueError(f"{name} of shape {arr.shape} does not broadcast to the input's shape "
                         f"{tuple(shape)}") from None
    if out.dtype != dtype:
        out = np.broadcast_to(arr.astype(dtype), shape)
    return out


def scalar_grad_output(value, reduction):
    """The factor of a scalar loss's gradient: 1.0 for None, else a real 0-d value."""
    if value is None:
        return 1.0
    if np.ndim(value) != 0:
        raise ValueError(f"grad_output must be a scalar for reduction {reduction!r}, "
                         f"got shape {np.shape(value)}")
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"grad_output must be a real number, got {arr.dtype} {value!r}")
    return float(arr)


def array_grad_output(value, shape):
    """grad_output of reduction "none": a float array of the loss's shape."""
    arr = np.asarray(value)
    if arr.dtype.kind != "f":
        raise TypeError(f"grad_output must be a float array for reduction 'none', "
                        f"got dtype {arr.dtype}")
    if arr.shape != tuple(shape):
        raise ValueError(f"grad_output must have the loss's shape {tuple(shape)} for "
                         f"reduction 'none', got {arr.shape}")
    return arr


def gradient_out(out, input, target=None):
    """Check a caller's `out=` buffer for the gradient of `input` (None passes): the
    input's shape and dtype, writeable, no two elements in one place, and sharing memory
    with neither the input nor the target (the kernel reads them while it writes out)."""
    if out is None:
        return None
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy array, got {type(out).__name__}")
    arr = np.asarray(input)
    if out.shape != arr.shape or out.dtype != arr.dtype:
        raise ValueError(f"out must have the input's shape {arr.shape} and dtype "
                         f"{arr.dtype}, got {out.shape} {out.dtype}")
    if not out.flags.writeable:
        raise ValueError("out must be writeable")
    if out.size and overlaps_itself(out):
        raise ValueError(f"out must not overlap itself (a zero stride, or strides that "
                         f"interleave its elements), got strides {out.strides}")
    gradient_out_memory(out, input, target)
    return out


def gradient_out_memory(out, input, target=None):
    """The part of gradient_out that depends on where the arrays are, not on their headers:
    `out` shares memory with neither the input nor the target."""
    if np.may_share_memory(out, input):
        raise ValueError("out must not share memory with input")
    if target is not None and np.may_share_memory(out, target):
        raise ValueError("out must not share memory with target")


def choice(*options):
    """A Param check: one of the strings `options`."""
    def check(name, value):
        if not isinstance(value, str) or value not in options:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}, "
                             f"got {value!r}")
        return value
    return check
