"""How kernels walk the positions (N, d1, ..., dk) of several arrays at once, without copies.

Adjacent position dimensions merge when they do so in every array at once (stride of the
outer one equals stride times size of the inner one); size-1 dimensions vanish.  The last
merged dimension becomes the kernel's `inner` axis with one stride per array; the others are
enumerated into `outer` element offsets (one int64 per outer index and array).  Channels-last
views, slices and negative strides all come out as plain (offsets, stride) pairs.
"""
from dataclasses import dataclass

import numpy as np


@dataclass
class Walk:
    inner: int                 # positions along the inner axis
    offsets: list              # per array: int64 element offsets per outer index, or None
    strides: list              # per array: element stride along the inner axis, or 0


def element_strides(arr):
    return tuple(s // arr.itemsize for s in arr.strides)


def walk(shape, strides, keep_first=False):
    """Decompose positions of `shape` for arrays whose element strides are `strides` (a list
    with one tuple per array, or None for an absent array).

    keep_first: the first dimension (the sample axis) stays the outermost outer dimension
    and never merges, so no inner run spans two samples; outer index o then belongs to
    sample o // (n_outer // shape[0]).
    """
    if keep_first and len(shape) > 0:
        rest = walk(shape[1:], [None if s is None else s[1:] for s in strides])
        offsets = []
        for a, s in enumerate(strides):
            if s is None:
                offsets.append(None)
                continue
            first = np.arange(shape[0], dtype=np.int64) * s[0]
            offsets.append((first[:, None] + rest.offsets[a][None, :]).ravel())
        return Walk(rest.inner, offsets, rest.strides)
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
    return Walk(inner, offsets, [inner_strides.get(a, 0) for a in range(len(strides))])
