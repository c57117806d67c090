"""Losses on dask arrays: per-chunk statistics with the kernels, combined with a tree
reduction, then the value; gradients as a dask array of the input's chunks.

    import onnxlosses.dask as old
    total = old.stats(loss, x, t)          # a dask.delayed LossStats
    value = old.value(loss, x, t)          # computes
    value, grad = old.value_and_grad(loss, x, t)   # grad: a lazy dask array

The input is chunked along the batch and spatial axes; its class axis must be one chunk (it
is rechunked, with a warning, if not).  Targets and masks are rechunked to the input's
chunks when they differ.  Chunks of the same samples (spatial tiles) merge their statistics
first, then batch chunks combine in order, so per-image Dice sees whole samples.  Results
equal the in-memory ones (up to float64 rounding).  Two passes over the data for gradients:
the statistics, then each chunk's gradient given them.

Dask is an optional dependency (`pip install onnxlosses[dask]`); `import onnxlosses` never
imports it.
"""
import operator
import warnings

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as exc:
    raise ImportError(f"onnxlosses.dask needs dask ({exc}): pip install 'onnxlosses[dask]'") \
        from exc

from .stats import require_reduction


def _class_axis(loss, x, target):
    """The input's class axis, or None for elementwise losses with dense targets."""
    return loss.spec.class_axis(loss.config, target.shape == x.shape)


def _align(loss, x, target, mask):
    """Rechunk so that every chunk of x has a matching chunk of target (and mask)."""
    axis = _class_axis(loss, x, target)
    if axis is not None and len(x.chunks[axis]) > 1:
        warnings.warn(f"{type(loss).__name__} needs the class axis in one chunk; "
                      f"rechunking input from {x.chunks[axis]} to ({x.shape[axis]},)",
                      stacklevel=3)
        x = x.rechunk({axis: -1})
    # BCE's weight / pos_weight broadcast to the input: every axis they vary along must be
    # one chunk, so that each chunk sees the whole parameter
    for name in ("weight", "pos_weight"):
        p = loss.config.get(name)
        if axis is None and isinstance(p, np.ndarray) and p.ndim:
            shape = (1,) * (x.ndim - p.ndim) + p.shape
            spread = {a: -1 for a, n in enumerate(shape) if n > 1 and len(x.chunks[a]) > 1}
            if spread:
                warnings.warn(f"{name} of shape {p.shape} varies along axes "
                              f"{sorted(spread)}; rechunking them into one chunk each",
                              stacklevel=3)
                x = x.rechunk(spread)
    target = da.asarray(target)
    if target.shape == x.shape:
        target = target.rechunk(x.chunks)
    else:
        target = target.rechunk(x.chunks[:1] + x.chunks[2:])
    if mask is not None:
        mask = da.asarray(mask)
        mask = mask.rechunk(x.chunks if mask.shape == x.shape else x.chunks[:1] + x.chunks[2:])
    return x, target, mask, axis


def _blocks(x, target, mask, axis):
    """((batch index, block index tuple of x), x block, target block, mask block) per
    chunk, in C order of the chunk grid."""
    xb = x.to_delayed()
    tb = target.to_delayed()
    mb = None if mask is None else mask.to_delayed()
    dense = target.ndim == x.ndim
    for idx in np.ndindex(*xb.shape):
        tidx = idx if dense or axis is None else idx[:1] + idx[2:]
        midx = None if mb is None else (idx if mb.ndim == x.ndim else idx[:1] + idx[2:])
        yield idx, xb[idx], tb[tidx], None if mb is None else mb[midx]


def _tree(items, combine):
    """Pairwise tree reduction of delayed objects, in order."""
    items = list(items)
    while len(items) > 1:
        items = [dask.delayed(combine)(items[i], items[i + 1]) if i + 1 < len(items)
                 else items[i] for i in range(0, len(items), 2)]
    return items[0]


def _block_stats(loss, x, t, m):
    return loss.stats(x, t, mask=m)


def stats(loss, input, target, *, mask=None):
    """A dask.delayed LossStats of `loss` over the dask arrays (call .compute())."""
    require_reduction(loss)
    x, target, mask, axis = _align(loss, da.asarray(input), target, mask)
    by_batch = {}
    for idx, xb, tb, mb in _blocks(x, target, mask, axis):
        by_batch.setdefault(idx[0], []).append(dask.delayed(_block_stats)(loss, xb, tb, mb))
    merged = [_tree(by_batch[i], lambda a, b: a.merge_tiles(b)) for i in sorted(by_batch)]
    return _tree(merged, operator.add)


def value(loss, input, target, *, mask=None, **compute_kwargs):
    """The loss of the whole dask arrays, as the in-memory call would give it."""
    return stats(loss, input, target, mask=mask).compute(**compute_kwargs).value()


def _block_grad(x, t, *rest, loss, total, squeeze_target, block_info=None):
    m = rest[0] if rest else None
    if squeeze_target:
        t = t[:, 0]
    if m is not None and m.ndim == x.ndim and squeeze_target:
        m = m[:, 0]
    start, stop = block_info[0]["array-location"][0]
    tile_total = total.for_samples(start, stop) if total.concat else total
    return loss.value_and_grad(x, t, mask=m, total=tile_total)[1]


def value_and_grad(loss, input, target, *, mask=None, total=None, **compute_kwargs):
    """(value, grad): the value computed now, grad a lazy dask array of the input's chunks
    (the gradient of the global loss).  `total`: statistics already computed (else they
    are, in a first pass)."""
    original = da.asarray(input)
    x, target, mask, axis = _align(loss, original, target, mask)
    if total is None:
        total = stats(loss, x, target, mask=mask).compute(**compute_kwargs)
    # map_blocks pairs blocks by index: give per-position arrays a length-1 class axis
    squeeze = target.ndim < x.ndim
    args = [x, target[:, None] if squeeze else target]
    if mask is not None:
        args.append(mask[:, None] if mask.ndim < x.ndim else mask)
    grad = da.map_blocks(_block_grad, *args, dtype=x.dtype, chunks=x.chunks, loss=loss,
                         total=total, squeeze_target=squeeze,
                         meta=np.empty((0,) * x.ndim, dtype=x.dtype))
    if grad.chunks != original.chunks:   # back to the caller's chunks
        grad = grad.rechunk(original.chunks)
    return np.float64(total.value()), grad
