"""How kernels walk the positions (N, d1, ..., dk) of several arrays at once, without copies.

Adjacent position dimensions merge when they do so in every array at once (stride of the
outer one equals stride times size of the inner one); size-1 dimensions vanish.  The last
merged dimension becomes the kernel's `inner` axis with one stride per array; the others are
enumerated into `outer` element offsets (one int64 per outer index and array).  Channels-last
views, slices and negative strides all come out as plain (offsets, stride) pairs.

Kernels read every operand through typed pointers with element strides, so an operand must
be aligned and each of its byte strides a multiple of its item size (`walkable`); anything
else (a structured-array field, a buffer at an odd offset, an array unpickled from another
process) is copied at the boundary by `exact_copy`, and an `out=` of that kind is written
through a temporary.  `element_strides` refuses a stride it cannot express exactly, so no
call site can walk such an array by mistake.
"""
from dataclasses import dataclass

import numpy as np

from . import _boundary
# compiled (pyx/_boundary.pyx), as they run several times on every call:
# walkable(arr): data aligned for its dtype and every byte stride a whole number of elements;
# element_strides(arr): the strides in elements, ValueError for an array that is not walkable
from ._boundary import element_strides, walkable


@dataclass(frozen=True)
class Walk:
    inner: int                 # positions along the inner axis
    offsets: tuple             # per array: int64 element offsets per outer index (read-only),
                               # or None
    strides: tuple             # per array: element stride along the inner axis, or 0


# Walks of small inputs are remembered: deciding one costs more than a small batch's
# kernel, and a training loop asks for the same few again and again.  A walk is a function
# of its arguments alone (shape, element strides, keep_first: the key), its offsets are
# read-only, and only walks with few outer indices are kept, at most WALK_CACHE_SIZE of them.
WALK_CACHE_SIZE = 256
WALK_CACHE_MAX_OUTER = 64
_walks = {}


def exact_copy(arr):
    """`arr` itself when walkable, else a C-ordered copy of it (same shape and values)."""
    return arr if walkable(arr) else arr.copy(order="C")


def writable_in_place(out, *reads):
    """True when a kernel can write `out` directly: walkable, and sharing no memory with
    the arrays it reads meanwhile (grad_output, mask: those are read tile by tile, so a
    write could land before a read of the same bytes; None entries are skipped)."""
    return walkable(out) and not any(r is not None and np.may_share_memory(out, r)
                                     for r in reads)


def overlaps_itself(arr):
    """True when two elements of `arr` may share memory: a zero stride on a dimension of
    size > 1, or strides that interleave (dims sorted by |stride|, each stride must step
    past the whole extent of the smaller ones)."""
    quick = _boundary.overlaps_itself(arr)     # None: beyond int64 arithmetic
    if quick is not None:
        return quick
    dims = sorted((abs(st), n) for st, n in zip(arr.strides, arr.shape) if n > 1)
    extent = arr.itemsize
    for st, n in dims:
        if st < extent:
            return True
        extent = st * (n - 1) + extent
    return False


def walk(shape, strides, keep_first=False):
    """Decompose positions of `shape` for arrays whose element strides are `strides` (a list
    with one tuple per array, or None for an absent array).

    keep_first: the first dimension (the sample axis) stays the outermost outer dimension
    and never merges, so no inner run spans two samples; outer index o then belongs to
    sample o // (n_outer // shape[0]).
    """
    key = (tuple(shape), tuple(strides), bool(keep_first))
    found = _walks.get(key)
    if found is not None:
        return found
    w = _walk(shape, strides, keep_first)
    for off in w.offsets:
        if off is not None:
            off.flags.writeable = False
    if small(w):
        remember(_walks, key, w, WALK_CACHE_SIZE)
    return w


def small(w):
    """True for a walk that may be remembered (by walk, or in a driver's plan): None (no
    positions) or at most WALK_CACHE_MAX_OUTER outer indices."""
    return w is None or max((len(off) for off in w.offsets if off is not None),
                            default=0) <= WALK_CACHE_MAX_OUTER


def remember(cache, key, value, size):
    """cache[key] = value in a dict bounded to `size` entries (emptied when full: a loop
    over more layouts than that decides each anew, never wrongly)."""
    if len(cache) >= size:
        cache.clear()
    cache[key] = value


def _walk(shape, strides, keep_first):
    if keep_first and len(shape) > 0:
        rest = walk(shape[1:], [None if s is None else s[1:] for s in strides])
        offsets = []
        for a, s in enumerate(strides):
            if s is None:
                offsets.append(None)
                continue
            first = np.arange(shape[0], dtype=np.int64) * s[0]
            offsets.append((first[:, None] + rest.offsets[a][None, :]).ravel())
        return Walk(rest.inner, tuple(offsets), rest.strides)
    present = [i for i, s in enumerate(strides) if s is not None]
    dims = []  # [size, {array: stride}]
    for d, size in enumerate(shape):
        if size == 1:
            continue
        st = {a: strides[a][d] for a in present}
        if dims and all(dims[-1][1][a] == st[a] * size for a in present):
            dims[-1][0] *= size
            dims[-1][1] = st
        else:
            dims.append([size, st])
    if not dims:
        dims = [[1, {a: 0 for a in present}]]
    inner, inner_strides = dims[-1]
    offsets = [None] * len(strides)
    for a in present:
        off = np.zeros(1, dtype=np.int64)
        for size, st in dims[:-1]:
            off = (off[:, None] + np.arange(size, dtype=np.int64) * st[a]).ravel()
        offsets[a] = off
    return Walk(inner, tuple(offsets),
                tuple(inner_strides.get(a, 0) for a in range(len(strides))))
