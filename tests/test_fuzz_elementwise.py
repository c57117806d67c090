"""Property-based fuzzing of the elementwise losses: BCE, BCE with logits and sigmoid focal
(dense and class-index targets), over shapes, layouts, dtypes, broadcast weights, masks,
grad_output and out=; against float64 references from the README's formulas and PyTorch's
own BCE losses.  See tests/fuzz_support.py."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

pytest.importorskip("hypothesis")
torch = pytest.importorskip("torch", reason="the fuzzer's references use PyTorch autograd")

import onnxlosses  # noqa: E402
from fuzz_refs import Ambiguous, bce, bce_logits, sigmoid_focal, torch_builtin_bce  # noqa: E402
from fuzz_support import (Case, FLOATS, assert_close, budget, entries,  # noqa: E402
                          grad_outputs, layouts, logits, magnitude, outs, place,
                          reference_grad_output, rng_from, run_case, shapes,
                          value_scale)
from test_fuzz_softmax import index_targets  # noqa: E402


@st.composite
def broadcast_param(draw, shape, *, allow_bad=True):
    """An array that broadcasts to `shape` (a suffix of it, some sides 1), as an array or a
    nested list; sometimes one that does not (bad)."""
    rng = rng_from(draw)
    rank = draw(st.integers(0, len(shape)))
    pshape = [s if draw(st.booleans()) else 1 for s in shape[len(shape) - rank:]]
    if allow_bad and draw(st.integers(0, 9)) == 0:
        pshape = list(pshape) + [2] if draw(st.booleans()) else [7] + list(pshape)
    vals = np.asarray(rng.random(pshape)) * draw(st.sampled_from([1.0, 4.0]))
    if vals.size and draw(st.integers(0, 3)) == 0:
        vals.flat[0] = 0.0
    value = vals.tolist() if draw(st.integers(0, 4)) == 0 else vals
    try:        # bad: what the value holds does not broadcast (a list loses empty sides)
        bad = np.broadcast_shapes(np.shape(value), tuple(shape)) != tuple(shape)
    except ValueError:
        bad = True
    return value, bad


@st.composite
def bce_cases(draw, logits_mode):
    cls = onnxlosses.BCEWithLogitsLoss if logits_mode else onnxlosses.BCELoss
    fn = onnxlosses.binary_cross_entropy_with_logits if logits_mode else \
        onnxlosses.binary_cross_entropy
    dtype = draw(st.sampled_from(FLOATS))
    shape = draw(shapes(min_rank=0, max_rank=5))
    rng = rng_from(draw)
    params = dict(reduction=draw(st.sampled_from(["mean", "sum", "none"])))
    bad = []
    for name in ("weight",) + (("pos_weight",) if logits_mode else ()):
        if draw(st.booleans()):
            params[name], b = draw(broadcast_param(shape))
            if b:
                bad.append(name)
    loss = cls(**params)
    if logits_mode:
        xv = draw(logits(shape))
        yv = np.asarray(rng.random(shape))
        if draw(st.booleans()):
            yv = np.asarray(yv < 0.5).astype(np.float64)
    else:
        xv = np.asarray(rng.random(shape))
        if xv.size and draw(st.integers(0, 3)) == 0:
            xv.flat[draw(st.integers(0, xv.size - 1))] = draw(
                st.sampled_from([0.0, 1.0, np.nan, 1e-30, 1 - 1e-9, 1.5, -0.1]))
        yv = np.asarray(rng.random(shape))
        if yv.size and draw(st.integers(0, 4)) == 0:
            yv.flat[draw(st.integers(0, yv.size - 1))] = draw(
                st.sampled_from([0.0, 1.0, np.nan, 2.0, -1.0]))
    x = place(xv, dtype, draw(layouts(len(shape))))
    y = place(yv, draw(st.sampled_from(FLOATS)), draw(layouts(len(shape))))
    mask = None
    if draw(st.integers(0, 9)) == 0:     # they take no mask (PyTorch's have none)
        mask = place(np.ones(shape, bool), bool, draw(layouts(len(shape))))
        bad.append("mask")
    entry = draw(entries())
    if entry == "functional" and mask is not None:
        entry = "call"
    go = out = None
    if entry.startswith("value_and_grad"):
        go, b = draw(grad_outputs(params["reduction"], shape))
        bad += b
    if entry == "value_and_grad_out":
        out, b = draw(outs(shape, dtype))
        bad += b
    fparams = dict(params)
    f = (lambda a, b, mask=None: fn(a, b, **fparams)) if entry == "functional" else None
    return Case(loss, entry, x, y, mask, go, out, f, bad)


def _arr(p):
    a = p.view if hasattr(p, "view") else p
    a = np.array(a)
    return a.astype(np.float64) if a.dtype.kind == "f" else a


def logits_term_scales(cfg, x, y, go, scale):
    """BCE with logits computes (1 - y) x + lw softplus(-x): with pos_weight < 1 the two
    terms cancel (pos_weight 0: (1 - y) softplus(x)), so float32 rounding is relative to
    their size, w (|(1 - y) x| + |lw| softplus(-x)), reduced as the loss is; the gradient's
    to w (|lw| sigmoid(x) + |pw y|) |grad_output|."""
    shape = x.shape
    w = np.ones(shape) if cfg["weight"] is None else \
        np.broadcast_to(np.asarray(cfg["weight"], np.float64), shape)
    pw = np.ones(shape) if cfg["pos_weight"] is None else \
        np.broadcast_to(np.asarray(cfg["pos_weight"], np.float64), shape)
    with np.errstate(all="ignore"):
        lw = 1 + (pw - 1) * y
        sp = np.logaddexp(0, -x)
        terms = np.nan_to_num(np.abs(w) * (np.abs((1 - y) * x) + np.abs(lw) * sp),
                              posinf=0.0)
        gterms = np.nan_to_num(np.abs(w) * (np.abs(lw) / (1 + np.exp(-x)) + np.abs(pw * y)))
    g = float(np.max(np.abs(go))) if go is not None and np.size(go) else 1.0
    n = max(x.size, 1)
    v = {"mean": terms.sum() / n, "sum": terms.sum()}.get(cfg["reduction"],
                                                         terms.max(initial=0.0))
    gs = g * gterms.max(initial=0.0) / (n if cfg["reduction"] == "mean" else 1)
    return max(scale or 0.0, float(v)), float(gs)


def check_bce(logits_mode, case):
    x, y = _arr(case.x), _arr(case.t)
    cfg = case.loss.config
    fn = bce_logits if logits_mode else bce

    def reference(want_grad, go):
        return fn(cfg, x, y, go if want_grad else None)

    scale = gscale = None
    try:
        if cfg["reduction"] != "none":
            scale = value_scale(fn(dict(cfg, reduction="none"), x, y)[0], fn(cfg, x, y)[0])
        if logits_mode:
            scale, gscale = logits_term_scales(cfg, x, y, reference_grad_output(case)[0],
                                               scale)
    except Exception:  # noqa: BLE001 - a refused case
        pass
    ref = run_case(case, reference, mag=magnitude(x) if logits_mode else 1.0,
                   value_scale=scale, grad_scale=gscale)
    if ref is not None and np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and \
            (logits_mode or np.all((x > 0) & (x < 1))):
        want_grad = case.entry.startswith("value_and_grad")
        go, _ = reference_grad_output(case)
        tv, tg = torch_builtin_bce(logits_mode, cfg, x, y, go if want_grad else None)
        # PyTorch's formula cancels like the README's: compare at the terms' size
        assert_close(ref[0], tv, np.float64, "reference vs torch value", k=2 ** 20,
                     scale=scale)
        if want_grad and np.all(np.abs(x) < 30):
            assert_close(ref[1], tg, np.float64, "reference vs torch gradient", k=2 ** 20,
                         scale=gscale)


@budget(150)
@given(case=bce_cases(False))
def test_fuzz_bce(case):
    check_bce(False, case)


@budget(150)
@given(case=bce_cases(True))
def test_fuzz_bce_with_logits(case):
    check_bce(True, case)


@st.composite
def sigmoid_focal_cases(draw):
    dtype = draw(st.sampled_from(FLOATS))
    rng = rng_from(draw)
    index = draw(st.booleans())
    shape = draw(shapes(min_rank=2 if index else 0, max_rank=5))
    params = dict(alpha=draw(st.sampled_from([0.25, -1.0, 0.0, 1.0, 0.9])),
                  gamma=draw(st.sampled_from([0.0, 0.5, 1.0, 2.0, 3.5, 9.0, 2.0 ** 31, 1e10,
                                              1e39])),
                  reduction=draw(st.sampled_from(["none", "mean", "sum"])),
                  normalized=draw(st.booleans()),
                  reduced_threshold=draw(st.sampled_from([None, None, 0.5, 1.0, 0.01])))
    mask = None
    if index:
        C = shape[1]
        pos = shape[:1] + shape[2:]
        params["ignore_index"] = draw(st.sampled_from([-100, 255, 0, C]))
        tv, tdt = draw(index_targets(pos, C, params["ignore_index"]))
        t = place(tv, tdt, draw(layouts(len(pos))))
        if draw(st.integers(0, 3)) == 0:
            mask = place(np.asarray(rng.random(pos)) < 0.7, bool, draw(layouts(len(pos))))
    else:
        tdt = draw(st.sampled_from(FLOATS + (np.uint8, bool, np.int32)))
        tv = np.asarray(rng.random(shape))
        if np.dtype(tdt).kind != "f" or draw(st.booleans()):
            tv = np.asarray(tv < 0.5).astype(np.float64)
        t = place(tv, tdt, draw(layouts(len(shape))))
        if draw(st.integers(0, 3)) == 0:
            mshape = tuple(s if draw(st.booleans()) else 1 for s in shape)
            mask = place(np.asarray(rng.random(mshape)) < 0.7, bool, draw(layouts(len(mshape))))
    loss = onnxlosses.SigmoidFocalLoss(**params)
    x = place(draw(logits(shape)), dtype, draw(layouts(len(shape))))
    entry = draw(entries())
    go = out = None
    bad = []
    if entry.startswith("value_and_grad"):
        go, b = draw(grad_outputs(params["reduction"], shape))
        bad += b
    if entry == "value_and_grad_out":
        out, b = draw(outs(shape, dtype))
        bad += b
    f = (lambda a, b, mask=None: onnxlosses.sigmoid_focal_loss(a, b, mask=mask, **params)) \
        if entry == "functional" else None
    return Case(loss, entry, x, t, mask, go, out, f, bad)


@budget(200)
@given(case=sigmoid_focal_cases())
def test_fuzz_sigmoid_focal(case):
    x, t = _arr(case.x), _arr(case.t)
    mask = None if case.mask is None else np.array(case.mask.view)
    cfg = case.loss.config

    compute = np.float64 if case.x.view.dtype == np.float64 else np.float32

    def reference(want_grad, go):
        return sigmoid_focal(cfg, x, t, mask, go if want_grad else None, compute)

    # Infinite logits: the reference's autograd forms 0 * inf where the kernels leave out a
    # focal term with no slope; and a normalizer that overflowed (huge gamma) has no gradient
    gap = not np.all(np.isfinite(x)) or (cfg["normalized"] and cfg["gamma"] > 100)
    # Known gap (tests/test_fuzz_findings.py), normalized=True: a NaN logit's focal term is
    # not NaN, so the normalizer stays finite
    # ... and at huge gamma in float32 1 - p_t rounds to 1 where p_t < 6e-8, so the focal
    # term is 1 instead of exp(-gamma p_t)
    assume(not (cfg["gamma"] > 1e3 and case.x.view.dtype != np.float64))
    if cfg["normalized"]:
        assume(not np.isnan(x).any())
    # 1 - p_t comes from sigmoid(-x) and sigmoid(x) (no subtraction): exact to a few eps
    # relative, which the focal term's power makes gamma times that
    M = magnitude(x)
    mag = max(M, cfg["gamma"])
    try:
        # the gradient's alpha_t (p - y) terms are formed by subtraction: exact to eps
        # relative to alpha_t |grad_output| / n, however small p - y is
        go, _ = reference_grad_output(case)
        g = float(np.max(np.abs(go))) if go is not None and np.size(go) else 1.0
        n = max(x.size, 1)
        natural = g / n if cfg["reduction"] == "mean" else g
        # the value's terms alpha_t ft ce are made of ce's terms, of size max(1, |x|): a term
        # whose 1 - p_t is lost (0 instead of 1e-41) is wrong by far less than that
        vscale = None
        if not cfg["normalized"] and cfg["reduced_threshold"] is None:
            a = 1.0 if cfg["alpha"] < 0 else max(abs(cfg["alpha"]), abs(1 - cfg["alpha"]))
            vscale = a * max(1.0, M) * (n if cfg["reduction"] == "sum" else 1.0)
        run_case(case, reference, mag=mag, check_grad=not gap, value_scale=vscale,
                 grad_scale=None if cfg["normalized"] else natural)
    except Ambiguous:
        assume(False)
