"""The range check on class-index targets inside an exported graph.

The kernels refuse a batch with a class index outside [0, C) at a counted position
(ValueError).  A graph cannot raise, and left alone the runtimes do not agree either:
onnxruntime's GatherElements fails on an index >= C but wraps a negative one to C - 1 (a
plausible loss), onnx.reference wraps or reads past the end, and an index compared with
Equal against 0..C-1 (Dice, sigmoid focal) is a silently all-zero one-hot row.  So the graph
checks: a position counts when its target is not ignore_index and its mask (if any) is
True; if any counted target lies outside [0, C), the loss and the gradient are NaN.

Out-of-range positions are also taken out of the loss math (treated as masked), so no op
ever indexes with them: no runtime reads out of bounds or fails, and every one of them
returns the same NaN.  Cost: a few elementwise ops on the (N, d1, ...) targets and one sum.
"""
import numpy as np


def check_targets(b, target, mask, *, ignore_index, n_classes, x):
    """Emit the check on int64 `target` (N, d1, ...).

    Returns (in_range, any_bad): `in_range` a bool tensor of the target's shape, True where
    the target lies in [0, C) (AND-ed with `mask` when there is one: the loss math treats
    False as masked out); `any_bad` a bool scalar, True when a counted target lies outside.
    `n_classes` is C when the input's shape fixes it, else None (read from `x`'s shape).
    """
    if isinstance(n_classes, (int, np.integer)):
        c = b.const(np.int64(n_classes), "target_check_classes")
    else:
        c = b.op("Gather", b.op("Shape", x, name="target_check_shape"),
                 b.const(np.int64(1), "target_check_class_axis"),
                 name="target_check_classes", axis=0)
    in_range = b.op("And", b.op("GreaterOrEqual", target, b.const(np.int64(0), "target_min"),
                                name="target_ge_0"),
                    b.op("Less", target, c, name="target_lt_c"), name="target_in_range")
    bad = b.op("Not", in_range, name="target_out_of_range")
    if ignore_index is not None:
        bad = b.op("And", bad, b.op("Not", b.op("Equal", target, b.const(
            np.int64(ignore_index), "target_check_ignore_index"), name="target_is_ignored"),
            name="target_not_ignored"), name="target_bad_counted")
    if mask is not None:
        bad = b.op("And", bad, mask, name="target_bad_masked")
        in_range = b.op("And", in_range, mask, name="target_in_range_masked")
    # a count, not ReduceMax: ReduceMax takes no bool before opset 20, and an empty batch
    # must give "nothing bad", which a sum of nothing does (0).  In float64, like every
    # whole-batch sum of these graphs: exact for any batch size.
    count = b.op("ReduceSum", b.cast(bad, np.float64, name="target_bad_f64"),
                 name="target_bad_count", keepdims=0)
    any_bad = b.op("Greater", count, b.const(0.0, "target_bad_zero", dtype=np.float64),
                   name="target_any_bad")
    return in_range, any_bad


def poison(b, value, any_bad, name):
    """`value` (any shape), or NaN everywhere when `any_bad`."""
    return b.op("Where", any_bad, b.const(np.nan, "target_nan"), value, name=name)
