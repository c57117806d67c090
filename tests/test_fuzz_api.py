"""Property-based fuzzing of the API around the losses: statistics (exact accumulation over
random splits of a batch), to_onnx (the graph run under onnxruntime CPU against the float64
reference), parity.check, thread-count invariance (bit for bit), pickling, constructor
arguments of every kind, and out= that aliases another argument or itself.
See tests/fuzz_support.py."""
import copy
import pickle

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

pytest.importorskip("hypothesis")
torch = pytest.importorskip("torch", reason="the fuzzer's references use PyTorch autograd")

import onnxlosses  # noqa: E402
from fuzz_refs import (Ambiguous, Refused, bce, bce_logits, dice_family,  # noqa: E402
                       sigmoid_focal, softmax_family)
from fuzz_support import (FLOATS, assert_close, assert_names, budget, layouts,  # noqa: E402
                          magnitude, place)
from test_fuzz_dice import dice_cases  # noqa: E402
from test_fuzz_elementwise import (bce_cases, logits_term_scales,  # noqa: E402
                                   sigmoid_focal_cases)
from test_fuzz_softmax import softmax_cases, term_scales  # noqa: E402

KINDS = ["ce", "nll", "focal", "bce", "bce_logits", "sigmoid_focal", "dice", "jaccard",
         "tversky", "generalized"]
DICE = ("dice", "jaccard", "tversky", "generalized")


def cases(kind):
    if kind in ("ce", "nll", "focal"):
        return softmax_cases(kind)
    if kind in ("bce", "bce_logits"):
        return bce_cases(kind == "bce_logits")
    if kind == "sigmoid_focal":
        return sigmoid_focal_cases()
    return dice_cases(kind)


def arrays_of(case):
    """float64 input, the target as the call sees it (float64 when float), mask."""
    x = np.array(case.x.view, np.float64)
    t = np.array(case.t.view)
    if t.dtype.kind == "f":
        t = t.astype(np.float64)
    mask = None if case.mask is None else np.array(case.mask.view)
    return x, t, mask


def known_gaps(kind, cfg, x, t, value, dtype=None, exported=False):
    """(no value check, no gradient check): the per-family tests' known gaps
    (tests/test_fuzz_findings.py), for the tests here that call any loss.  dtype: the
    input's, when x is its float64 copy; exported: the graph or another path is compared
    (which cannot be told the tolerance sigmoid focal's saturated 1 - p_t needs)."""
    x_dtype = np.dtype(dtype) if dtype is not None else np.asarray(x).dtype
    x = np.asarray(x, np.float64)
    nan = bool(np.isnan(x).any())
    finite = bool(np.all(np.isfinite(x)))
    skip_value = skip_grad = False
    if kind in DICE:
        skip_grad = nan or not np.all(np.isfinite(value))
        if cfg["mode"] == "multiclass" and cfg["ignore_index"] is not None and \
                t.shape == x.shape and x.ndim > 1 and x.shape[1] > 1:
            ignored = t == cfg["ignore_index"]
            # every class of a pixel ignored: NaN; some (exported): the graph zeroes p after
            # the softmax where the kernel renormalizes it over the classes left
            skip_value = bool(np.any(np.all(ignored, axis=1)) or (exported and ignored.any()))
    if kind == "ce" and exported and cfg.get("label_smoothing", 0) > 0 and \
            cfg["weight"] is not None and cfg["reduction"] == "mean":
        # the graph's mean over zero total weight is +-inf where the kernel and PyTorch give
        # NaN (tests/test_fuzz_findings.py): left out where a class weight is 0
        skip_value |= bool(np.any(np.asarray(cfg["weight"]) == 0))
    if kind == "sigmoid_focal":
        skip_grad = not finite or (cfg["normalized"] and cfg["gamma"] > 100)
        skip_value = (cfg["normalized"] and nan) or (cfg["gamma"] > 1e3 and
                                                     x_dtype != np.float64)
        if exported and cfg["gamma"] > 0:   # the graph's float32 Sigmoid / PyTorch's 1 - p_t
            skip_value |= magnitude(x) > (30 if x_dtype == np.float64 else 12)
    return skip_value, skip_value or skip_grad


def reference(kind, cfg, x, t, mask, go=None, want_grad=True):
    """(value, grad) of the float64 reference; raises Refused."""
    if kind in ("ce", "nll", "focal"):
        return softmax_family(kind, cfg, x, t, mask, go, want_grad)
    if kind in ("bce", "bce_logits"):
        if mask is not None:
            raise Refused("mask")
        return (bce_logits if kind == "bce_logits" else bce)(cfg, x, t, go)
    if kind == "sigmoid_focal":
        return sigmoid_focal(cfg, x, t, mask, go)
    return dice_family(kind, cfg, x, t, mask, go)


@st.composite
def valid_cases(draw, kinds=KINDS, reductions=None):
    """(kind, case, reference value, reference gradient) for a call the README says must
    succeed."""
    kind = draw(st.sampled_from(kinds))
    case = draw(cases(kind))
    assume(not case.bad)
    cfg = case.loss.config
    if reductions is not None:
        assume(cfg["reduction"] in reductions)
    x, t, mask = arrays_of(case)
    try:
        with np.errstate(all="ignore"):
            v, g = reference(kind, cfg, x, t, mask)
    except (Refused, Ambiguous):     # refused, or no reference at a discontinuity
        assume(False)
    return kind, case, v, g


# -- statistics -----------------------------------------------------------------------------

@budget(100)
@given(data=st.data(), vc=valid_cases(reductions=("mean", "sum")))
def test_fuzz_stats_over_random_splits(data, vc):
    """sum(loss.stats(part) for part in a split) gives the loss of the whole batch, and
    value_and_grad(part, total=...) the whole batch's gradient, part by part."""
    kind, case, v, g = vc
    x, t, mask = case.x.view, case.t.view, None if case.mask is None else case.mask.view
    loss = case.loss
    assume(x.ndim >= 2 and x.shape[0] >= 1 and t.shape[:1] == x.shape[:1])
    for name in ("weight", "pos_weight"):    # BCE weights along the batch axis do not split
        if kind in ("bce", "bce_logits") and loss.config.get(name) is not None:
            assume(np.ndim(loss.config[name]) < x.ndim or np.shape(loss.config[name])[0] == 1)
    if mask is not None:
        assume(mask.shape[:1] == x.shape[:1])
    N = x.shape[0]
    cuts = sorted(data.draw(st.lists(st.integers(0, N), max_size=3), label="cuts"))
    bounds = [0] + cuts + [N]
    parts = [slice(a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    assume(not known_gaps(kind, loss.config, x, np.asarray(t), v, exported=True)[0])
    with np.errstate(all="ignore"):
        stats = [loss.stats(x[s], t[s], mask=None if mask is None else mask[s]) for s in parts]
        total = sum(stats)
        dtype = x.dtype
        # float32 terms are exact to eps relative to their size, not to a result that
        # cancels (BCE with logits' two terms) or is tiny (-log p_t with p_t ~ 1)
        vscale = _value_term_scale(kind, loss.config, x, t, mask)
        assert_close(dtype.type(total.value()), v, dtype, "sum of split statistics",
                     magnitude=magnitude(x) if kind != "nll" else 1.0, scale=vscale)
        grads = [loss.value_and_grad(x[s], t[s], mask=None if mask is None else mask[s],
                                     total=total)[1] for s in parts]
    if grads and not known_gaps(kind, loss.config, x, np.asarray(t), v)[1]:
        # an exactly-zero reference gradient can come from cancellation (C = 1: q p - q with
        # p = 1), which float arithmetic leaves at an ulp of its terms: scale the tolerance
        # by the size of a term (target magnitude over the mean's count) as well
        tf = np.asarray(t, np.float64) if np.asarray(t).dtype.kind == "f" else np.ones(1)
        finite_t = np.abs(tf[np.isfinite(tf)])
        term = max(1.0, float(finite_t.max()) if finite_t.size else 1.0)
        if loss.config.get("reduction") == "mean":
            term /= max(1, int(np.prod(x.shape)) // max(1, x.shape[1] if x.ndim > 1 else 1))
        finite_g = np.abs(np.asarray(g, np.float64)[np.isfinite(g)])
        scale = max(float(finite_g.max()) if finite_g.size else 0.0, term)
        # (1 - p)^gamma turns a relative error e of 1 - p into gamma * e (as the softmax and
        # elementwise fuzzers say): a focal loss's gamma is part of its magnitude
        mag = 1.0 if kind == "nll" else max(magnitude(x), loss.config.get("gamma", 0.0)
                                            if kind == "focal" else 0.0)
        assert_close(np.concatenate(grads, axis=0), g, dtype, "gradients with total=",
                     magnitude=mag, scale=scale)


@budget(30)
@given(kind=st.sampled_from(KINDS), c1=st.integers(1, 4), c2=st.integers(1, 4),
       seed=st.integers(0, 99))
def test_fuzz_stats_of_other_class_counts_do_not_mix(kind, c1, c2, seed):
    """Statistics of batches with different class counts do not add silently."""
    assume(c1 != c2)
    rng = np.random.default_rng(seed)
    loss = {"ce": onnxlosses.CrossEntropyLoss(), "nll": onnxlosses.NLLLoss(),
            "focal": onnxlosses.FocalLoss(), "bce": onnxlosses.BCELoss(),
            "bce_logits": onnxlosses.BCEWithLogitsLoss(),
            "sigmoid_focal": onnxlosses.SigmoidFocalLoss(reduction="mean"),
            "dice": onnxlosses.DiceLoss(), "jaccard": onnxlosses.JaccardLoss(),
            "tversky": onnxlosses.TverskyLoss(),
            "generalized": onnxlosses.GeneralizedDiceLoss()}[kind]

    def batch(C):
        x = rng.standard_normal((2, C, 3))
        if kind == "bce":
            return 1 / (1 + np.exp(-x)), rng.random((2, C, 3))
        if kind in ("bce_logits",):
            return x, rng.random((2, C, 3))
        return x, rng.integers(0, C, (2, 3))
    s1, s2 = loss.stats(*batch(c1)), loss.stats(*batch(c2))
    try:
        (s1 + s2).value()
    except ValueError as exc:
        assert_names(exc, "statistics", "classes", "C")
        return
    # a loss sum and a denominator may add whatever C was; per-class sums may not
    assert kind not in ("dice", "jaccard", "tversky", "generalized"), \
        f"statistics of {c1} and {c2} classes added"


# -- ONNX export -------------------------------------------------------------------------

def _onnx_feeds(kind, case, model):
    x, t = case.x.view, case.t.view
    names = [i.name for i in model.graph.input]
    feeds = {"input": np.ascontiguousarray(x)}
    if t.dtype.kind in "fb" or (kind in ("bce", "bce_logits", "sigmoid_focal", "dice",
                                         "jaccard", "tversky", "generalized")
                                and t.shape == x.shape):
        feeds["target"] = np.ascontiguousarray(t, dtype=x.dtype)
    else:
        feeds["target"] = np.ascontiguousarray(t)
    if "mask" in names:
        m = np.asarray(case.mask.view)
        if kind == "sigmoid_focal" and case.t.view.shape == x.shape:
            m = np.broadcast_to(m, x.shape)
        feeds["mask"] = np.ascontiguousarray(m)
    return {n: feeds[n] for n in names}


def export_gap(kind, cfg):
    """Known gaps (tests/test_fuzz_findings.py): the exported focal loss loses float32
    accuracy for large gamma (1 - exp(log p_t), then Pow); parity's PyTorch path computes
    Tversky's (1 - s)^gamma without the clamp at 0 (wrong where s > 1, NaN gradients for
    gamma < 1), and lets left-out classes' infinite log_loss into the gradient."""
    return (kind in ("focal", "sigmoid_focal") and cfg["gamma"] > 100) or \
        (kind == "tversky" and cfg["gamma"] != 1) or \
        (kind in DICE and cfg.get("log_loss", False) and
         (cfg["classes"] is not None or cfg.get("absent") != "keep"))


@budget(80)
@given(vc=valid_cases(), grad=st.booleans(), opset=st.sampled_from([None, 13, 17, 18]),
       static=st.sampled_from(["ndim", "C", "all"]))
def test_fuzz_to_onnx_under_onnxruntime(vc, grad, opset, static):
    """to_onnx's graph, run by onnxruntime's CPU provider, gives the reference's value (and
    d sum(loss) / d input); input shapes symbolic but the rank, C fixed, or all fixed."""
    import onnxruntime as ort
    kind, case, v, g = vc
    x, t = case.x.view, case.t.view
    assume(x.ndim >= 2 and x.size)
    cfg = case.loss.config
    assume(not (kind in ("focal", "sigmoid_focal") and cfg["gamma"] > 100))
    # Known gap (tests/test_fuzz_findings.py): the softmax graphs turn some NaN logits into
    # a finite loss
    assume(not (kind in ("ce", "nll", "focal") and np.isnan(np.asarray(x, np.float64)).any()))
    # +inf logits: the graph gives the limit (inf), the kernel and PyTorch NaN
    assume(not (kind in ("ce", "nll", "focal") and np.isinf(np.asarray(x, np.float64)).any()))
    assume(not known_gaps(kind, cfg, x, np.asarray(t), v, exported=True)[0])
    if kind == "focal" and cfg["alpha"] is not None and np.ndim(cfg["alpha"]) == 0 and \
            static == "ndim":
        static = "C"                 # a scalar alpha needs C (documented)
    shape = {"ndim": None, "C": ("N", x.shape[1]) + tuple(f"d{i}" for i in range(x.ndim - 2)),
             "all": x.shape}[static]
    if kind in ("bce", "bce_logits", "sigmoid_focal", "dice", "jaccard", "tversky",
                "generalized") and t.shape == x.shape:
        target_dtype = x.dtype.name
    else:
        target_dtype = t.dtype.name if t.dtype.kind in "iu" else x.dtype.name
    assume(not (kind == "generalized" and case.loss.config["classes"] is not None))
    if kind in ("dice", "jaccard", "tversky", "generalized") and \
            case.loss.config["mode"] == "binary" and x.shape[1] != 1:
        assume(False)      # binary without a channel axis: the graph takes (N, 1, ...)
    if kind in ("dice", "jaccard", "tversky", "generalized") and t.shape != x.shape and \
            (t.dtype.kind not in "iu" or cfg["mode"] != "multiclass"):
        assume(False)      # known gap (test_fuzz_findings): the graph takes dense targets
                           # of the input's shape only
    try:
        model = case.loss.to_onnx(opset=opset, dtype=x.dtype.name, target_dtype=target_dtype,
                                  ndim=x.ndim if shape is None else None, shape=shape,
                                  grad=grad, mask=case.mask is not None)
    except (ValueError, TypeError) as exc:
        pytest.fail(f"to_onnx refused a configuration the kernel runs: {exc}")
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = _onnx_feeds(kind, case, model)
    with np.errstate(all="ignore"):
        outs = sess.run(None, feeds)
        # the reference of what the graph was fed (a dense target in the input's float type)
        xx, tt, mm = arrays_of(case)
        if feeds["target"].dtype.kind == "f":
            tt = feeds["target"].astype(np.float64)
        v, g = reference(kind, case.loss.config, xx, tt, mm)
    mag = max(magnitude(x) if kind != "nll" else 1.0, cfg.get("gamma", 0.0))
    # a float32 graph's loss terms are exact to eps of their size (a Dice class loss 1 - s:
    # of 1), not of a result that cancels to 0
    vfloor = 1.0 if kind in DICE else None
    if kind == "bce_logits":   # its two float32 terms cancel: their size
        vfloor = logits_term_scales(cfg, np.asarray(x, np.float64),
                                    np.asarray(feeds["target"], np.float64), None, None)[0]
    assert_close(outs[0], v, x.dtype, "onnxruntime value", magnitude=mag, k=1024, scale=vfloor)
    # Known gap (tests/test_fuzz_findings.py): a float32 graph's Dice gradient is NaN where it
    # overflows float32 (the kernel gives inf)
    overflow = kind in DICE and np.any(np.abs(np.asarray(g)) > np.finfo(x.dtype).max)
    if grad and np.all(np.isfinite(v)) and not overflow:    # an infinite loss: no gradient
        # a float32 graph's gradient elements are exact to eps relative to the gradient's
        # natural size (1 / n for a mean, 1 otherwise), not to themselves
        fin = np.abs(np.asarray(g)[np.isfinite(g)])
        natural = 1.0 / max(x.size, 1) if cfg["reduction"] == "mean" else 1.0
        assert_close(outs[1], g, x.dtype, "onnxruntime gradient", magnitude=mag, k=1024,
                     scale=max(natural, float(fin.max(initial=0.0))))


@budget(25)
@given(vc=valid_cases(kinds=["ce", "nll", "focal", "bce", "bce_logits", "sigmoid_focal",
                             "dice", "tversky"]),
       providers=st.sampled_from([None, ["CPUExecutionProvider"], "CPUExecutionProvider"]),
       as_int=st.sampled_from([False] * 5 + [True]))
def test_fuzz_parity_check(vc, providers, as_int):
    """parity.check runs on any valid batch (any layout) and finds every path in agreement,
    or refuses with a clear error."""
    kind, case, _, _ = vc
    x, t = case.x.view, case.t.view
    assume(x.ndim >= 2 and x.size and np.all(np.isfinite(x)))
    assume(not export_gap(kind, case.loss.config))
    assume(not known_gaps(kind, case.loss.config, x, np.asarray(t), 0.0, exported=True)[0])
    assume(np.all(np.isfinite(vc[2])))    # an infinite loss: no gradient to agree on
    mask = None if case.mask is None else case.mask.view
    if kind == "sigmoid_focal" and mask is not None and t.shape == x.shape:
        mask = np.broadcast_to(mask, x.shape)
    # Known gap (tests/test_fuzz_findings.py): parity exports dense targets with the
    # target's own dtype (refused unless it is the input's float type) and the input's
    # shape (binary Dice's (N, ...) targets for (N, 1, ...) inputs fail in onnxruntime)
    dense = t.shape == x.shape or (kind in ("dice", "tversky") and t.dtype.kind not in "iu") \
        or (kind in ("dice", "tversky") and case.loss.config["mode"] != "multiclass")
    assume(not (dense and t.dtype != x.dtype))
    if kind in ("dice", "tversky") and case.loss.config["mode"] == "binary":
        assume(x.shape[1] == 1 and t.shape == x.shape)
    if as_int:                    # an integer input: refused by name
        x = np.round(x).astype(np.int32)
    try:
        with np.errstate(all="ignore"):
            report = onnxlosses.parity.check(case.loss, x, t, providers, mask=mask)
    except (ValueError, TypeError) as exc:
        assert_names(exc, "providers", "input", "target", "mask")
        return
    assert report.ok, report.table()


# -- threads ------------------------------------------------------------------------------

@budget(30)
@given(kind=st.sampled_from(KINDS), seed=st.integers(0, 2 ** 16), dtype=st.sampled_from(FLOATS),
       lay=layouts(4, allow_broadcast=False), threads=st.sampled_from([2, 3, 5]))
def test_fuzz_thread_count_does_not_change_bits(kind, seed, dtype, lay, threads):
    rng = np.random.default_rng(seed)
    N, C, H, W = 3, int(rng.integers(1, 6)), int(rng.integers(20, 70)), int(rng.integers(20, 70))
    xv = rng.standard_normal((N, C, H, W)) * 3
    loss = {"ce": onnxlosses.CrossEntropyLoss(label_smoothing=0.1, ignore_index=0),
            "nll": onnxlosses.NLLLoss(weight=rng.random(C)),
            "focal": onnxlosses.FocalLoss(gamma=1.5),
            "bce": onnxlosses.BCELoss(), "bce_logits": onnxlosses.BCEWithLogitsLoss(),
            "sigmoid_focal": onnxlosses.SigmoidFocalLoss(reduction="sum"),
            "dice": onnxlosses.DiceLoss(per_image=True), "jaccard": onnxlosses.JaccardLoss(),
            "tversky": onnxlosses.TverskyLoss(gamma=0.75),
            "generalized": onnxlosses.GeneralizedDiceLoss()}[kind]
    if kind == "bce":
        xv, tv = 1 / (1 + np.exp(-xv)), rng.random(xv.shape)
    elif kind in ("bce_logits", "sigmoid_focal"):
        tv = (rng.random(xv.shape) < 0.3).astype(dtype)
    else:
        tv = rng.integers(0, C, (N, H, W)).astype(np.uint8)
    x = place(xv, dtype, lay).view
    results = []
    for n in (1, threads):
        with onnxlosses.threads(n), np.errstate(all="ignore"):
            v, g = loss.value_and_grad(x, tv)
        results.append((np.asarray(v).tobytes(), g.tobytes()))
    assert results[0] == results[1], f"{threads} threads changed the bits of {loss!r}"


# -- pickling -----------------------------------------------------------------------------

@budget(30)
@given(kind=st.sampled_from(["ce", "nll", "focal", "bce", "bce_logits", "dice", "generalized"]),
       seed=st.integers(0, 99), how=st.sampled_from(["pickle", "deepcopy", "copy", "oob"]))
def test_fuzz_pickled_losses_stay_read_only_and_equal(kind, seed, how):
    """pickle / deepcopy / copy keep a loss's arrays read-only and its results identical;
    out-of-band pickle buffers at odd offsets (as dask's transport delivers them) too."""
    rng = np.random.default_rng(seed)
    C = 3
    w = rng.random(C) + 0.1
    loss = {"ce": onnxlosses.CrossEntropyLoss(weight=w), "nll": onnxlosses.NLLLoss(weight=w),
            "focal": onnxlosses.FocalLoss(alpha=w),
            "bce": onnxlosses.BCELoss(weight=rng.random((C, 1))),
            "bce_logits": onnxlosses.BCEWithLogitsLoss(pos_weight=rng.random((C, 1))),
            "dice": onnxlosses.DiceLoss(weight=w),
            "generalized": onnxlosses.GeneralizedDiceLoss(weight=w)}[kind]
    if how == "pickle":
        other = pickle.loads(pickle.dumps(loss))
    elif how == "deepcopy":
        other = copy.deepcopy(loss)
    elif how == "copy":
        other = copy.copy(loss)
    else:
        buffers = []
        data = pickle.dumps(loss, protocol=5, buffer_callback=buffers.append)
        odd = []
        for b in buffers:
            raw = b.raw()
            store = bytearray(len(raw) + 1)
            store[1:] = raw
            odd.append(memoryview(store)[1:])
        other = pickle.loads(data, buffers=odd)
    for name, value in other.config.items():
        if isinstance(value, np.ndarray):
            assert not value.flags.writeable, f"{how}: {name} became writeable"
            with pytest.raises(ValueError):
                value[...] = 0
    x = rng.standard_normal((2, C, 4))
    t = rng.integers(0, C, (2, 4))
    if kind == "bce":
        x, t = 1 / (1 + np.exp(-x)), rng.random(x.shape)
    elif kind == "bce_logits":
        t = rng.random(x.shape)
    a, b = loss.value_and_grad(x, t), other.value_and_grad(x, t)
    assert a[0] == b[0] and np.array_equal(a[1], b[1])


# -- constructor arguments ----------------------------------------------------------------

ODD_VALUES = [None, True, False, 0, 1, -1, 2, 0.5, -0.5, 1.5, 255, 2 ** 63, -(2 ** 63) - 1,
              2 ** 70, float("nan"), float("inf"), -float("inf"), 1e308, 1e-320, "mean", "x", "",
              [1.0, 2.0], [[1.0]], [], (0, 1), np.array([1 + 2j]), np.array(["a", "b"]),
              np.array([1.0, np.nan]), np.array([-1.0, 1.0]), np.float32(np.nan), np.int64(3),
              np.array(2.0), object(), {"a": 1}, 1 + 2j, np.array([[0.5, 1.0]]), b"1"]
CLASSES = [onnxlosses.CrossEntropyLoss, onnxlosses.NLLLoss, onnxlosses.BCELoss,
           onnxlosses.BCEWithLogitsLoss, onnxlosses.FocalLoss, onnxlosses.SigmoidFocalLoss,
           onnxlosses.DiceLoss, onnxlosses.JaccardLoss, onnxlosses.TverskyLoss,
           onnxlosses.GeneralizedDiceLoss]


@budget(300)
@given(cls=st.sampled_from(CLASSES), data=st.data())
def test_fuzz_constructor_arguments(cls, data):
    """Any value for any parameter: accepted, or a ValueError / TypeError that names it;
    never another exception (OverflowError, IndexError, ZeroDivisionError, ...)."""
    names = [n for n in cls.spec.defaults if not n.startswith("_")]
    name = data.draw(st.sampled_from(names), label="parameter")
    value = data.draw(st.sampled_from(ODD_VALUES), label="value")
    try:
        loss = cls(**{name: value})
    except (ValueError, TypeError) as exc:
        assert_names(exc, name)
        return
    assert not must_refuse(cls, name, value), f"{cls.__name__}({name}={value!r}) was accepted"
    repr(loss)
    loss.config


def must_refuse(cls, name, value):
    """Values the README rules out: weights that are not finite and >= 0 (or not real),
    an ignore_index outside int64."""
    if name == "ignore_index":
        return isinstance(value, int) and not -2 ** 63 <= value < 2 ** 63
    if isinstance(value, int) and not isinstance(value, bool):
        return name in ("weight", "pos_weight", "alpha") and value < 0 and \
            cls is not onnxlosses.SigmoidFocalLoss
    if name not in ("weight", "pos_weight", "alpha") or value is None or \
            cls is onnxlosses.SigmoidFocalLoss:
        return False
    arr = np.asarray(value)
    if arr.dtype.kind not in "fiub":
        return True
    with np.errstate(invalid="ignore"):
        return bool(np.any(~np.isfinite(arr.astype(np.float64))) or np.any(arr < 0))


@budget(100)
@given(kind=st.sampled_from(KINDS), data=st.data())
def test_fuzz_to_onnx_arguments(kind, data):
    """to_onnx with odd arguments: a model, or a ValueError / TypeError naming the
    argument."""
    loss = {"ce": onnxlosses.CrossEntropyLoss(), "nll": onnxlosses.NLLLoss(),
            "focal": onnxlosses.FocalLoss(), "bce": onnxlosses.BCELoss(),
            "bce_logits": onnxlosses.BCEWithLogitsLoss(),
            "sigmoid_focal": onnxlosses.SigmoidFocalLoss(), "dice": onnxlosses.DiceLoss(),
            "jaccard": onnxlosses.JaccardLoss(), "tversky": onnxlosses.TverskyLoss(),
            "generalized": onnxlosses.GeneralizedDiceLoss()}[kind]
    arg = data.draw(st.sampled_from(["opset", "dtype", "target_dtype", "shape", "ndim", "grad",
                                     "impl", "mask"]), label="argument")
    odd = {"opset": [None, 12, 13, 18, 99, 18.0, "18", True, -1],
           "dtype": [None, "float32", "float16", "float64", np.float32, "int64", 5, "bfloat16"],
           "target_dtype": [None, "uint8", "int64", "float32", "float64", 5, "bool", np.int32],
           "shape": [None, (2, 3), (2, 3, 4, 5), ("N", 3), (-1, 3), (2, -3, 4), (0, 3), (2,),
                     [2, 3, 4], (2.0, 3), "N,C", (None, 3, None)],
           "ndim": [None, 2, 3, 5, 1, 0, -2, 2.0, "2", True],
           "grad": [False, True, 1, 0, "yes", None, np.bool_(True)],
           "impl": ["composed", "native", "fast", None, 1],
           "mask": [False, True, 1, "no", None, np.bool_(False)]}[arg]
    value = data.draw(st.sampled_from(odd), label="value")
    try:
        model = loss.to_onnx(**{arg: value})
    except (ValueError, TypeError) as exc:
        assert_names(exc, arg, "impl")
        return
    import onnx
    onnx.checker.check_model(model, full_check=True)


def _value_term_scale(kind, cfg, x, t, mask):
    """The size float32 rounding of a loss value is relative to: its terms' (a cancelling
    BCE with logits, a tiny -log p_t with p_t ~ 1 is exact only to eps of its weight), or
    None (the value itself)."""
    xf, tf = np.asarray(x, np.float64), np.asarray(t)
    if kind == "bce_logits":
        return logits_term_scales(cfg, xf, tf.astype(np.float64), None, None)[0]
    if kind in ("ce", "nll", "focal"):
        return term_scales(kind, cfg, xf, tf.astype(np.float64) if tf.dtype.kind == "f" else tf,
                           None if mask is None else np.asarray(mask), None)[0]
    return None


# -- out= aliasing -----------------------------------------------------------------------

@budget(100)
@given(vc=valid_cases(), how=st.sampled_from(["input", "target", "grad_output", "mask",
                                               "zero_stride", "interleaved"]),
       data=st.data())
def test_fuzz_out_aliasing(vc, how, data):
    """out= that shares memory with another argument or with itself: the right gradient
    (as if every argument had been read before out was written), or a ValueError /
    TypeError naming out."""
    kind, case, v, g = vc
    x = case.x.view
    assume(x.size)
    loss = case.loss
    t = case.t.view
    mask = None if case.mask is None else case.mask.view
    go = None
    if how == "input":
        assume(x.flags.writeable)
        out = x
    elif how == "target":
        assume(t.shape == x.shape and t.dtype == x.dtype and t.flags.writeable)
        out = t
    elif how == "grad_output":
        assume(loss.config["reduction"] == "none" and kind in ("bce", "bce_logits",
                                                             "sigmoid_focal"))
        go = np.array(data.draw(st.sampled_from([1.0, -2.0, 0.5])) * np.ones(x.shape),
                      dtype=x.dtype)
        out = go
    elif how == "mask":
        assume(mask is not None and mask.size)
        raw = np.zeros(x.size * x.itemsize, np.uint8)       # mask in out's first bytes
        m = raw[:mask.size].view(bool).reshape(mask.shape)
        m[...] = mask
        out = raw.view(x.dtype).reshape(x.shape)
        mask = m
    elif how == "zero_stride":
        assume(x.ndim >= 2 and any(s > 1 for s in x.shape[:-1]))
        base = np.zeros(max(x.shape[-1], 1), x.dtype)
        out = np.lib.stride_tricks.as_strided(base, x.shape, (0,) * (x.ndim - 1) + (x.itemsize,))
    else:
        assume(x.ndim >= 2 and sum(s > 1 for s in x.shape) >= 2)
        base = np.zeros(x.size * 2 + 8, x.dtype)
        strides = [x.itemsize] * x.ndim
        out = np.lib.stride_tricks.as_strided(base, x.shape, strides)
    xx, tt, mm = np.array(x, np.float64), np.array(t), None if mask is None else np.array(mask)
    if tt.dtype.kind == "f":
        tt = tt.astype(np.float64)
    with np.errstate(all="ignore"):
        try:
            want_v, want_g = reference(kind, loss.config, xx, tt, mm,
                                       None if go is None else np.array(go, np.float64))
        except (Refused, Ambiguous):
            assume(False)
        try:
            value, grad = loss.value_and_grad(x, t, go, out, mask=mask)
        except (ValueError, TypeError) as exc:
            assert_names(exc, "out")
            return
    assert how not in ("input", "zero_stride", "interleaved"), \
        f"out= aliasing {how} was accepted"
    skip_value, skip_grad = known_gaps(kind, loss.config, xx, tt, want_v, dtype=x.dtype,
                                       exported=True)
    assume(not skip_value)
    assert_close(value, want_v, x.dtype, f"value with out= aliasing the {how}",
                 magnitude=magnitude(xx), scale=_value_term_scale(kind, loss.config, xx, tt, mm))
    gscale = None
    if kind in DICE:       # terms that cancel: exact to eps of max |dL/dI| + max |dL/dP|
        gscale = dice_family(kind, loss.config, xx, tt, mm, None if go is None else
                             np.array(go, np.float64), scale=True)[2]
    elif kind in ("ce", "nll", "focal"):   # p_c - y_c: exact to eps of the position's weight
        gscale = term_scales(kind, loss.config, xx, tt, mm,
                             None if go is None else np.array(go, np.float64))[1]
    if not skip_grad:
        fin = np.abs(np.asarray(want_g)[np.isfinite(want_g)])
        assert_close(grad, want_g, x.dtype, f"gradient with out= aliasing the {how}",
                     magnitude=magnitude(xx), scale=max(gscale or 0.0,
                                                        float(fin.max(initial=0.0))))
