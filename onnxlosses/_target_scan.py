"""The target scan that every loss with class-index targets runs before its kernel reads a
logit: the only place class indices are range-checked, so no kernel can skip it (the
softmax family's kernel runs the same loop, targets.h, itself: _cross_entropy.Launch.run).

A position is counted when its mask (if any) is set and its target differs from
ignore_index; every counted target must lie in [0, C), and values at positions that are
not counted are never looked at.  The scan also gives the number of counted positions and
the sum of their class weights (a weighted mean's denominator), so a kernel knows it before
the fused value-and-gradient pass.
"""
from . import _index_targets, _layout
from ._layout import element_strides
from ._threads import get_num_threads

SCAN_TILE = 4096


def target_walk(target, mask):
    """The walk of a (target, mask) pair for `scan`, None for an empty target."""
    if not target.size:
        return None
    return _layout.walk(target.shape, [element_strides(target),
                                       None if mask is None else element_strides(mask)])


def scan(target, mask, C, ignore_index, weight=None, *, walk=None):
    """(counted positions, sum of weight[t] over them (their count when weight is None)).

    target: integer class indices, walkable; mask: uint8 flags of the target's shape, or
    None; ignore_index: an int64, or None for none; walk: target_walk(target, mask) when
    the caller has it already.  Raises ValueError naming how many counted targets lie
    outside [0, C) and one of them.
    """
    if not target.size:
        return 0, 0.0
    w = walk if walk is not None else target_walk(target, mask)
    count, weight_total, n_bad, first_bad = _index_targets.scan(
        target, w.offsets[0], w.strides[0], mask, w.offsets[1], w.strides[1], w.inner,
        SCAN_TILE, C, ignore_index, weight, get_num_threads())
    if n_bad:
        raise_out_of_range(n_bad, first_bad, C, ignore_index)
    return count, weight_total


def raise_out_of_range(n_bad, first_bad, C, ignore_index):
    """The ValueError of a scan that found n_bad counted targets outside [0, C)."""
    other = "" if ignore_index is None else f" other than ignore_index={ignore_index}"
    hint = " (ignore_index=None: set it to leave a void label out)" \
        if ignore_index is None else ""
    raise ValueError(f"target has {n_bad} value{'s' if n_bad > 1 else ''} outside "
                     f"[0, {C}){other}, e.g. {first_bad}{hint}")
