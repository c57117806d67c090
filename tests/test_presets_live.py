"""The Dice-family presets against the real libraries they reproduce: MONAI's DiceLoss
(jaccard=False/True) and GeneralizedDiceLoss for preset("monai"), segmentation_models_pytorch's
DiceLoss, JaccardLoss and TverskyLoss for preset("smp"), called on the same float64 data over
grids of their own arguments; values and gradients (torch autograd through the library's
code against our value_and_grad).

The libraries come from tests/live_libraries.py; where one does not import, its tests skip
with a reason naming it, and .ci/run fails CI on that skip.  tests/test_dice.py keeps
re-implementations of the same formulas, which run where the libraries do not install.

Set ONNXLOSSES_PRINT_DIFFS=1 (and pass -s) to print the largest differences measured.
"""
import itertools
import os

import numpy as np
import pytest

import onnxlosses
from onnxlosses import DiceLoss, GeneralizedDiceLoss, JaccardLoss, TverskyLoss

# one_thread: an autouse fixture (one thread on both sides)
from live_libraries import monai_losses, one_thread, smp_losses, version  # noqa: F401

torch = pytest.importorskip("torch", reason="PyTorch runs the libraries' losses")

SHAPE = (2, 4, 5, 4)          # (N, C, H, W): small, several classes, absent ones below
N, C = SHAPE[:2]
POS = (N,) + SHAPE[2:]

# Largest |ours - theirs| per (oracle, quantity) over the grid, and the worst relative one.
MEASURED = {}




@pytest.fixture(scope="module", autouse=True)
def _print_measured():
    yield
    if os.environ.get("ONNXLOSSES_PRINT_DIFFS"):
        print(f"\nMONAI {version('monai')}, smp {version('segmentation-models-pytorch')}")
        for key in sorted(MEASURED):
            n, a, r = MEASURED[key]
            print(f"{key:40s} {n:4d} configurations  max abs diff {a:.2e}  max rel {r:.2e}")


def _compare(key, ours, theirs, rtol, atol):
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    diff = np.abs(ours - theirs)
    a = float(diff.max()) if diff.size else 0.0
    r = float((diff / np.maximum(np.abs(theirs), 1e-300)).max()) if diff.size else 0.0
    n, a0, r0 = MEASURED.get(key, (0, 0.0, 0.0))
    MEASURED[key] = (n + 1, max(a0, a), max(r0, r))
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


def _ids(case):
    def one(k, v):
        if isinstance(v, bool):
            return k if v else f"no_{k}"
        return f"{k}={','.join(map(str, v)) if isinstance(v, tuple) else v}"
    return "-".join(one(k, v) for k, v in case.items()) or "defaults"


# ---- data ---------------------------------------------------------------------------------
# Class 2 is absent from the whole batch and class 3 from sample 0: MONAI's infinite
# generalized-Dice weights (per image and pooled), smp's zeroed absent classes, and
# include_background=False leaving absent classes in.

def _labels(seed=0):
    rng = np.random.default_rng(seed)
    t = rng.choice([0, 1, 3], POS)
    t[0][t[0] == 3] = 1
    t[1, 0, :3] = 3                       # class 3 present in sample 1 whatever the draw
    return t


def _multihot(seed=1):
    rng = np.random.default_rng(seed)
    y = (rng.random(SHAPE) < 0.4).astype(np.float64)
    y[:, 2] = 0
    y[0, 3] = 0
    return y


def _onehot(labels):
    """One-hot (N, C, ...) of class indices; out-of-range labels (ignored pixels) all zero."""
    return (labels[:, None] == np.arange(C).reshape(1, C, 1, 1)).astype(np.float64)


def _input(activation, seed=2, shape=SHAPE):
    rng = np.random.default_rng(seed)
    if activation == "none":
        # probabilities as they are (no activation); not normalised over classes (MONAI does
        # not ask that), strictly inside (0, 1) so that smp's |p - t| is differentiable
        return rng.uniform(0.02, 0.98, shape)
    return rng.standard_normal(shape) * 2


def _torch_value_and_grad(fn, x, grad_output=None):
    xt = torch.tensor(x, requires_grad=True)
    value = fn(xt)
    value.backward(None if grad_output is None
                   else torch.tensor(np.asarray(grad_output)).reshape(value.shape))
    return value.detach().numpy(), xt.grad.numpy()


# ---- MONAI --------------------------------------------------------------------------------
# Tolerances: both sides sum in float64 in different orders (squared_pred goes through
# MONAI's vector_norm, then squares it again); the values are O(1) and the gradients
# O(1e-2): 1e-12 absolute is about a thousand float64 roundings of either.
MONAI_ATOL = 1e-12

ACTIVATIONS = ("softmax", "sigmoid", "none")
SMOOTHING = ((1e-5, 1e-5), (0.0, 1e-6), (1.0, 2.0))


def _soft_targets(seed=6):
    """Soft targets: a probability per class and pixel (class 2 still absent)."""
    q = np.random.default_rng(seed).dirichlet(np.ones(C), POS).transpose(0, 3, 1, 2)
    q[:, 2] = 0
    return np.ascontiguousarray(q / q.sum(axis=1, keepdims=True))


def _monai_io(activation, include_background, labels_target=False, ignore=None, soft=False):
    """(input, MONAI's target and its to_onehot_y, our target) for one activation.
    softmax / none: MONAI takes one-hot targets (or labels with to_onehot_y=True), ours the
    class indices; sigmoid: multilabel, multi-hot targets for both; soft: the same soft
    targets for both."""
    x = _input(activation)
    if soft:
        q = _soft_targets()
        return x, q, False, q
    if activation == "sigmoid":
        y = _multihot()
        return x, y, False, y
    t = _labels()
    if ignore is not None:
        t = t.copy()
        t[0, :2] = ignore
    if labels_target:
        return x, torch.tensor(t[:, None]), True, t
    return x, _onehot(t), False, t


def _our_monai_kwargs(case, weight=None):
    kw = dict(include_background=case["include_background"], batch=case["batch"],
              smooth_nr=case["smooth"][0], smooth_dr=case["smooth"][1],
              reduction=case["reduction"])
    if case["activation"] != "none":
        kw[case["activation"]] = True
    if "squared" in case:
        kw["squared_pred"] = case["squared"]
    if weight is not None:
        kw["weight"] = weight           # as MONAI: the scored classes only (C-1 w/o background)
    return kw


def _monai_kwargs(case):
    kw = dict(include_background=case["include_background"], batch=case["batch"],
              smooth_nr=case["smooth"][0], smooth_dr=case["smooth"][1],
              reduction=case["reduction"], softmax=case["activation"] == "softmax",
              sigmoid=case["activation"] == "sigmoid")
    if "squared" in case:
        kw["squared_pred"] = case["squared"]
    return kw


def _grad_output(loss, x, t, reduction, seed=3):
    if reduction != "none":
        return None
    shape = np.shape(loss(x, t))
    return np.random.default_rng(seed).uniform(0.5, 1.5, shape)


MONAI_DICE_CASES = [
    dict(jaccard=j, activation=a, include_background=b, batch=batch, squared=sq,
         smooth=sm, reduction=r)
    for j, a, b, batch, sq, sm, r in itertools.product(
        (False, True), ACTIVATIONS, (True, False), (False, True), (False, True), SMOOTHING,
        ("mean", "sum", "none"))]


def _check_monai_dice(case, weight=None, ignore=None, labels_target=False, soft=False,
                      atol=(MONAI_ATOL, MONAI_ATOL)):
    monai = monai_losses()
    x, their_t, onehot_y, our_t = _monai_io(case["activation"], case["include_background"],
                                            labels_target, ignore, soft)
    cls = JaccardLoss if case["jaccard"] else DiceLoss
    ours = cls.preset("monai", **_our_monai_kwargs(case, weight),
                      **({} if ignore is None else dict(ignore_index=ignore)))
    go = _grad_output(ours, x, our_t, case["reduction"])
    value, grad = ours.value_and_grad(x, our_t, grad_output=go)
    theirs = monai.DiceLoss(jaccard=case["jaccard"], to_onehot_y=onehot_y, weight=weight,
                            ignore_index=ignore, **_monai_kwargs(case))
    their_t = torch.as_tensor(their_t)
    ref_v, ref_g = _torch_value_and_grad(lambda z: theirs(z, their_t), x, go)
    key = "monai.DiceLoss(jaccard)" if case["jaccard"] else "monai.DiceLoss"
    if atol != (MONAI_ATOL, MONAI_ATOL):
        key += ", f32 weight"
    assert np.shape(value) == ref_v.shape         # MONAI's (N, C, 1, 1) for reduction "none"
    _compare(key + " value", np.reshape(value, -1), ref_v.reshape(-1), 0, atol[0])
    _compare(key + " grad", grad, ref_g, 0, atol[1])


@pytest.mark.parametrize("case", MONAI_DICE_CASES, ids=_ids)
def test_monai_dice(case):
    _check_monai_dice(case)


# On top of softmax (and no activation), either background rule, per image and pooled,
# Dice and Jaccard: class weights (dyadic, so that MONAI's float32 copy of them is exact; and
# not, where that copy is off by up to 2^-24 relative: each weighted loss |w f| <= 3 moves by
# up to 1.8e-7, the gradient, |dL/dx| <= ~0.1 here, by up to 2e-8),
# ignore_index as a sentinel on label targets (to_onehot_y=True) and on one-hot targets
# (MONAI masks all-zero one-hot pixels), ignore_index a valid class on either (0: its pixels
# leave every class's sums, class 0 scores 1 - smooth_nr / smooth_dr), label targets alone,
# soft targets (MONAI's intersection is sum p t for them too, squared_pred or not).
MONAI_EXTRAS = {
    "weight": dict(weight=True),
    "weight,float32": dict(weight=True, atol=(1.8e-7, 2e-8)),
    "labels": dict(labels_target=True),
    "ignore=255,labels": dict(ignore=255, labels_target=True),
    "ignore=255,onehot": dict(ignore=255),
    "ignore=0,labels": dict(ignore=0, labels_target=True),
    "ignore=0,onehot": dict(ignore=0),
    "soft": dict(soft=True),
    "soft,squared": dict(soft=True, squared=True),
}
MONAI_EXTRA_CASES = [
    (extra, dict(jaccard=j, activation=a, include_background=b, batch=batch, squared=False,
                 smooth=(1e-5, 1e-5), reduction=r))
    for extra, j, a, b, batch, r in itertools.product(
        MONAI_EXTRAS, (False, True), ("softmax", "none"), (True, False), (False, True),
        ("mean", "none"))]


@pytest.mark.parametrize("extra,case", MONAI_EXTRA_CASES,
                         ids=lambda v: v if isinstance(v, str) else _ids(v))
def test_monai_dice_options(extra, case):
    opts = dict(MONAI_EXTRAS[extra])
    if opts.pop("squared", False):
        case = dict(case, squared=True)
    if opts.pop("weight", False):
        weight = [0.2, 1.0, 3.0, 0.7] if "atol" in opts else [0.5, 2.0, 1.0, 0.25]
        opts["weight"] = weight[0 if case["include_background"] else 1:]
    _check_monai_dice(case, **opts)


MONAI_GDL_CASES = [
    dict(activation=a, include_background=b, batch=batch, w_type=w, smooth=sm, reduction=r)
    for a, b, batch, w, sm, r in itertools.product(
        ACTIVATIONS, (True, False), (False, True), ("square", "simple", "uniform"),
        SMOOTHING[:2], ("mean", "sum", "none"))]


@pytest.mark.parametrize("case", MONAI_GDL_CASES, ids=_ids)
def test_monai_generalized_dice(case):
    monai = monai_losses()
    x, their_t, onehot_y, our_t = _monai_io(case["activation"], case["include_background"])
    ours = GeneralizedDiceLoss.preset("monai", weighting=case["w_type"],
                                      **_our_monai_kwargs(case))
    go = _grad_output(ours, x, our_t, case["reduction"])
    value, grad = ours.value_and_grad(x, our_t, grad_output=go)
    theirs = monai.GeneralizedDiceLoss(w_type=case["w_type"], to_onehot_y=onehot_y,
                                       **_monai_kwargs(case))
    their_t = torch.as_tensor(their_t)
    ref_v, ref_g = _torch_value_and_grad(lambda z: theirs(z, their_t), x, go)
    # MONAI computes the class weights in float32 (w_func(ground_o.float())): each weight
    # 1/T or 1/T^2 is off by up to 2^-24 relative (T, T^2 are exact integers there), and
    # the loss, a ratio of weighted sums, moves by up to about twice that relative to the
    # ratio (at most 1): 2.4e-7 absolute on the value; the gradient (|g| <= ~0.1 here) by the
    # same relative amount, within 1e-7 absolute.  "uniform" weights are exact: the float64
    # bound applies there.
    exact = case["w_type"] == "uniform"
    _compare("monai.GeneralizedDice value", np.reshape(value, -1), ref_v.reshape(-1), 0,
             MONAI_ATOL if exact else 2.4e-7)
    _compare("monai.GeneralizedDice grad", grad, ref_g, 0, MONAI_ATOL if exact else 1e-7)


# ---- segmentation_models_pytorch ----------------------------------------------------------
# Tolerances: smp's intersection is (sum p + sum t - sum |p - t|) / 2, a difference of sums
# of about 40 (pooled over batch and space), so its rounding is a few 1e-15 absolute where
# ours sums p t; values O(1), gradients O(1e-2): 1e-12 absolute.
SMP_ATOL = 1e-12

SMP_VARIANTS = {"dice": DiceLoss, "jaccard": JaccardLoss, "tversky": TverskyLoss}
TVERSKY_PARAMS = (dict(alpha=0.3, beta=0.7, gamma=1.0), dict(alpha=0.3, beta=0.7, gamma=2.0),
                  dict(alpha=0.8, beta=0.4, gamma=0.5))


def _smp_cases():
    for variant, mode, logits, smooth, log_loss, ignore, classes in itertools.product(
            SMP_VARIANTS, ("binary", "multiclass", "multilabel"), (True, False), (0.0, 1.0),
            (False, True), (None, 255), (None, (0, 2), (1, 3))):
        if mode == "binary" and classes is not None:
            continue            # smp refuses classes in binary mode (an assertion)
        if variant == "jaccard" and ignore is not None:
            continue            # smp's JaccardLoss has no ignore_index
        case = dict(variant=variant, mode=mode, from_logits=logits, smooth=smooth,
                    log_loss=log_loss)
        if ignore is not None:
            case["ignore_index"] = ignore
        if classes is not None:
            case["classes"] = classes
        for extra in TVERSKY_PARAMS if variant == "tversky" else ({},):
            yield dict(case, **extra)
    # the eps clamp active: a denominator below eps (smooth 0, pooled sums of about 10-40)
    for variant, mode in itertools.product(SMP_VARIANTS, ("multiclass", "multilabel")):
        yield dict(variant=variant, mode=mode, from_logits=True, smooth=0.0, log_loss=False,
                   eps=25.0)


SMP_CASES = list(_smp_cases())


def _smp_data(mode, from_logits, ignore):
    shape = (N, 1) + SHAPE[2:] if mode == "binary" else SHAPE
    x = _input("logits" if from_logits else "none", shape=shape)
    if mode == "multiclass":
        t = _labels()
        if ignore is not None:
            t[0, :2] = ignore
        return x, t, torch.tensor(t)
    if mode == "binary":
        y = (np.random.default_rng(4).random(shape) < 0.4).astype(np.float64)
    else:
        y = _multihot()
    if ignore is not None:
        y[np.random.default_rng(5).random(shape) < 0.15] = ignore
    return x, y, torch.tensor(y)


@pytest.mark.parametrize("case", SMP_CASES, ids=_ids)
def test_smp(case):
    smp = smp_losses()
    kw = dict(case)
    variant = kw.pop("variant")
    x, our_t, their_t = _smp_data(kw["mode"], kw["from_logits"], kw.get("ignore_index"))
    ours = SMP_VARIANTS[variant].preset("smp", **kw)
    value, grad = ours.value_and_grad(x, our_t)
    if "classes" in kw:
        kw["classes"] = list(kw["classes"])
    theirs = {"dice": smp.DiceLoss, "jaccard": smp.JaccardLoss,
              "tversky": smp.TverskyLoss}[variant](**kw)
    ref_v, ref_g = _torch_value_and_grad(lambda z: theirs(z, their_t), x)
    key = f"smp.{SMP_VARIANTS[variant].__name__}"
    _compare(key + " value", value, ref_v, 0, SMP_ATOL)
    _compare(key + " grad", grad, ref_g, 0, SMP_ATOL)



@pytest.mark.parametrize("mode", ["binary", "multilabel"])
def test_smp_soft_targets_are_refused(mode):
    """smp 0.5's intersection (sum p + sum t - sum |p - t|) / 2 is sum min(p, t), which is
    sum p t only for hard targets: the preset refuses soft targets instead of giving
    another number (0.5421 against smp's 0.3784 here before it did), and agrees with smp
    on the same batch with its targets rounded to 0 / 1."""
    smp = smp_losses()
    shape = (N, 1) + SHAPE[2:] if mode == "binary" else SHAPE
    x = _input("logits", shape=shape)
    y = np.random.default_rng(7).random(shape)
    with pytest.raises(ValueError, match=r"target must be hard \(0 or 1\)"):
        DiceLoss.preset("smp", mode=mode)(x, y)
    hard = np.round(y)
    value, grad = DiceLoss.preset("smp", mode=mode).value_and_grad(x, hard)
    ref_v, ref_g = _torch_value_and_grad(lambda z: smp.DiceLoss(mode)(z, torch.tensor(hard)),
                                         x)
    np.testing.assert_allclose(value, ref_v, rtol=0, atol=SMP_ATOL)
    np.testing.assert_allclose(grad, ref_g, rtol=0, atol=SMP_ATOL)
