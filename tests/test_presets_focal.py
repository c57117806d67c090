"""The focal presets against the real libraries: MONAI 1.6's FocalLoss and DiceFocalLoss, and
DiceCELoss on a single-channel input (its BCE-with-logits branch), through
onnxlosses.presets.monai; segmentation_models_pytorch 0.5's FocalLoss through
onnxlosses.presets.smp.  Values and gradients (torch autograd through the library's code
against our value_and_grad) over grids of the libraries' own arguments, in float32 and
float64; one exported graph per preset run by onnxruntime; statistics of two shards; and a
ValueError naming the argument for every configuration a preset refuses, at construction
or (a single-channel input where the library computes another loss) at call time.

MONAI's FocalLoss computes in float32 whatever the input (``input.float()``), so its values
carry float32 rounding against our float64 ones: the tolerances below are float32's.
"""
import itertools
import warnings

import numpy as np
import pytest

import onnxlosses
from onnxlosses.presets import monai, smp

# one_thread: an autouse fixture (one thread on both sides)
from live_libraries import monai_losses, one_thread, smp_losses  # noqa: F401

torch = pytest.importorskip("torch", reason="PyTorch runs the libraries' losses")

SHAPE = (2, 4, 5, 4)          # (N, C, H, W)
N, C = SHAPE[:2]
DTYPES = ["float32", "float64"]
# float32 on at least one side (MONAI's focal always): 2e-5 relative on values (1e-5 on
# gradients of about 1 / (N C H W) each, with an absolute 1e-8 beside it)
MONAI_TOL = dict(rtol=2e-5, atol=1e-8)




def _grid(**axes):
    names = list(axes)
    return [dict(zip(names, values)) for values in itertools.product(*axes.values())]


def _ids(case):
    return "-".join(f"{k}={v}" for k, v in case.items())


def _data(dtype, seed=0, channels=C):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((N, channels) + SHAPE[2:]) * 2).astype(dtype)
    labels = rng.integers(0, channels, (N, 1) + SHAPE[2:])
    labels[:, 0, 0, :channels] = np.arange(channels)      # every class present
    onehot = (labels == np.arange(channels).reshape(1, -1, 1, 1)).astype(dtype)
    return x, labels, onehot


def _ignored(labels, ignore_index):
    """The label map with some pixels set to ignore_index (None: as it is)."""
    if ignore_index is None:
        return labels
    labels = labels.copy()
    labels[0, 0, 1:3, 1:] = ignore_index
    labels[1, 0, 4] = ignore_index
    return labels


def _torch_kwargs(kwargs):
    """MONAI takes per-class weights as tensors (a list would do for FocalLoss; DiceLoss
    indexes it)."""
    return {k: torch.tensor(v, dtype=torch.float64) if k == "weight" and np.ndim(v) else v
            for k, v in kwargs.items()}


def _live(loss, x, target, grad_output=None):
    """(value, gradient) of a live library loss module, by torch autograd."""
    xt = torch.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")             # MONAI's single-channel notices
        value = loss(xt, torch.tensor(target))
    go = torch.ones_like(value) if grad_output is None else \
        torch.tensor(grad_output, dtype=value.dtype)
    (value * go).sum().backward()
    return value.detach().numpy(), xt.grad.numpy()


def _check(ours, x, target, want, grad_output=None, tol=None):
    value, grad = ours.value_and_grad(x, target, grad_output)
    want_v, want_g = want
    tol = tol or MONAI_TOL
    assert np.shape(value) == np.shape(want_v)
    assert grad.dtype == x.dtype and grad.shape == x.shape
    np.testing.assert_allclose(value, want_v, rtol=tol["rtol"], atol=tol["atol"])
    np.testing.assert_allclose(grad, want_g, rtol=100 * tol["rtol"], atol=tol["atol"])


def _grad_output(want_v, seed=3):
    return np.random.default_rng(seed).random(np.shape(want_v))


# ---- MONAI FocalLoss, sigmoid -------------------------------------------------------------

SIGMOID_CASES = _grid(gamma=[0.0, 0.5, 2.0], alpha_weight=[(None, None), (0.3, 2.5)],
                      to_onehot_y=[False, True], reduction=["mean", "none"], dtype=DTYPES)


@pytest.mark.parametrize("case", SIGMOID_CASES, ids=_ids)
def test_monai_sigmoid_focal(case):
    ml = monai_losses()
    kw = dict(case)
    kw["alpha"], kw["weight"] = kw.pop("alpha_weight")
    x, labels, onehot = _data(kw.pop("dtype"))
    target = labels if kw["to_onehot_y"] else onehot
    loss = ml.FocalLoss(**kw)
    go = None
    if kw["reduction"] == "none":
        go = _grad_output(_live(loss, x, target)[0]).astype(x.dtype)
    want = _live(loss, x, target, go)
    ours = monai.FocalLoss(**kw)
    assert isinstance(ours, (onnxlosses.SigmoidFocalLoss, onnxlosses.CombinedLoss))
    _check(ours, x, target, want, go)          # "none": MONAI's (N, C, H, W)


# with ignore_index (class indices): MONAI's mean over the pixels left, without C, is
# SigmoidFocalLoss's mean over positions; "none" has zeros at the ignored pixels

SIGMOID_IGNORE_CASES = _grid(gamma=[0.5, 2.0], alpha_weight=[(None, None), (0.3, 2.5)],
                             reduction=["mean", "none"], ignore_index=[255, 2, -1],
                             dtype=DTYPES)


@pytest.mark.parametrize("case", SIGMOID_IGNORE_CASES, ids=_ids)
def test_monai_sigmoid_focal_ignore_index(case):
    ml = monai_losses()
    kw = dict(case, to_onehot_y=True)
    kw["alpha"], kw["weight"] = kw.pop("alpha_weight")
    x, labels, _ = _data(kw.pop("dtype"))
    labels = _ignored(labels, kw["ignore_index"])
    loss = ml.FocalLoss(**kw)
    go = None
    if kw["reduction"] == "none":
        go = _grad_output(_live(loss, x, labels)[0]).astype(x.dtype)
    want = _live(loss, x, labels, go)
    ours = monai.FocalLoss(**kw)
    _check(ours, x, labels, want, go)
    if kw["reduction"] == "mean":
        _check(ours, x, labels[:, 0], want)


# ---- MONAI FocalLoss, softmax -------------------------------------------------------------
# MONAI's mean divides by N C S (FocalLoss's mean over elements), with ignore_index by the
# pixels left (FocalLoss's own mean); a number alpha is [1 - alpha, alpha, ..., alpha]

SOFTMAX_CASES = _grid(gamma=[0.5, 2.0],
                      weight_alpha=[(None, None), (None, 0.25), (2.5, None), (2.5, 0.25),
                                    (None, [0.1, 0.4, 0.2, 0.3]), (3.0, [1.0, 1.0, 2.0, 0.5]),
                                    ([0.5, 2.0, 1.0, 1.5], None), ([0.5, 2.0, 1.0, 1.5], 0.25),
                                    ([0.5, 2.0, 1.0, 1.5], [0.1, 0.4, 0.2, 0.3])],
                      ignore_index=[None, 255, 2], dtype=DTYPES)


@pytest.mark.parametrize("case", SOFTMAX_CASES, ids=_ids)
def test_monai_softmax_focal(case):
    ml = monai_losses()
    kw = dict(case)
    weight, alpha = kw.pop("weight_alpha")
    x, labels, _ = _data(kw.pop("dtype"))
    labels = _ignored(labels, kw["ignore_index"])
    kw.update(weight=weight, alpha=alpha, use_softmax=True, to_onehot_y=True)
    want = _live(ml.FocalLoss(**_torch_kwargs(kw)), x, labels)
    ours = monai.FocalLoss(**kw)
    _check(ours, x, labels, want)
    # the class-index map without its channel axis is the same batch
    _check(ours, x, labels[:, 0], want)


# ---- MONAI DiceFocalLoss ------------------------------------------------------------------

def _dice_focal_cases():
    cases = []
    for act, to_onehot_y, jb, lambdas, alpha, gamma, dtype in itertools.product(
            ["softmax", "sigmoid", "none"], [False, True], [(False, False), (True, True)],
            [(1.0, 1.0), (0.3, 2.0)], [None, 0.4], [2.0], DTYPES):
        if act == "sigmoid" and to_onehot_y:
            continue        # the multi-label Dice term takes one-hot targets only
        cases.append(dict(activation=act, to_onehot_y=to_onehot_y, jaccard=jb[0],
                          batch=jb[1], lambda_dice=lambdas[0], lambda_focal=lambdas[1],
                          alpha=alpha, gamma=gamma, dtype=dtype))
    return cases


@pytest.mark.parametrize("case", _dice_focal_cases(), ids=_ids)
def test_monai_dice_focal(case):
    ml = monai_losses()
    kw = dict(case)
    act = kw.pop("activation")
    x, labels, onehot = _data(kw.pop("dtype"))
    if act == "none":
        x = 1 / (1 + np.exp(-x))    # probabilities for the Dice term; the focal term's logits
    else:
        kw[act] = True
    target = labels if kw["to_onehot_y"] else onehot
    want = _live(ml.DiceFocalLoss(**kw), x, target)
    ours = monai.DiceFocalLoss(**kw)
    assert isinstance(ours, onnxlosses.CombinedLoss)
    _check(ours, x, target, want)


DICE_FOCAL_WEIGHT_CASES = [c for c in _grid(
    activation=["softmax", "sigmoid", "none"], to_onehot_y=[False, True], batch=[False, True],
    weight=[2.5, 0.0], dtype=DTYPES) if not (c["activation"] == "sigmoid" and c["to_onehot_y"])]


@pytest.mark.parametrize("case", DICE_FOCAL_WEIGHT_CASES, ids=_ids)
def test_monai_dice_focal_number_weight(case):
    # a number weight scales both of MONAI's terms (on C >= 2 channels)
    ml = monai_losses()
    kw = dict(case, lambda_dice=0.7, lambda_focal=1.5, alpha=0.4)
    act = kw.pop("activation")
    x, labels, onehot = _data(kw.pop("dtype"))
    if act == "none":
        x = 1 / (1 + np.exp(-x))
    else:
        kw[act] = True
    target = labels if kw["to_onehot_y"] else onehot
    want = _live(ml.DiceFocalLoss(**kw), x, target)
    _check(monai.DiceFocalLoss(**kw), x, target, want)


# ---- MONAI DiceCELoss on one channel: Dice + BCE with logits ------------------------------

DICE_CE_ONE_CASES = _grid(activation=["sigmoid", "softmax", "none"],
                          include_background=[True, False], batch=[False, True],
                          reduction=["mean", "sum"], lambdas=[(0.3, 2.0)], dtype=DTYPES)


@pytest.mark.parametrize("case", DICE_CE_ONE_CASES, ids=_ids)
def test_monai_dice_ce_single_channel(case):
    ml = monai_losses()
    kw = dict(case)
    act = kw.pop("activation")
    kw["lambda_dice"], kw["lambda_ce"] = kw.pop("lambdas")
    x, labels, _ = _data(kw.pop("dtype"))
    x = x[:, :1]
    y = (labels > 1).astype(x.dtype)                       # (N, 1, H, W) binary mask
    if act == "none":
        x = 1 / (1 + np.exp(-x))
    else:
        kw[act] = True          # MONAI ignores softmax on one channel, as the preset does
    kw.update(weight=[1.7], to_onehot_y=True)              # one weight: one channel
    want = _live(ml.DiceCELoss(**_torch_kwargs(kw)), x, y)
    ours = monai.DiceCELoss(**kw)
    assert {type(t).__name__ for _, t in ours.terms} >= {"BCEWithLogitsLoss"}
    _check(ours, x, y, want, tol=dict(rtol=1e-5 if x.dtype == np.float32 else 1e-10,
                                      atol=1e-8 if x.dtype == np.float32 else 1e-14))


# ---- smp FocalLoss ------------------------------------------------------------------------

SMP_DENSE_CASES = _grid(mode=["binary", "multilabel"], alpha_gamma=[(None, 2.0), (0.25, 0.5)],
                        normalized=[False, True], reduced_threshold=[None, 0.5],
                        reduction=["mean", "sum", "batchwise_mean"], dtype=DTYPES)


def _smp_tol(dtype):
    return dict(rtol=1e-5, atol=1e-8) if dtype == "float32" else dict(rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("case", SMP_DENSE_CASES, ids=_ids)
def test_smp_focal_dense(case):
    sl = smp_losses()
    kw = dict(case)
    kw["alpha"], kw["gamma"] = kw.pop("alpha_gamma")
    dtype = kw.pop("dtype")
    x, _, _ = _data(dtype)
    rng = np.random.default_rng(4)
    if kw["mode"] == "binary":
        x, y = x[:, :1], (rng.random((N, 1) + SHAPE[2:]) < 0.4).astype(dtype)
    else:
        y = (rng.random(SHAPE) < 0.3).astype(dtype)
    want = _live(sl.FocalLoss(**kw), x, y)
    _check(smp.FocalLoss(**kw), x, y, want, tol=_smp_tol(dtype))


SMP_MULTICLASS_CASES = _grid(alpha=[None, 0.25], gamma=[0.5, 2.0],
                             reduced_threshold=[None, 0.5], ignore_index=[None, 255],
                             reduction=["mean", "sum"], dtype=DTYPES)


@pytest.mark.parametrize("case", SMP_MULTICLASS_CASES, ids=_ids)
def test_smp_focal_multiclass(case):
    # "mean" (smp's default) adds the C per-class means: SigmoidFocalLoss's mean over
    # positions
    sl = smp_losses()
    kw = dict(case, mode="multiclass")
    dtype = kw.pop("dtype")
    x, labels, _ = _data(dtype)
    t = labels[:, 0].astype(np.uint8)
    if kw["ignore_index"] is not None:
        t[1, 2:] = kw["ignore_index"]
    want = _live(sl.FocalLoss(**kw), x, t.astype(np.int64))
    _check(smp.FocalLoss(**kw), x, t, want, tol=_smp_tol(dtype))


@pytest.mark.parametrize("normalized", [False, True])
def test_smp_dense_ignore_index_is_a_mask(normalized):
    # what the refusal of ignore_index for dense targets tells the user to do instead
    sl = smp_losses()
    x, _, _ = _data("float64")
    y = (np.random.default_rng(4).random(SHAPE) < 0.3).astype(np.float64)
    y[0, 1, :2] = 255
    want = _live(sl.FocalLoss("multilabel", ignore_index=255, normalized=normalized), x, y)
    value, grad = smp.FocalLoss("multilabel", normalized=normalized).value_and_grad(
        x, y, mask=y != 255)
    np.testing.assert_allclose(value, want[0], rtol=1e-10)
    np.testing.assert_allclose(grad, want[1], rtol=1e-8, atol=1e-16)


# ---- exported graphs (onnxruntime) and statistics, against the libraries -------------------

def _ort(loss, x, target, **kw):
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime runs the exported graph")
    model = loss.to_onnx(dtype=x.dtype.name, grad=True, **kw)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x, "target": target})


def _onnx_cases():
    """{name: (our loss, live loss, input, target given to the graph, target given to the
    library, to_onnx keywords)}, one or two per preset."""
    ml, sl = monai_losses(), smp_losses()
    x, labels, onehot = _data("float64")
    idx = labels[:, 0]
    one = dict(sigmoid=True, weight=[1.7])
    y1 = (labels > 1).astype(np.float64)
    ignored = _ignored(labels, 255)
    fixed_c = dict(shape=("N", C, "H", "W"))      # a number alpha needs a fixed C
    return {
        "monai-FocalLoss-sigmoid": (
            monai.FocalLoss(to_onehot_y=True, weight=2.0, alpha=0.3),
            ml.FocalLoss(to_onehot_y=True, weight=2.0, alpha=0.3), x, idx, labels,
            dict(target_dtype="int64")),
        "monai-FocalLoss-none": (
            monai.FocalLoss(gamma=1.5, reduction="none"),
            ml.FocalLoss(gamma=1.5, reduction="none"), x, onehot, onehot, {}),
        "monai-FocalLoss-softmax": (
            monai.FocalLoss(to_onehot_y=True, use_softmax=True, alpha=[0.1, 0.4, 0.2, 0.3]),
            ml.FocalLoss(to_onehot_y=True, use_softmax=True, alpha=[0.1, 0.4, 0.2, 0.3]),
            x, idx, labels, {}),
        "monai-FocalLoss-softmax-default": (
            monai.FocalLoss(to_onehot_y=True, use_softmax=True),
            ml.FocalLoss(to_onehot_y=True, use_softmax=True), x, idx, labels, {}),
        "monai-FocalLoss-softmax-alpha-weight": (
            monai.FocalLoss(to_onehot_y=True, use_softmax=True, alpha=0.25, weight=2.5),
            ml.FocalLoss(to_onehot_y=True, use_softmax=True, alpha=0.25, weight=2.5),
            x, idx, labels, fixed_c),
        "monai-FocalLoss-softmax-ignore": (
            monai.FocalLoss(to_onehot_y=True, use_softmax=True, alpha=0.25, ignore_index=255),
            ml.FocalLoss(to_onehot_y=True, use_softmax=True, alpha=0.25, ignore_index=255),
            x, ignored[:, 0], ignored, fixed_c),
        "monai-FocalLoss-sigmoid-ignore": (
            monai.FocalLoss(to_onehot_y=True, alpha=0.3, ignore_index=255),
            ml.FocalLoss(to_onehot_y=True, alpha=0.3, ignore_index=255),
            x, ignored[:, 0], ignored, {}),
        "monai-DiceFocalLoss": (
            monai.DiceFocalLoss(to_onehot_y=True, softmax=True, alpha=0.4),
            ml.DiceFocalLoss(to_onehot_y=True, softmax=True, alpha=0.4), x, idx, labels, {}),
        "monai-DiceFocalLoss-weight": (
            monai.DiceFocalLoss(to_onehot_y=True, softmax=True, weight=2.5),
            ml.DiceFocalLoss(to_onehot_y=True, softmax=True, weight=2.5), x, idx, labels, {}),
        "monai-DiceCELoss-one-channel": (
            monai.DiceCELoss(**one), ml.DiceCELoss(**_torch_kwargs(one)), x[:, :1], y1, y1,
            dict(shape=("N", 1, "H", "W"))),
        "smp-FocalLoss-multiclass": (
            smp.FocalLoss("multiclass", reduction="sum"),
            sl.FocalLoss("multiclass", reduction="sum"), x, idx, idx,
            dict(target_dtype="int64")),
        "smp-FocalLoss-multiclass-mean": (
            smp.FocalLoss("multiclass", ignore_index=255, alpha=0.25),
            sl.FocalLoss("multiclass", ignore_index=255, alpha=0.25), x, ignored[:, 0],
            ignored[:, 0], {}),
        "smp-FocalLoss-multilabel": (
            smp.FocalLoss("multilabel", normalized=True),
            sl.FocalLoss("multilabel", normalized=True), x, onehot, onehot, {}),
    }


ONNX_CASES = ["monai-FocalLoss-sigmoid", "monai-FocalLoss-none", "monai-FocalLoss-softmax",
              "monai-FocalLoss-softmax-default", "monai-FocalLoss-softmax-alpha-weight",
              "monai-FocalLoss-softmax-ignore", "monai-FocalLoss-sigmoid-ignore",
              "monai-DiceFocalLoss", "monai-DiceFocalLoss-weight",
              "monai-DiceCELoss-one-channel", "smp-FocalLoss-multiclass",
              "smp-FocalLoss-multiclass-mean", "smp-FocalLoss-multilabel"]


@pytest.mark.parametrize("name", ONNX_CASES)
def test_exported_graphs_match_the_libraries(name):
    ours, theirs, x, target, their_target, kw = _onnx_cases()[name]
    want_v, want_g = _live(theirs, x, their_target)
    value, grad = _ort(ours, x, target, **kw)
    assert np.shape(value) == np.shape(want_v)
    np.testing.assert_allclose(value, want_v, rtol=2e-5, atol=1e-8)
    np.testing.assert_allclose(grad, want_g, rtol=2e-3, atol=1e-8)


@pytest.mark.parametrize("name", [n for n in ONNX_CASES if not n.endswith("-none")])
def test_statistics_of_two_shards_match_the_libraries(name):
    ours, theirs, x, target, their_target, _ = _onnx_cases()[name]
    want_v, _ = _live(theirs, x, their_target)
    total = ours.stats(x[:1], target[:1]) + ours.stats(x[1:], target[1:])
    np.testing.assert_allclose(total.value(), want_v, rtol=2e-5)


# ---- refusals -----------------------------------------------------------------------------

MONAI_REFUSED = [
    (dict(include_background=False), "include_background=False"),
    (dict(reduction="sum"), "reduction='sum'"),
    (dict(alpha=[0.1, 0.2, 0.3, 0.4]), "alpha as one value per class"),
    (dict(weight=[1.0, 2.0, 1.0, 1.0]), "weight as one value per class"),
    (dict(ignore_index=255), "ignore_index=255 cannot be honoured with one-hot targets"),
    (dict(use_softmax=True, to_onehot_y=True, include_background=False, weight=[1.0, 2.0]),
     "include_background=False"),
    (dict(use_softmax=True, weight=[1.0, 2.0]), "to_onehot_y=True"),
    (dict(use_softmax=True, to_onehot_y=True, weight=[1.0, 2.0], reduction="none"),
     "reduction='none'"),
    (dict(use_softmax=True, to_onehot_y=True, alpha=[0.5, 0.5], weight=[1.0, 2.0, 3.0]),
     "lengths 2 and 3"),
    (dict(use_softmax=True, to_onehot_y=True, alpha=1.5, weight=[1.0, 2.0]),
     r"alpha must be in \[0, 1\]"),
    (dict(alpha=-0.5), "alpha must be finite and >= 0"),
    (dict(weight=-1.0), "weight must be finite and >= 0"),
    (dict(gamma=-1.0), "gamma must be finite and >= 0"),
    (dict(reduction="batch"), "reduction must be one of"),
]


@pytest.mark.parametrize("kw,match", MONAI_REFUSED, ids=lambda v: str(v))
def test_monai_focal_refusals(kw, match):
    with pytest.raises(ValueError, match=match):
        monai.FocalLoss(**kw)


DICE_FOCAL_REFUSED = [
    (dict(reduction="none"), "reduction='none'"),
    (dict(reduction="sum"), "reduction='sum'"),
    (dict(weight=[1.0, 2.0]), "weight as one value per class cannot be honoured"),
    (dict(include_background=False), "include_background=False"),
    (dict(lambda_focal=-1.0), "lambda_focal"),
    (dict(lambda_dice=-0.5), "lambda_dice"),
    (dict(other_act=np.tanh), "other_act"),
    (dict(sigmoid=True, softmax=True), "incompatible"),
]


@pytest.mark.parametrize("kw,match", DICE_FOCAL_REFUSED, ids=lambda v: str(v))
def test_monai_dice_focal_refusals(kw, match):
    with pytest.raises(ValueError, match=match):
        monai.DiceFocalLoss(**kw)


SMP_REFUSED = [
    (("multiclass",), dict(reduction="batchwise_mean"), "reduction='batchwise_mean'"),
    (("multiclass",), dict(reduction="sum", normalized=True), "normalized=True"),
    (("multilabel",), dict(reduction="none"), "reduction='none'"),
    (("binary",), dict(ignore_index=255), r"mask=\(target != 255\)"),
    (("multilabel",), dict(alpha=-0.25), "alpha must be finite and >= 0"),
    (("multilabel",), dict(reduced_threshold=1.5), "reduced_threshold must be in"),
    (("multilabel",), dict(reduction="avg"), "reduction must be one of"),
    (("multi-class",), dict(), "mode must be one of"),
]


@pytest.mark.parametrize("args,kw,match", SMP_REFUSED, ids=lambda v: str(v))
def test_smp_focal_refusals(args, kw, match):
    with pytest.raises(ValueError, match=match):
        smp.FocalLoss(*args, **kw)


def test_the_refusals_are_real_differences():
    """A refused configuration is one the nearest onnxlosses loss would get wrong: MONAI's
    sum, against what the loss alone gives."""
    ml = monai_losses()
    x, labels, onehot = _data("float64")
    theirs = _live(ml.FocalLoss(reduction="sum"), x, onehot)[0]
    ours = onnxlosses.SigmoidFocalLoss(alpha=-1.0, reduction="sum")(x, onehot)
    assert not np.isclose(ours, theirs, rtol=1e-3)
    np.testing.assert_allclose(ours / np.prod(SHAPE[2:]), theirs, rtol=2e-5)   # why


def test_the_mean_switches_are_needed():
    """The lifted configurations differ from the public losses by the class count C, which
    the internal mean switches supply at call time: smp's multiclass mean and MONAI's
    sigmoid mean with ignore_index are C times SigmoidFocalLoss's, MONAI's softmax mean
    1 / C times FocalLoss's."""
    ml, sl = monai_losses(), smp_losses()
    x, labels, _ = _data("float64")
    t = labels[:, 0]
    plain = onnxlosses.SigmoidFocalLoss(alpha=-1.0, reduction="mean")(x, t)
    theirs = _live(sl.FocalLoss("multiclass"), x, t)[0]
    np.testing.assert_allclose(theirs, C * plain, rtol=1e-10)
    theirs = _live(ml.FocalLoss(to_onehot_y=True, ignore_index=-7), x, labels)[0]
    np.testing.assert_allclose(theirs, C * plain, rtol=2e-5)
    theirs = _live(ml.FocalLoss(to_onehot_y=True, use_softmax=True), x, labels)[0]
    np.testing.assert_allclose(theirs, onnxlosses.FocalLoss()(x, t) / C, rtol=2e-5)


# ---- known gaps: configurations the presets accept but cannot check, each needing an
# internal switch in a loss (docs/presets.md, "Focal presets") ------------------------------

def _soft(dtype="float64"):
    return np.random.default_rng(7).uniform(0.1, 0.9, SHAPE).astype(dtype)


def _gap(reason):
    return pytest.mark.xfail(strict=True, raises=AssertionError, reason=reason)


@_gap("soft targets: MONAI's focal factor is sigmoid(-x (2y - 1))^gamma, SigmoidFocalLoss's "
      "(1 - p_t)^gamma; equal for 0 / 1 only, and no switch refuses soft targets")
def test_monai_focal_soft_targets():
    x, _, _ = _data("float64")
    want = _live(monai_losses().FocalLoss(), x, _soft())
    _check(monai.FocalLoss(), x, _soft(), want)


@_gap("soft targets: smp's p_t is exp(-BCE), SigmoidFocalLoss's p y + (1 - p)(1 - y); equal "
      "for 0 / 1 only, and no switch refuses soft targets")
def test_smp_focal_soft_targets():
    x, _, _ = _data("float64")
    want = _live(smp_losses().FocalLoss("multilabel"), x, _soft())
    _check(smp.FocalLoss("multilabel"), x, _soft(), want, tol=_smp_tol("float64"))


@_gap("an integer (N, H, W) mask for an (N, 1, H, W) input is read as class indices (class "
      "0 the positive one), where smp flattens it as a binary mask")
def test_smp_binary_mask_without_channel_axis():
    x, _, _ = _data("float64")
    x = x[:, :1]
    t = np.zeros((N,) + SHAPE[2:], np.int64)            # all background
    want = _live(smp_losses().FocalLoss("binary"), x, t)
    _check(smp.FocalLoss("binary"), x, t, want, tol=_smp_tol("float64"))


# ---- a single-channel input, where MONAI computes another loss than the preset's terms:
# a ValueError at call time that names the workaround, and the workaround gives MONAI's
# value --------------------------------------------------------------------------------------

def _one_channel(dtype="float64"):
    x, labels, _ = _data(dtype)
    return x[:, :1], labels, (labels > 1).astype(dtype)


@pytest.mark.parametrize("kw", [dict(sigmoid=True), dict(softmax=True, to_onehot_y=True),
                                dict(lambda_dice=0.3, lambda_ce=2.0, batch=True)],
                         ids=_ids)
def test_monai_dice_ce_single_channel_without_weight(kw):
    ml = monai_losses()
    x, _, y = _one_channel()
    ours = monai.DiceCELoss(**kw)
    match = r"input has a single channel, shape \(2, 1, 5, 4\): MONAI's DiceCELoss takes " \
            r"BCE with logits there.*weight=\[1\.0\]"
    for call in (lambda: ours(x, y), lambda: ours.value_and_grad(x, y),
                 lambda: ours.stats(x, y)):
        with pytest.raises(ValueError, match=match):
            call()
    # the workaround the message names is MONAI's loss without a weight
    want = _live(ml.DiceCELoss(**kw), x, y)
    _check(monai.DiceCELoss(weight=[1.0], **kw), x, y, want,
           tol=dict(rtol=1e-10, atol=1e-14))
    # and on C >= 2 channels the loss is MONAI's (tests/test_presets_namespaces.py too)
    x4, labels, onehot = _data("float64")
    if not (kw.get("sigmoid") or kw.get("softmax")):
        x4 = 1 / (1 + np.exp(-x4))        # probabilities for the Dice term
    target = labels if kw.get("to_onehot_y") else onehot
    _check(ours, x4, target, _live(ml.DiceCELoss(**kw), x4, target),
           tol=dict(rtol=1e-10, atol=1e-14))


def test_monai_focal_ignore_index_single_channel():
    ml = monai_losses()
    x, labels, y = _one_channel()
    t = y.astype(np.int64)
    t[0, 0, 1:3] = 255
    kw = dict(to_onehot_y=True, ignore_index=255, alpha=0.3, gamma=1.5)
    with pytest.raises(ValueError, match=r"input has a single channel.*reads a single-channel "
                                         r"target as it comes.*mask=\(target != 255\)"):
        monai.FocalLoss(**kw)(x, t)
    want = _live(ml.FocalLoss(**kw), x, t)
    del kw["ignore_index"]
    value, grad = monai.FocalLoss(**kw).value_and_grad(x, t, mask=t != 255)
    np.testing.assert_allclose(value, want[0], **MONAI_TOL)
    np.testing.assert_allclose(grad, want[1], rtol=100 * MONAI_TOL["rtol"],
                               atol=MONAI_TOL["atol"])


def test_monai_dice_focal_weight_single_channel():
    ml = monai_losses()
    x, _, y = _one_channel()
    kw = dict(sigmoid=True, weight=2.5, lambda_focal=0.8)
    with pytest.raises(ValueError, match=r"input has a single channel.*leaves weight=2.5 out "
                                         r"of its Dice term.*weight=None and "
                                         r"lambda_focal=2.0"):
        monai.DiceFocalLoss(**kw)(x, y)
    want = _live(ml.DiceFocalLoss(**kw), x, y)
    _check(monai.DiceFocalLoss(sigmoid=True, lambda_focal=2.0), x, y, want)


def test_single_channel_refusal_in_exported_graphs():
    """A graph cannot raise: with a symbolic C it gives NaN for a single-channel input (and
    MONAI's value on more); a fixed C = 1 is refused at export."""
    ml = monai_losses()
    ours = monai.DiceCELoss(sigmoid=True)
    with pytest.raises(ValueError, match=r"shape\[1\] is 1, a single channel: MONAI's "
                                         r"DiceCELoss"):
        ours.to_onnx(shape=("N", 1, "H", "W"))
    x, labels, onehot = _data("float32")
    value, grad = _ort(ours, x, onehot)
    want_v, want_g = _live(ml.DiceCELoss(sigmoid=True), x, onehot)
    np.testing.assert_allclose(value, want_v, rtol=2e-5)
    np.testing.assert_allclose(grad, want_g, rtol=2e-3, atol=1e-8)
    value, grad = _ort(ours, x[:, :1], onehot[:, :1])
    assert np.isnan(value) and np.all(np.isnan(grad))
