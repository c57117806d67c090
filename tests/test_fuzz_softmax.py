"""Property-based fuzzing of cross-entropy, NLL and softmax focal: random shapes (rank 1 to
5, empty dimensions), memory layouts, dtypes, targets in and out of range, masks, weights,
grad_output and out=.  Every call either matches the float64 reference written from the
README's formulas (and PyTorch's own loss, where it has one) or raises a ValueError /
TypeError naming the offending argument; no argument's bytes change; out= is written
exactly where it lies.  See tests/fuzz_support.py for the machinery."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

pytest.importorskip("hypothesis")
torch = pytest.importorskip("torch", reason="the fuzzer's references use PyTorch autograd")

import onnxlosses  # noqa: E402
from fuzz_refs import softmax_family, torch_builtin_softmax  # noqa: E402
from fuzz_support import (FLOATS, INDEX, Case, assert_close, budget, grad_outputs,  # noqa: E402
                          layouts, logits, magnitude, out_buffer, place,
                          reference_grad_output, rng_from, run_case, shapes, value_scale)

CLASSES = {"ce": (onnxlosses.CrossEntropyLoss, onnxlosses.cross_entropy),
           "nll": (onnxlosses.NLLLoss, onnxlosses.nll_loss),
           "focal": (onnxlosses.FocalLoss, onnxlosses.focal_loss)}


@st.composite
def ignore_indices(draw, C):
    return draw(st.sampled_from([-100, -100, 255, -1, 0, max(C - 1, 0), C, 2 ** 31, -(2 ** 40)]))


@st.composite
def index_targets(draw, pos_shape, C, ignore_index):
    """Class indices of `pos_shape` in a random index dtype: mostly in [0, C), some equal to
    ignore_index, sometimes a few out of range (C, -1, 255, the dtype's extremes)."""
    dt = np.dtype(draw(st.sampled_from(INDEX)))
    info = np.iinfo(dt)
    rng = rng_from(draw)
    n = int(np.prod(pos_shape))
    t = rng.integers(0, max(C, 1), n).astype(np.int64)
    if n and ignore_index is not None and info.min <= ignore_index <= info.max and \
            draw(st.booleans()):
        t[rng.random(n) < 0.3] = ignore_index
    if n and draw(st.integers(0, 4)) == 0:
        bad = [C, -1, 255, 100000, info.max, info.min, C + 1]
        for _ in range(draw(st.integers(1, 2))):
            v = draw(st.sampled_from(bad))
            if info.min <= v <= info.max:
                t[draw(st.integers(0, n - 1))] = v
    return t.reshape(pos_shape), dt


@st.composite
def softmax_cases(draw, kind):
    cls, functional = CLASSES[kind]
    dtype = draw(st.sampled_from(FLOATS))
    shape = draw(shapes(min_rank=1, max_rank=5))
    if draw(st.integers(0, 9)):           # mostly at least one class
        shape = shape[:1] + (max(shape[1], 1),) + shape[2:] if len(shape) > 1 else \
            (max(shape[0], 1),)
    C = shape[1] if len(shape) > 1 else shape[0]
    unbatched = len(shape) == 1
    pos_shape = () if unbatched else (shape[0],) + shape[2:]
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    ignore_index = draw(ignore_indices(C))
    params = dict(reduction=reduction, ignore_index=ignore_index)
    rng = rng_from(draw)
    bad = []
    wlen = C if draw(st.integers(0, 9)) else C + 1
    wvals = rng.random(wlen) * draw(st.sampled_from([1.0, 3.0]))
    if wlen and draw(st.booleans()):
        wvals[rng.random(wlen) < 0.3] = 0.0
    if kind in ("ce", "nll"):
        if draw(st.booleans()):
            params["weight"] = wvals if draw(st.booleans()) else wvals.tolist()
    else:
        params["gamma"] = draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.7]))
        params["alpha"] = draw(st.sampled_from([None, 0.25, 2.0, "per-class"]))
        if params["alpha"] == "per-class":
            params["alpha"] = wvals
    probs = kind == "ce" and draw(st.integers(0, 3)) == 0
    if kind == "ce":
        params["label_smoothing"] = draw(st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0]))
        if probs and ignore_index >= 0:
            params["ignore_index"] = -100
    loss = cls(**params)
    x = place(draw(logits(shape, scale=None if kind != "nll" else 3.0)), dtype,
              draw(layouts(len(shape))))
    if probs:
        tv = rng.random(shape) if draw(st.booleans()) else \
            np.exp(rng.standard_normal(shape)) / np.exp(rng.standard_normal(shape)).sum(
                axis=1 if not unbatched else 0, keepdims=True)
        if tv.size and draw(st.integers(0, 5)) == 0:
            tv.flat[draw(st.integers(0, tv.size - 1))] = draw(st.sampled_from([np.nan, 0.0, -0.5]))
        t = place(tv, draw(st.sampled_from(FLOATS)), draw(layouts(len(shape))))
    else:
        tv, tdt = draw(index_targets(pos_shape, C, loss.config["ignore_index"]))
        t = place(tv, tdt, draw(layouts(len(pos_shape))))
    mask = None
    if draw(st.integers(0, 3)) == 0:
        mask = place(rng.random(pos_shape) < 0.7, bool, draw(layouts(len(pos_shape))))
    entry = draw(st.sampled_from(["call", "functional", "value_and_grad", "value_and_grad_out"]))
    go, out = None, None
    if entry.startswith("value_and_grad"):
        go, go_bad = draw(grad_outputs(reduction, pos_shape))
        bad += go_bad
    if entry == "value_and_grad_out":
        out = out_buffer(shape, dtype, draw(layouts(len(shape), allow_broadcast=False,
                                                      allow_readonly=False)))
    f = None
    if entry == "functional":
        fparams = {k: v for k, v in params.items()}
        f = lambda a, b, mask=None: functional(a, b, mask=mask, **fparams)  # noqa: E731
    return Case(loss, entry, x, t, mask, go, out, f, tuple(bad))


def check(kind, case):
    x = np.array(case.x.view, np.float64)
    t = np.array(case.t.view)
    if t.dtype.kind == "f":
        t = t.astype(np.float64)
    mask = None if case.mask is None else np.array(case.mask.view)
    cfg = case.loss.config

    def reference(want_grad, go):
        return softmax_family(kind, cfg, x, t, mask, go if want_grad else None, want_grad)

    scale = None
    if cfg["reduction"] != "none":
        try:
            per, _ = softmax_family(kind, dict(cfg, reduction="none"), x, t, mask, None, False)
            v, _ = softmax_family(kind, cfg, x, t, mask, None, False)
            scale = value_scale(per, v)
        except Exception:  # noqa: BLE001 - a refused case has no scale
            pass
    ref = run_case(case, reference, mag=1.0 if kind == "nll" else magnitude(x),
                   value_scale=scale)
    # PyTorch's own loss, where it has this one: no mask, finite logits (the README lists
    # how non-finite logits and ignored positions differ)
    if ref is not None and kind in ("ce", "nll") and mask is None and np.all(np.isfinite(x)) \
            and x.size and x.shape[x.ndim > 1] and \
            (t.dtype.kind != "f" or np.all(np.isfinite(t))):
        go, _ = reference_grad_output(case)
        tv, tg = torch_builtin_softmax(kind, cfg, x, t,
                                       go if case.entry.startswith("value_and_grad") else None)
        assert_close(ref[0], tv, np.float64, "reference vs torch value", k=2 ** 20)
        if case.entry.startswith("value_and_grad") and ref[1] is not None:
            assert_close(ref[1], tg, np.float64, "reference vs torch gradient", k=2 ** 20)


@budget(120)
@given(case=softmax_cases("ce"))
def test_fuzz_cross_entropy(case):
    check("ce", case)


@budget(60)
@given(case=softmax_cases("nll"))
def test_fuzz_nll(case):
    check("nll", case)


@budget(80)
@given(case=softmax_cases("focal"))
def test_fuzz_focal(case):
    check("focal", case)
