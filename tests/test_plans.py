"""Remembered decisions (the drivers' plans, the walk cache): a call that replays a plan gives
every bit the general path gives, reads the new call's arrays, and raises the same errors.

The general path is what a call takes when nothing is remembered (`forget()`); the next call
with arrays of the same headers replays what it decided.  Every loss of the registry, its
main configurations, layouts, dtypes, target widths, masks and thread counts."""
import gc

import numpy as np
import pytest

import onnxlosses
from onnxlosses import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, DiceLoss, FocalLoss,
                        NLLLoss, SigmoidFocalLoss, _layout, _softmax_ce, bce, dice)
from onnxlosses._parity_grid import _data, configurations

from helpers import relayout

CACHES = (_softmax_ce._plans, bce._plans, dice._prepared, _layout._walks)


def forget():
    for cache in CACHES:
        cache.clear()


def _same(a, b):
    """Bit for bit: values, gradients (dtype, shape, bytes), or the same error."""
    if isinstance(a, tuple):
        return isinstance(b, tuple) and len(a) == len(b) and all(map(_same, a, b))
    if a is None or b is None:
        return a is b
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def _outcome(f):
    try:
        result = f()
    except (TypeError, ValueError) as exc:
        return (type(exc).__name__, str(exc))
    if isinstance(result, tuple):
        return tuple(None if r is None else np.array(r, copy=True) for r in result)
    return np.array(result, copy=True)


def _agree(a, b):
    if isinstance(a, tuple) and a and isinstance(a[0], str):
        return a == b
    return _same(a, b)


def _widths(t):
    if t.dtype.kind not in "iu":
        return [t.dtype]
    return [np.dtype(w) for w in ("uint8", "int16", "int32", "int64")
            if np.can_cast(t.min(), w) and np.can_cast(t.max(), w)]


def _cases():
    for shape in [(6, 5), (2, 5, 3, 4)]:
        for name, loss, kind, use_mask in configurations(shape[1]):
            yield pytest.param(name, loss, kind, use_mask, shape,
                               id=f"{name.replace(' ', '_')}-{'x'.join(map(str, shape))}")


@pytest.mark.parametrize("name,loss,kind,use_mask,shape", list(_cases()))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_replayed_calls_match_the_general_path_bit_for_bit(name, loss, kind, use_mask, shape,
                                                           dtype):
    x0, t0 = _data(kind, shape, dtype, 7, loss.spec.input)
    x1, t1 = _data(kind, shape, dtype, 8, loss.spec.input)
    rng = np.random.default_rng(3)
    mask = None
    if use_mask:
        over = t0.shape if t0.dtype.kind in "iu" else \
            (x0.shape if loss.spec.mask_over == "elements" else x0.shape[:1] + x0.shape[2:])
        mask = rng.random(over) < 0.8
    for layout in ("contiguous", "channels_last", "negative", "fortran"):
        for width in _widths(t0):
            x, t = relayout(x0, layout), relayout(t0.astype(width), layout)
            x2, t2 = relayout(x1, layout), relayout(t1.astype(width), layout)
            calls = [lambda a, b: loss(a, b, mask=mask),
                     lambda a, b: loss.value_and_grad(a, b, mask=mask),
                     lambda a, b: loss.value_and_grad(a, b, out=np.full_like(a, 7), mask=mask)]
            for n in (1, 2):
                with onnxlosses.threads(n):
                    for call in calls:
                        forget()
                        general = _outcome(lambda: call(x, t))
                        replayed = _outcome(lambda: call(x, t))
                        other = _outcome(lambda: call(x2, t2))     # same headers, new data
                        forget()
                        other_general = _outcome(lambda: call(x2, t2))
                        assert _agree(general, replayed), (layout, width, n)
                        assert _agree(other, other_general), (layout, width, n)


def _index_losses():
    return [CrossEntropyLoss(), NLLLoss(ignore_index=255), FocalLoss(alpha=0.25),
            SigmoidFocalLoss(reduction="sum"), DiceLoss(), DiceLoss(per_image=True)]


@pytest.mark.parametrize("loss", _index_losses(), ids=repr)
@pytest.mark.parametrize("width", ["uint8", "int16", "int32", "int64"])
def test_a_replayed_call_checks_the_targets_again(loss, width):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 5)).astype(np.float32)
    good = rng.integers(0, 5, 8).astype(width)
    bad = good.copy()
    bad[3] = 9
    forget()
    with pytest.raises(ValueError) as fresh:
        loss.value_and_grad(x, bad, out=np.empty_like(x))
    forget()
    loss.value_and_grad(x, good, out=np.empty_like(x))        # remembered
    with pytest.raises(ValueError) as replayed:
        loss.value_and_grad(x, bad, out=np.empty_like(x))
    assert str(replayed.value) == str(fresh.value)
    assert "outside [0, 5)" in str(replayed.value)


@pytest.mark.parametrize("loss", _index_losses() + [BCEWithLogitsLoss(), BCELoss()], ids=repr)
def test_a_replayed_call_checks_where_out_is(loss):
    rng = np.random.default_rng(0)
    x = rng.random((8, 5)).astype(np.float32)
    t = rng.integers(0, 5, 8) if loss.spec.target_kinds(loss.config)[0] == "index" else \
        (rng.random((8, 5)) < 0.5).astype(np.float32)
    views = np.empty((2, 8, 5), np.float32)
    views[0] = x
    x = views[0]
    loss.value_and_grad(x, t, out=views[1])                   # remembered: out is free
    for out, what in ((views[0], "input"), (t, "target")):
        if out.shape != x.shape or out.dtype != x.dtype:
            continue
        forget()
        with pytest.raises(ValueError, match=f"must not share memory with {what}") as fresh:
            loss.value_and_grad(x, t, out=out)
        loss.value_and_grad(x, t, out=views[1])
        with pytest.raises(ValueError) as replayed:
            loss.value_and_grad(x, t, out=out)
        assert str(replayed.value) == str(fresh.value)


def test_a_replayed_bce_call_checks_the_range_again():
    x = np.full((4, 3), 0.5, np.float32)
    y = np.zeros((4, 3), np.float32)
    BCELoss()(x, y)
    bad = x.copy()
    bad[1, 2] = 1.5
    with pytest.raises(ValueError, match="input must lie in \\[0, 1\\]: 1 value outside"):
        BCELoss()(bad, y)


def test_a_read_only_out_is_refused_after_a_writeable_one_was_remembered():
    x = np.zeros((4, 3), np.float32)
    t = np.zeros(4, np.int64)
    loss = CrossEntropyLoss()
    loss.value_and_grad(x, t, out=np.empty_like(x))
    out = np.empty_like(x)
    out.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writeable"):
        loss.value_and_grad(x, t, out=out)


def test_weights_are_never_taken_from_another_loss():
    """BCE's plans hold the weights they name by identity: a new loss whose weight array
    might reuse a dead one's id gets its own."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4)).astype(np.float32)
    y = (rng.random((6, 4)) < 0.5).astype(np.float32)
    for k in range(20):
        weight = np.full(4, 1.0 + k)
        loss = BCEWithLogitsLoss(weight=weight, pos_weight=np.full(4, 2.0 + k))
        value, grad = loss.value_and_grad(x, y)
        forget()
        want_value, want_grad = loss.value_and_grad(x, y)
        assert _same((value, grad), (want_value, want_grad))
        del loss, weight
        gc.collect()


def test_losses_sharing_a_driver_never_replay_each_others_plans():
    """Cross-entropy, NLL and softmax focal share one driver and its plans: on arrays of
    the same headers, with the same class-weight length and ignore_index, each still gets
    its own value (what it gives with nothing remembered)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((16, 4))
    t = rng.integers(0, 4, 16)
    w = np.array([0.5, 2.0, 1.0, 1.5])
    losses = [NLLLoss(weight=w, ignore_index=3), FocalLoss(alpha=w, ignore_index=3),
              CrossEntropyLoss(weight=w, ignore_index=3)]
    alone = []
    for loss in losses:
        forget()
        alone.append((loss(x, t), loss.value_and_grad(x, t)))
    for _ in range(2):
        for loss, want in zip(losses, alone):
            assert _same((loss(x, t), loss.value_and_grad(x, t)), want)


def test_dice_plans_keep_walks_per_pooling_and_gradient_layout():
    """Dice's plans are keyed by the arrays' headers and mode, not by per_image or where the
    gradient goes; the walks they keep must be told apart by those: pooled and per-image
    losses alternate on one batch, the gradient into `out` of two memory orders."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 4, 5, 2)).astype(np.float32)
    t = rng.integers(0, 4, (3, 5, 2))
    outs = [np.empty_like(x), np.empty_like(x, order="F")]
    losses = [DiceLoss(), DiceLoss(per_image=True)]
    alone = {}
    for i, loss in enumerate(losses):
        for j, out in enumerate(outs):
            forget()
            alone[i, j] = (loss(x, t),) + tuple(
                np.copy(a) for a in loss.value_and_grad(x, t, out=out))
    for _ in range(2):
        for i, loss in enumerate(losses):
            for j, out in enumerate(outs):
                got = (loss(x, t),) + tuple(
                    np.copy(a) for a in loss.value_and_grad(x, t, out=out))
                assert _same(got, alone[i, j])


def test_caches_stay_bounded():
    forget()
    loss, bce_loss, dice_loss = CrossEntropyLoss(), BCEWithLogitsLoss(), DiceLoss()
    for n in range(1, 200):
        x = np.zeros((n, 3), np.float32)
        loss(x, np.zeros(n, np.uint8))
        bce_loss(x, x)
        dice_loss(x, np.zeros(n, np.uint8))
    assert len(_softmax_ce._plans) <= _softmax_ce.PLAN_CACHE_SIZE
    assert len(bce._plans) <= bce.PLAN_CACHE_SIZE
    assert len(dice._prepared) <= dice.PLAN_CACHE_SIZE
    assert len(_layout._walks) <= _layout.WALK_CACHE_SIZE


def test_remembered_walks_are_read_only():
    w = _layout.walk((3, 4), [(4, 1), None])
    assert w is _layout.walk((3, 4), [(4, 1), None])
    with pytest.raises(ValueError):
        w.offsets[0][0] = 5
    with pytest.raises(AttributeError):
        w.inner = 7


def test_large_walks_are_not_remembered():
    shape = (_layout.WALK_CACHE_MAX_OUTER + 1, 3)
    w = _layout.walk(shape, [(7, 2)])          # no merge: one outer index per row
    assert len(w.offsets[0]) == shape[0]
    assert w is not _layout.walk(shape, [(7, 2)])


@pytest.mark.parametrize("layout", ["contiguous", "channels_last"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plain_calls_are_remembered_and_others_are_not(layout, dtype):
    rng = np.random.default_rng(0)
    x = relayout(rng.standard_normal((4, 3, 2, 5)).astype(dtype), layout)
    t = rng.integers(0, 3, (4, 2, 5)).astype(np.uint8)
    y = (x > 0).astype(dtype)
    for loss, target, cache in ((CrossEntropyLoss(), t, _softmax_ce._plans),
                                (FocalLoss(), t, _softmax_ce._plans),
                                (BCEWithLogitsLoss(), y, bce._plans),
                                (DiceLoss(), t, dice._prepared)):
        forget()
        loss.value_and_grad(x, target, out=np.empty_like(x))
        assert len(cache) == 1, loss
        forget()
        loss(x.astype(np.float16), target)       # converted: decided every call
        assert len(cache) == 0, loss
        if loss.spec.takes_mask:
            loss(x, target, mask=np.ones(t.shape, bool))
            assert len(cache) == 0, loss
