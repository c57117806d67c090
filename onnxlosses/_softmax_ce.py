"""Drives the fused cross-entropy / NLL kernel: checks the arrays, scans the targets, runs
the kernel, applies the reduction.  Everything that can be wrong is found before the kernel
reads a logit.

A small batch's call costs what this driver does around the kernel, so it does little: a
call whose arrays are used as they are replays what the general path decided for arrays
of the same headers (a _Plan, by _boundary.header_key), checking again only what depends
on the arrays' values (the target scan) and places (out's memory); the scalars are Python
floats (stats.ieee_divide), not NumPy scalars under an error-state context; the kernel
gets no more threads than tiles, and one for little work (PARALLEL_MIN_WORK)."""
import math

import numpy as np

from . import _boundary, _checks, _cross_entropy, _gradient_stores, _target_scan
from ._boundary import float_scalar
from ._layout import element_strides, exact_copy, remember, small, walk, writable_in_place
from ._threads import get_num_threads
from .stats import ieee_divide

# Rows per tile of the row loops: up to 64, fewer for wide rows so that a tile's
# exponentials (kept for the gradient pass) stay within ROW_TILE_ELEMENTS (256 KB of
# float): a thread's scratch is then bounded whatever C, not 64 rows of a 50,000-class
# vocabulary.  (On (8192, 1000), 4 to 64 rows a tile measured the same within noise.)
ROW_TILE = 64
ROW_TILE_ELEMENTS = 65536
# Classes contiguous (channels-last, (N, C)): at least this many classes run row by row,
# vectorised over classes; fewer are gathered into [C][tile] blocks, vectorised over
# positions.  Measured on channels-last batches, one thread: C = 21 (S1) gathered 107 ms vs
# rows 191 ms; C = 32 even; C = 64 and up rows win (7.1 vs 9.7 ms at (4, 64, 128, 128)).
ROWS_MIN_CLASSES = 32
# Class-strided tiles (NCHW logits) keep at least TILE_MIN positions: a class's row of a
# tile is then 16 cache lines, not the 3 that 8192 // C gave 150 classes, whose short rows
# starved the prefetchers (one thread, value+grad: (4, 150, 256, 256) 83 -> 41 ms,
# (2, 300, 182, 182) 80 -> 17 ms; forward (4, 150, 256, 256) 26 -> 18 ms).  Very many
# classes bound the block instead: (1, 1000, 100, 100) value+grad 26.9 ms at 16 positions,
# 13.1 at 128, 15.2 at 256.
TILE_MIN = 256
TILE_BLOCK_MAX = 131072
# A call gets one thread per this much work (elements of the logits, an NLL forward's
# positions counting NLL_POSITION_WORK each: one gathered entry, a cache line per row), and
# no more threads than tiles: a parallel region's start, about 2 us here, outweighs the
# second thread below it.  Measured on (N, C) rows, one thread vs two: cross-entropy
# (256, 40) 8.7 vs 9.1 us, (512, 40) 16.1 vs 12.5 us; NLL (1024, 100) 3.9 vs 4.6 us,
# (4096, 100) 11.8 vs 8.6 us.  Threads never change a value (the tiles fix every bit).
PARALLEL_MIN_WORK = 8192
NLL_POSITION_WORK = 4


def _row_tile_for(C):
    """Rows per tile of the row loops (see ROW_TILE)."""
    return max(1, min(ROW_TILE, ROW_TILE_ELEMENTS // C))


def _tile_for(C):
    """Positions per tile for the class-strided loops, a multiple of the 16-lane vector
    width: 8192 // C (a [C][tile] block of 32 KB of float), but no fewer than TILE_MIN
    while a block stays within TILE_BLOCK_MAX elements."""
    tile = max(8192 // C if C > 1 else 8192, min(TILE_MIN, TILE_BLOCK_MAX // C)) // 16 * 16
    return 16 if tile < 16 else 1024 if tile > 1024 else tile


class _Call:
    """The checked arrays of one call, in the kernel's terms."""

    def __init__(self, config, input, target, mask, indices_only, want_grad, grad_output, out,
                 focal):
        x = _checks.float_array("input", input)
        if x.ndim == 0:
            raise ValueError("input must be (C,), (N, C) or (N, C, d1, ..., dk), got a scalar")
        t = np.asarray(target)
        xin, tin = x, t
        self.input_dtype = x.dtype
        self.unbatched = x.ndim == 1
        shape = x.shape      # np.shape(input)
        # Shape of the per-position losses as the user sees it: the input without its class
        # axis (for index targets that is the target's shape).
        self.loss_shape = shape[:1] + shape[2:] if x.ndim > 1 else ()
        if self.unbatched:
            x = x[None]
            if t.ndim in (0, 1):
                t = t[None]
        C = x.shape[1]
        if C == 0:
            raise ValueError(f"input must have at least one class, got shape {shape}")
        pos_shape = (x.shape[0],) + x.shape[2:]
        compute = np.dtype(np.float64) if x.dtype == np.float64 else np.dtype(np.float32)

        if t.dtype in _checks.INDEX_DTYPES:
            t = exact_copy(t)
            if t.shape != pos_shape:
                raise ValueError(f"target must have shape {self.loss_shape} for input of shape "
                                 f"{shape}, got {tin.shape}")
            self.hard = True
        elif t.dtype.kind == "f" and not indices_only:
            if t.shape != x.shape:
                raise ValueError(
                    "float targets are class probabilities and must have the input's shape "
                    f"{shape}, got {tin.shape}")
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
        _checks.gradient_out(out, xin, tin)   # as (out, input, target): the same arrays

        self.x = exact_copy(x if x.dtype == compute else x.astype(compute))
        self.target = t
        self.mask = mask
        self.C = C
        self.pos_shape = pos_shape
        self.grad_output = go
        self.g0 = g0
        self.out = out
        self.want_grad = want_grad


class _Plan:
    """What a call decides from its arrays' headers and the configuration: the shapes, the
    gradient's destination, the kernel's walk and threads, and the kernel prepared with its
    tiles and loop shape (_cross_entropy.Launch).  Remembered per header
    key for calls whose arrays need no conversion (see evaluate)."""

    __slots__ = ("C", "pos_shape", "loss_shape", "unbatched", "hard", "input_dtype",
                 "direct", "walk", "max_threads", "launch")

    def __init__(self, call, grad, loss_out, direct, log_probs, focal):
        self.C, self.pos_shape, self.loss_shape = call.C, call.pos_shape, call.loss_shape
        self.unbatched, self.hard, self.input_dtype = call.unbatched, call.hard, call.input_dtype
        self.direct = direct
        go = call.grad_output if loss_out is not None else None
        xs = element_strides(call.x)
        strides = [
            _positions(xs),
            element_strides(call.target) if call.hard else None,
            None if call.hard else _positions(element_strides(call.target)),
            element_strides(call.mask) if call.mask is not None else None,
            _positions(element_strides(grad)) if grad is not None else None,
            element_strides(go) if go is not None else None,
            element_strides(loss_out) if loss_out is not None else None,
        ]
        w = self.walk = walk(call.pos_shape, strides) if math.prod(call.pos_shape) else None
        rows = xs[1] == 1 and call.C >= ROWS_MIN_CLASSES
        tile = _row_tile_for(call.C) if rows else _tile_for(call.C)
        n_tiles = len(w.offsets[0]) * -(-w.inner // tile) if w is not None else 0
        nll_forward = log_probs and call.hard and grad is None and loss_out is None
        work = math.prod(call.pos_shape) * (NLL_POSITION_WORK if nll_forward else call.C)
        self.max_threads = max(1, min(n_tiles, work // PARALLEL_MIN_WORK))
        hard = call.hard
        self.launch = _cross_entropy.Launch(
            w, call.x, call.target if hard else None, None if hard else call.target,
            call.mask, grad, go, loss_out, tile, rows, log_probs, focal,
            _gradient_stores.stream_gradient(grad)) if w is not None else None


def _positions(strides):
    """An operand's strides over the positions: without its class axis."""
    return (strides[0],) + strides[2:]


# Plans of calls whose arrays are used as they are (plain ndarrays, the compute dtype,
# walkable, batched, no mask, no grad_output), by their header key and what of the
# configuration the checks and decisions read.  Bounded; a plan of a layout with many outer
# indices (its walk is large) is not kept.
PLAN_CACHE_SIZE = 64
_plans = {}


def evaluate(config, input, target, mask, *, log_probs, want_grad, grad_output, out,
             focal_gamma=None, total=None, stats_only=False):
    """(value, grad or None) of cross-entropy (log_probs=False), NLL (log_probs=True) or,
    with `focal_gamma`, the softmax focal loss (config["weight"] then holds alpha and the
    mean divides by the number of counted positions, times C where config["mean_over"] is
    "elements").  stats_only: return the statistics
    {"loss": sum of losses, "weight": the mean's denominator}; total: the statistics of
    all the data, whose denominator scales the gradient and whose value is returned."""
    focal = focal_gamma is not None
    reduction = config["reduction"]
    key = None
    if mask is None and grad_output is None and total is None and not stats_only:
        header = _boundary.header_key(input, target, out)
        if header is not None:
            weight = config["weight"]
            key = (header, want_grad, log_probs, focal, reduction,
                   None if weight is None else weight.shape[0], config["ignore_index"] >= 0)
            plan = _plans.get(key)
            if plan is not None:
                # every check that reads only headers passed when the plan was made; what
                # depends on where the arrays are is checked again
                if out is not None:
                    _checks.gradient_out_memory(out, input, target)
                return _run(plan, config, input, target, None, None, 1.0, out, want_grad,
                            focal_gamma, None, False)
    call = _Call(config, input, target, mask, log_probs or focal, want_grad, grad_output, out,
                 focal)
    x = call.x
    direct = False
    grad = None
    if want_grad:
        direct = out is not None and out.dtype == x.dtype and \
            writable_in_place(out, call.grad_output, call.mask)
        grad = (out[None] if call.unbatched else out) if direct else np.empty_like(x)
    loss_out = np.empty(call.pos_shape, dtype=x.dtype) if reduction == "none" else None
    plan = _Plan(call, grad, loss_out, direct, log_probs, focal)
    if key is not None and x is input and call.target is target and small(plan.walk):
        remember(_plans, key, plan, PLAN_CACHE_SIZE)
    return _run(plan, config, x, call.target, call.mask, call.grad_output, call.g0, out,
                want_grad, focal_gamma, total, stats_only, grad, loss_out)


def _run(plan, config, x, target, mask, grad_output, g0, out, want_grad, focal_gamma, total,
         stats_only, grad=None, loss_out=None):
    """The target scan, the kernel and the reduction of a checked call laid out by `plan`
    (`grad` and `loss_out`: the arrays the plan was made with, or None to allocate them
    alike)."""
    C, reduction = plan.C, config["reduction"]
    if want_grad and grad is None:
        grad = (out[None] if plan.unbatched else out) if plan.direct else np.empty_like(x)
    if reduction == "none":
        if loss_out is None:
            loss_out = np.empty(plan.pos_shape, dtype=x.dtype)
        go = grad_output
    else:
        go = None
    ignore_index, weight = config["ignore_index"], config["weight"]
    threads = min(get_num_threads(), plan.max_threads)
    mean = reduction == "mean"
    # the mean's denominator when the statistics of all the data are given
    total_weight = None if total is None else float(total.parts["weight"])
    # focal's mean is over positions (or elements: positions x C), not alpha-weighted
    focal_factor = None if focal_gamma is None else \
        float(C if config.get("mean_over") == "elements" else 1)
    launch = plan.launch
    if launch is None:          # no positions
        count, weight_total, total_sum = 0, 0.0, 0.0
        if grad is not None:
            grad.fill(0)
    elif plan.hard:
        # the kernel scans the targets first (the only range check of class indices) and
        # takes the mean's denominator from the scan: the weight total (cross-entropy,
        # NLL) or the count times focal_factor
        if total_weight is not None or not mean:
            denom_kind = _cross_entropy.DENOM_NONE
            g = ieee_divide(g0, total_weight) if mean else g0
        else:
            denom_kind = _cross_entropy.DENOM_WEIGHT if focal_gamma is None else \
                _cross_entropy.DENOM_COUNT
            g = g0
        total_sum, count, weight_total, n_bad, first_bad = launch.run(
            x, target, None, mask, grad, go, loss_out, ignore_index, weight,
            config.get("label_smoothing", 0.0), 0.0 if focal_gamma is None else focal_gamma,
            threads, g, denom_kind, focal_factor or 1.0)
        if n_bad:
            _target_scan.raise_out_of_range(n_bad, first_bad, C, ignore_index)
    else:
        # probability targets: the mean is over counted positions
        count = int(np.count_nonzero(mask)) if mask is not None else \
            math.prod(plan.pos_shape)
        weight_total = float(count)
        g = ieee_divide(g0, weight_total if total_weight is None else total_weight) \
            if mean else g0
        total_sum = launch.run(
            x, None, target, mask, grad, go, loss_out, ignore_index, weight,
            config.get("label_smoothing", 0.0), 0.0, threads, g, _cross_entropy.DENOM_NONE,
            1.0)[0]

    if focal_factor is not None:
        weight_total = float(count) * focal_factor
    denom = weight_total if total_weight is None else total_weight

    if stats_only:
        return {"loss": total_sum, "weight": weight_total}
    if total is not None:
        value = plan.input_dtype.type(total.value())
    elif reduction == "none":
        value = loss_out.reshape(plan.loss_shape).astype(plan.input_dtype, copy=False)
    elif reduction == "sum":
        value = float_scalar(total_sum, plan.input_dtype)
    else:        # PyTorch's weighted mean over no weight is 0/0, NaN, whatever the sum
        value = float_scalar(total_sum / denom if denom else math.nan, plan.input_dtype)

    if grad is not None:
        if plan.unbatched:
            grad = grad[0]
        if out is not None:
            if not plan.direct:
                out[...] = grad
            grad = out
        else:
            grad = grad.astype(plan.input_dtype, copy=False)
    return value, grad
