"""Property-based fuzzing of the Dice family (Dice, Jaccard, Tversky, generalized Dice and
their presets): modes, activations, class-index and dense targets, ignore_index, masks,
classes, weights, absent-class policies, per-image pooling, reductions, grad_output and
out=, over shapes, layouts and dtypes; against the float64 reference written from the
README's "Dice family" section (tests/fuzz_refs.py).  See tests/fuzz_support.py."""
import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

pytest.importorskip("hypothesis")
torch = pytest.importorskip("torch", reason="the fuzzer's references use PyTorch autograd")

import onnxlosses  # noqa: E402
from fuzz_refs import dice_family  # noqa: E402
from fuzz_support import (Case, FLOATS, budget, entries, grad_outputs, layouts,  # noqa: E402
                          logits, magnitude, outs, place, reference_grad_output,
                          rng_from, run_case, shapes)
from test_fuzz_softmax import index_targets  # noqa: E402

VARIANTS = {"dice": (onnxlosses.DiceLoss, onnxlosses.dice_loss),
            "jaccard": (onnxlosses.JaccardLoss, onnxlosses.jaccard_loss),
            "tversky": (onnxlosses.TverskyLoss, onnxlosses.tversky_loss),
            "generalized": (onnxlosses.GeneralizedDiceLoss, onnxlosses.generalized_dice_loss)}
PRESETS = {"dice": ["smp", "monai", "seed", "seed_binary"], "jaccard": ["smp", "monai"],
           "tversky": ["smp"], "generalized": ["monai"]}


@st.composite
def dice_params(draw, variant, shape):
    rng = rng_from(draw)
    mode = draw(st.sampled_from(["multiclass", "multiclass", "binary", "multilabel"]))
    C = 1 if mode == "binary" else shape[1] if len(shape) > 1 else 1
    p = dict(mode=mode,
             from_logits=draw(st.booleans()),
             smooth=draw(st.sampled_from([1.0, 0.0, 1e-5, 2.5])),
             smooth_dr=draw(st.sampled_from([None, None, 0.0, 1e-5, 1.0])),
             eps=draw(st.sampled_from([0.0, 0.0, 1e-7, 0.5, 1e-30])),
             squared=draw(st.booleans()),
             per_image=draw(st.booleans()),
             reduction=draw(st.sampled_from(["mean", "sum", "none"])))
    if variant != "generalized":        # one score over all classes: neither applies
        p.update(log_loss=draw(st.booleans()),
                 absent=draw(st.sampled_from(["keep", "zero", "skip"])))
    if draw(st.integers(0, 3)) == 0:
        p["weight"] = rng.random(C) * 2 if draw(st.integers(0, 9)) else rng.random(C + 1)
    if draw(st.integers(0, 3)) == 0:
        p["ignore_index"] = draw(st.sampled_from([255, 0, C, -1, 1]))
    if C and draw(st.integers(0, 3)) == 0:
        k = draw(st.integers(1, C))
        p["classes"] = list(draw(st.permutations(range(C)))[:k])     # in any order
        if draw(st.integers(0, 9)) == 0:
            p["classes"] = p["classes"] + [C]          # out of range: refused
    if variant == "tversky":
        p.update(alpha=draw(st.sampled_from([0.5, 0.3, 0.7, 1.0, 0.0])),
                 beta=draw(st.sampled_from([0.5, 0.7, 0.3, 1.0, 0.0])),
                 gamma=draw(st.sampled_from([1.0, 0.75, 0.5, 2.0, 4 / 3, 1e10])))
    if variant == "generalized":
        p["weighting"] = draw(st.sampled_from(["square", "simple", "uniform"]))
    return p


@st.composite
def dice_cases(draw, variant):
    cls, fn = VARIANTS[variant]
    dtype = draw(st.sampled_from(FLOATS))
    rng = rng_from(draw)
    shape = draw(shapes(min_rank=0 if draw(st.integers(0, 19)) == 0 else 1, max_rank=5))
    C = shape[1] if len(shape) > 1 else 1
    if draw(st.integers(0, 4)) == 0:
        name = draw(st.sampled_from(PRESETS[variant]))
        extra = {}
        if name == "monai":
            extra = dict(softmax=draw(st.booleans()), batch=draw(st.booleans()))
        loss = cls.preset(name, **extra)
    else:
        loss = cls(**draw(dice_params(variant, shape)))
    cfg = loss.config
    mode = cfg["mode"]
    xv = draw(logits(shape)) if cfg["from_logits"] else np.asarray(rng.random(shape))
    if not cfg["from_logits"] and xv.size and draw(st.integers(0, 5)) == 0:
        xv.flat[draw(st.integers(0, xv.size - 1))] = draw(st.sampled_from([np.nan, 0.0, 1.0]))
    if not cfg["from_logits"] and draw(st.integers(0, 7)) == 0:
        # tiny probabilities (down to float32's subnormals): dL/dP beyond float32's range
        xv = xv * draw(st.sampled_from([1e-30, 1e-41]))
    x = place(xv, dtype, draw(layouts(len(shape))))
    pos = (shape[0],) + shape[2:] if len(shape) > 1 else shape
    if mode == "binary" and len(shape) > 1 and shape[1] != 1:
        pos = shape                                   # binary without a channel axis
    ii = cfg["ignore_index"]
    if mode == "multiclass" and len(shape) > 1 and draw(st.integers(0, 3)):
        tv, tdt = draw(index_targets(pos, C, ii))
        t = place(tv, tdt, draw(layouts(len(pos))))
    else:
        tshape = shape
        if mode == "binary" and len(shape) > 1 and shape[1] == 1 and draw(st.booleans()):
            tshape = pos
        tdt = draw(st.sampled_from(FLOATS + (np.uint8, bool, np.int64)))
        tv = np.asarray(rng.random(tshape))
        if np.dtype(tdt).kind != "f" or draw(st.booleans()):
            tv = np.asarray(tv < 0.4).astype(np.float64)
        if ii is not None and tv.size and np.dtype(tdt).kind != "b" and draw(st.booleans()):
            fits = np.can_cast(np.min_scalar_type(ii), tdt) or np.dtype(tdt).kind == "f"
            tv[np.asarray(rng.random(tshape)) < 0.2] = ii if fits else 0
        t = place(tv, tdt, draw(layouts(len(tshape))))
    mask = None
    if draw(st.integers(0, 3)) == 0:
        mask = place(np.asarray(rng.random(pos)) < 0.7, bool, draw(layouts(len(pos))))
    entry = draw(entries())
    go = out = None
    bad = []
    if entry.startswith("value_and_grad"):
        # the loss's shape for "none": what the reference says (probed without grad_output)
        try:
            v, _ = dice_family(variant, cfg, np.array(x.view, np.float64), np.array(t.view),
                               None if mask is None else np.array(mask.view))
            lshape = np.shape(v)
        except Exception:  # noqa: BLE001 - a refused case: any shape
            lshape = ()
        go, b = draw(grad_outputs(cfg["reduction"], lshape))
        bad += b
    if entry == "value_and_grad_out":
        out, b = draw(outs(shape, dtype))
        bad += b
    f = None
    if entry == "functional":
        if draw(st.integers(0, 4)):       # the functional takes the public parameters only
            public = {k: v for k, v in cfg.items() if not k.startswith("_")}
            f = lambda a, b, mask=None: fn(a, b, mask=mask, **public)  # noqa: E731
            if any(k.startswith("_") and v != loss.spec.defaults[k] for k, v in cfg.items()):
                entry = "call"            # a preset's internal switches: no functional form
        else:
            entry = "call"
    return Case(loss, entry, x, t, mask, go, out, f, bad)


def check(variant, case):
    x = np.array(case.x.view, np.float64)
    t = np.array(case.t.view)
    mask = None if case.mask is None else np.array(case.mask.view)
    cfg = case.loss.config

    p_dtype = None

    def reference(want_grad, go):
        return dice_family(variant, cfg, x, t, mask, go if want_grad else None,
                           p_dtype=p_dtype)

    # Known gap (tests/test_fuzz_findings.py): with dense multiclass targets a pixel whose
    # every class target is ignore_index makes the loss NaN
    if cfg["mode"] == "multiclass" and cfg["ignore_index"] is not None and \
            t.shape == x.shape and x.ndim > 1 and x.shape[1] > 1:
        assume(not np.any(np.all(t == cfg["ignore_index"], axis=1)))
    # float32 rounding is relative to the size of the terms: a class loss 1 - s is exact
    # to about eps, however small it is, and the gradient to eps * max |dL/dp|
    vscale = gscale = None
    try:
        go, _ = reference_grad_output(case)
        _, _, gscale = dice_family(variant, cfg, x, t, mask, go, scale=True)
        w = 1.0 if cfg["weight"] is None else max(float(np.max(cfg["weight"], initial=0)), 1.0)
        scores = (x.shape[0] if cfg["per_image"] else 1) * \
            (x.shape[1] if cfg["mode"] != "binary" and x.ndim > 1 else 1)
        vscale = w * (scores if cfg["reduction"] == "sum" else 1.0)
    except Exception:  # noqa: BLE001 - a refused case
        pass
    # Known gap (tests/test_fuzz_findings.py): a NaN probability gets a zero gradient where
    # its class's target is 0.  A NaN loss of finite inputs (a 0/0 score) gets the library's
    # zero product where IEEE says NaN, and an infinite one (log 0) has no gradient to compare.
    try:
        v = dice_family(variant, cfg, x, t, mask)[0]
        # an activation float32 cannot hold (a sigmoid of -700, a softmax of -110) is 0 in
        # a float32 or float16 input's computation: where that alone makes the loss
        # non-finite (log of s / 0 with smooth_dr 0, or a 0 / 0 score where float64 had
        # 0 / tiny), the reference takes the activations in float32 too
        if np.asarray(case.x.view).dtype != np.float64:
            vd = dice_family(variant, cfg, x, t, mask, p_dtype=np.float32)[0]
            if np.any(~np.isfinite(vd) & (np.isfinite(v) | (np.isnan(vd) != np.isnan(v)))):
                p_dtype, v = np.float32, vd
    except Exception:  # noqa: BLE001 - a refused call
        v = 0.0
    gap = bool(np.isnan(x).any()) or not np.all(np.isfinite(v))
    run_case(case, reference, mag=magnitude(x) if cfg["from_logits"] else 1.0,
             value_scale=vscale, grad_scale=gscale, check_grad=not gap)


@budget(200)
@given(case=dice_cases("dice"))
def test_fuzz_dice(case):
    check("dice", case)


@budget(120)
@given(case=dice_cases("jaccard"))
def test_fuzz_jaccard(case):
    check("jaccard", case)


@budget(150)
@given(case=dice_cases("tversky"))
def test_fuzz_tversky(case):
    check("tversky", case)


@budget(150)
@given(case=dice_cases("generalized"))
def test_fuzz_generalized_dice(case):
    check("generalized", case)
