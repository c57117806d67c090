"""Drives the fused cross-entropy / NLL kernel: checks the arrays, scans the targets, runs
the kernel, applies the reduction.  Everything that can be wrong is found before the kernel
reads a logit."""
import math

import numpy as np

from . import _checks, _cross_entropy, _gradient_stores, _target_scan
from ._layout import element_strides, exact_copy, walk, writable_in_place
from ._threads import get_num_threads
from .stats import mean_value

ROW_TILE = 64
# Classes contiguous (channels-last, (N, C)): at least this many classes run row by row,
# vectorised over classes; fewer are gathered into [C][tile] blocks, vectorised over
# positions.  Measured on channels-last batches, one thread: C = 21 (S1) gathered 107 ms vs
# rows 191 ms; C = 32 even; C = 64 and up rows win (7.1 vs 9.7 ms at (4, 64, 128, 128)).
ROWS_MIN_CLASSES = 32


def _tile_for(C):
    """Positions per tile for the class-strided loops: keep a [C][tile] block of each of the
    four per-thread buffers in L2, with tile a multiple of the 16-lane vector width."""
    return max(16, min(1024, (8192 // max(C, 1)) // 16 * 16))


class _Call:
    """The checked arrays of one call, in the kernel's terms."""

    def __init__(self, config, input, target, mask, indices_only, want_grad, grad_output, out,
                 focal):
        x = _checks.float_array("input", input)
        if x.ndim == 0:
            raise ValueError("input must be (C,), (N, C) or (N, C, d1, ..., dk), got a scalar")
        t = np.asarray(target)
        self.input_dtype = x.dtype
        self.unbatched = x.ndim == 1
        # Shape of the per-position losses as the user sees it: the input without its class
        # axis (for index targets that is the target's shape).
        self.loss_shape = np.shape(input)[:1] + np.shape(input)[2:] if x.ndim > 1 else ()
        if self.unbatched:
            x = x[None]
            if t.ndim in (0, 1):
                t = t[None]
        C = x.shape[1]
        if C == 0:
            raise ValueError(f"input must have at least one class, got shape {np.shape(input)}")
        pos_shape = (x.shape[0],) + x.shape[2:]
        compute = np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)

        if t.dtype in _checks.INDEX_DTYPES:
            t = exact_copy(t)
            if t.shape != pos_shape:
                raise ValueError(f"target must have shape {self.loss_shape} for input of shape "
                                 f"{np.shape(input)}, got {np.shape(target)}")
            self.hard = True
        elif t.dtype.kind == "f" and not indices_only:
            if t.shape != x.shape:
                raise ValueError(
                    "float targets are class probabilities and must have the input's shape "
                    f"{np.shape(input)}, got {np.shape(target)}")
            if config["ignore_index"] >= 0:
                raise ValueError("ignore_index is not supported with class-probability targets, "
                                 f"got ignore_index={config['ignore_index']}; use mask")
            self.hard = False
            t = exact_copy(t.astype(compute, copy=False))
        else:
            wanted = "uint8, int16, int32 or int64 class indices"
            if not indices_only:
                wanted += ", or float class probabilities"
            raise TypeError(f"target must be {wanted}, got dtype {t.dtype}")

        weight = config["weight"]
        if weight is not None and weight.shape[0] != C:
            name = "alpha" if focal else "weight"    # focal's class weights are alpha
            raise ValueError(f"{name} must have one value per class (C={C}), "
                             f"got length {weight.shape[0]}")
        if mask is not None:
            mask = _checks.bool_mask("mask", mask, self.loss_shape)
            if self.unbatched:
                mask = mask.reshape(pos_shape)

        reduction = config["reduction"]
        go = None
        g0 = 1.0
        if want_grad and grad_output is not None:
            if reduction == "none":
                go = _checks.array_grad_output(grad_output, self.loss_shape)
                go = exact_copy(go.astype(compute, copy=False)).reshape(pos_shape)
            else:
                g0 = _checks.scalar_grad_output(grad_output, reduction)
        _checks.gradient_out(out, input, target)

        self.x = exact_copy(x.astype(compute, copy=False))
        self.target = t
        self.mask = mask
        self.C = C
        self.pos_shape = pos_shape
        self.grad_output = go
        self.g0 = g0
        self.out = out
        self.want_grad = want_grad


def evaluate(config, input, target, mask, *, log_probs, want_grad, grad_output, out,
             focal_gamma=None, total=None, stats_only=False):
    """(value, grad or None) of cross-entropy (log_probs=False), NLL (log_probs=True) or,
    with `focal_gamma`, the softmax focal loss (config["weight"] then holds alpha and the
    mean divides by the number of counted positions, times C where config["mean_over"] is
    "elements").  stats_only: return the statistics
    {"loss": sum of losses, "weight": the mean's denominator}; total: the statistics of
    all the data, whose denominator scales the gradient and whose value is returned."""
    focal = focal_gamma is not None
    call = _Call(config, input, target, mask, log_probs or focal, want_grad, grad_output, out,
                 focal)
    x, C, reduction = call.x, call.C, config["reduction"]
    nthreads = get_num_threads()

    grad = None
    if want_grad:
        direct = out is not None and out.dtype == x.dtype and \
            writable_in_place(out, call.grad_output, call.mask)
        grad = (out[None] if call.unbatched else out) if direct else np.empty_like(x)
    loss_out = np.empty(call.pos_shape, dtype=x.dtype) if reduction == "none" else None
    go = call.grad_output if reduction == "none" else None

    xs = element_strides(x)
    pos = lambda s: (s[0],) + s[2:]
    strides = [
        pos(xs),
        element_strides(call.target) if call.hard else None,
        None if call.hard else pos(element_strides(call.target)),
        element_strides(call.mask) if call.mask is not None else None,
        pos(element_strides(grad)) if grad is not None else None,
        element_strides(go) if go is not None else None,
        element_strides(loss_out) if loss_out is not None else None,
    ]
    n_pos = math.prod(call.pos_shape)
    w = walk(call.pos_shape, strides) if n_pos else None

    # Pass 1: targets only.  Validates, and gives the mean's denominator before any logit.
    if call.hard:
        count, weight_total = _target_scan.scan(call.target, call.mask, C,
                                                config["ignore_index"], config["weight"])
    else:
        count = int(np.count_nonzero(call.mask)) if call.mask is not None else n_pos
        weight_total = float(count)  # probability targets: the mean is over positions

    if focal:  # focal's mean is over positions (or elements: positions x C), not alpha-weighted
        weight_total = float(count) * (C if config.get("mean_over") == "elements" else 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = np.float64(weight_total if total is None else total.parts["weight"])
        scale = np.float64(call.g0) / denom if reduction == "mean" else np.float64(call.g0)

    # Pass 2: the fused kernel.
    if n_pos:
        rows = xs[1] == 1 and C >= ROWS_MIN_CLASSES
        total_sum = _cross_entropy.run(
            w, x, call.target if call.hard else None, None if call.hard else call.target,
            call.mask, grad, go, loss_out,
            tile=ROW_TILE if rows else _tile_for(C), rows=rows,
            ignore_index=config["ignore_index"], weight=config["weight"],
            eps=config.get("label_smoothing", 0.0), scale=float(scale), nll=log_probs,
            nthreads=nthreads, focal_gamma=focal_gamma,
            stream=_gradient_stores.stream_gradient(grad))
    else:
        total_sum = 0.0
        if grad is not None:
            grad.fill(0)

    if stats_only:
        return {"loss": total_sum, "weight": weight_total}
    out_type = call.input_dtype.type
    if total is not None:
        value = out_type(total.value())
    elif reduction == "none":
        value = loss_out.reshape(call.loss_shape).astype(call.input_dtype, copy=False)
    elif reduction == "sum":
        value = out_type(total_sum)
    else:
        value = out_type(mean_value({"loss": total_sum, "weight": denom}, "mean"))

    if grad is not None:
        if call.unbatched:
            grad = grad[0]
        if out is not None:
            if not direct:
                out[...] = grad
            grad = out
        else:
            grad = grad.astype(call.input_dtype, copy=False)
    return value, grad
