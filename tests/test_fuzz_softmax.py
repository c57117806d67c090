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
from fuzz_support import (Case, FLOATS, INDEX, Layout, assert_close, budget, entries,  # noqa: E402
                          grad_outputs, layouts, logits, magnitude, outs, place,
                          reference_grad_output, rng_from, run_case, shapes,
                          value_scale)

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
    shape = draw(shapes(min_rank=0 if draw(st.integers(0, 19)) == 0 else 1, max_rank=5))
    if not shape:                          # a 0-d input: refused
        loss = cls(**({"gamma": 2.0} if kind == "focal" else {}))
        x = place(draw(logits(())), draw(st.sampled_from(FLOATS)), Layout())
        t = place(np.zeros((), np.int64), np.int64, Layout())
        return Case(loss, draw(st.sampled_from(["call", "value_and_grad"])), x, t)
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
        params["gamma"] = draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.7, 2.0 ** 31, 1e10]))
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
        tv = np.asarray(rng.random(shape)) if draw(st.booleans()) else \
            np.exp(rng.standard_normal(shape)) / np.exp(rng.standard_normal(shape)).sum(
                axis=1 if not unbatched else 0, keepdims=True)
        # Known gap (tests/test_fuzz_findings.py): a NaN probability in a class of weight 0
        # is dropped instead of making the loss NaN
        zero_w = params.get("weight") is not None and 0 in np.asarray(params["weight"])
        if tv.size and draw(st.integers(0, 5)) == 0:
            tv.flat[draw(st.integers(0, tv.size - 1))] = draw(
                st.sampled_from([0.0, -0.5] + ([] if zero_w else [np.nan])))
        t = place(tv, draw(st.sampled_from(FLOATS)), draw(layouts(len(shape))))
    else:
        tv, tdt = draw(index_targets(pos_shape, C, loss.config["ignore_index"]))
        t = place(tv, tdt, draw(layouts(len(pos_shape))))
    mask = None
    if draw(st.integers(0, 3)) == 0:
        mask = place(np.asarray(rng.random(pos_shape)) < 0.7, bool, draw(layouts(len(pos_shape))))
    entry = draw(entries())
    go, out = None, None
    if entry.startswith("value_and_grad"):
        go, go_bad = draw(grad_outputs(reduction, pos_shape))
        bad += go_bad
    if entry == "value_and_grad_out":
        out, b = draw(outs(shape, dtype))
        bad += b
    f = None
    if entry == "functional":
        fparams = {k: v for k, v in params.items()}
        f = lambda a, b, mask=None: functional(a, b, mask=mask, **fparams)  # noqa: E731
    return Case(loss, entry, x, t, mask, go, out, f, tuple(bad))


def term_scales(kind, cfg, x, t, mask, go):
    """(value scale, gradient scale): the weight each position's loss carries (w_t, alpha_t,
    or sum_c w_c |q'_c|), reduced as the loss is; float32 rounding errors of the terms are
    relative to it, whatever the terms themselves are (a loss of 1e-12 is exact only to
    about 1e-7 of its weight)."""
    xb = x[None] if x.ndim == 1 else x
    tb = t[None] if x.ndim == 1 else t
    C = xb.shape[1]
    pos = (xb.shape[0],) + xb.shape[2:]
    counted = np.ones(pos, bool) if mask is None else np.asarray(mask, bool).reshape(pos)
    w = cfg.get("weight") if kind != "focal" else cfg["alpha"]
    w = np.ones(C) if w is None else np.broadcast_to(np.asarray(w, np.float64), (C,))
    eps = cfg.get("label_smoothing", 0.0)
    if tb.dtype.kind == "f":
        q = np.abs((1 - eps) * tb + eps / C)
        mass = np.nan_to_num(np.einsum("c,nc...->n...", w, q))
        D = counted.sum()
    else:
        counted = counted & (tb != cfg["ignore_index"]) & (tb >= 0) & (tb < C)
        wt = w[np.where(counted, tb, 0)]
        mass = wt + eps / C * w.sum()
        D = wt[counted].sum() if kind != "focal" else counted.sum()
    mass = np.where(counted, mass, 0.0)
    top = float(mass.max()) if mass.size else 0.0
    g = float(np.max(np.abs(go))) if go is not None and np.size(go) else 1.0
    if cfg["reduction"] == "mean":
        return (float(mass.sum() / D) if D else 0.0), (g * top / D if D else 0.0)
    if cfg["reduction"] == "sum":
        return float(mass.sum()), g * top
    return top, g * top


def check(kind, case):
    x = np.array(case.x.view, np.float64)
    t = np.array(case.t.view)
    if t.dtype.kind == "f":
        t = t.astype(np.float64)
    mask = None if case.mask is None else np.array(case.mask.view)
    cfg = case.loss.config

    def reference(want_grad, go):
        return softmax_family(kind, cfg, x, t, mask, go if want_grad else None, want_grad)

    scale = gscale = None
    try:
        vfloor, gscale = term_scales(kind, cfg, x, t, mask, reference_grad_output(case)[0])
        scale = vfloor
        if cfg["reduction"] != "none":
            per, _ = softmax_family(kind, dict(cfg, reduction="none"), x, t, mask, None, False)
            v, _ = softmax_family(kind, cfg, x, t, mask, None, False)
            scale = max(value_scale(per, v) or 0.0, vfloor)
    except Exception:  # noqa: BLE001 - a refused case has no scale
        pass
    # (1 - p)^gamma turns a relative error e of 1 - p into gamma * e: ill-conditioned
    mag = 1.0 if kind == "nll" else max(magnitude(x), cfg.get("gamma", 0.0))
    ref = run_case(case, reference, mag=mag,
                   value_scale=scale, grad_scale=gscale)
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
            # a gradient that is 0 in exact arithmetic (label_smoothing=1 on equal logits) is
            # rounding noise on both sides: relative to the terms' scale, not to itself
            assert_close(ref[1], tg, np.float64, "reference vs torch gradient", k=2 ** 20,
                         scale=gscale)


@budget(300)
@given(case=softmax_cases("ce"))
def test_fuzz_cross_entropy(case):
    check("ce", case)


@budget(150)
@given(case=softmax_cases("nll"))
def test_fuzz_nll(case):
    check("nll", case)


@budget(200)
@given(case=softmax_cases("focal"))
def test_fuzz_focal(case):
    check("focal", case)
