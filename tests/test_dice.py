"""Dice family against references: the documented formulas composed from PyTorch ops
(onnxlosses.references, every option), and segmentation_models_pytorch 0.5's and MONAI's
losses re-implemented here from their published code; gradients through autograd and
central differences; thread-count invariance."""
import itertools

import numpy as np
import pytest

import onnxlosses
from onnxlosses import (DiceLoss, GeneralizedDiceLoss, JaccardLoss, TverskyLoss, dice_loss,
                        generalized_dice_loss)

from onnxlosses.references import torch_reference

from helpers import central_difference, relayout

torch = pytest.importorskip("torch", reason="PyTorch is the reference for these tests")
F = torch.nn.functional


def _data(mode, shape, seed, dense=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 2
    C = shape[1]
    if mode == "multiclass" and not dense:
        t = rng.integers(0, C, (shape[0],) + shape[2:])
    else:
        t = (rng.random(shape) < 0.3).astype(np.float64)
    return x, t


def _check(loss, x, t, mask=None, layout="contiguous", tol=1e-10):
    """The kernel against the documented formulas composed from torch ops, autograd."""
    value, grad = loss.value_and_grad(relayout(x, layout), t, mask=mask)
    ref_v, ref_g = torch_reference(loss, x, t, mask=mask)
    np.testing.assert_allclose(value, ref_v, rtol=tol, atol=tol)
    np.testing.assert_allclose(grad, ref_g, rtol=1e-8, atol=1e-11)


OPTIONS = [
    dict(),
    dict(smooth=0.0, eps=1e-7),
    dict(squared=True, smooth=0.5, smooth_dr=2.0),
    dict(weight=[0.5, 2.0, 1.0, 0.0], per_image=True),
    dict(log_loss=True, smooth=0.1, eps=1e-7),
    dict(classes=[1, 3], absent="zero"),
    dict(absent="skip", reduction="sum"),
    dict(reduction="none", per_image=True, ignore_index=2),
    dict(ignore_index=0, absent="zero", weight=[1.0, 1.0, 3.0, 1.0]),
]


@pytest.mark.parametrize("variant,cls", [("dice", DiceLoss), ("jaccard", JaccardLoss),
                                         ("tversky", TverskyLoss)])
@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "defaults")
def test_multiclass_variants_match_formula(variant, cls, opts):
    x, t = _data("multiclass", (3, 4, 5, 6), len(str(opts)))
    t[0] = 3  # class 3 present; make class 1 absent in sample 0 only
    t[1][t[1] == 1] = 0
    extra = dict(alpha=0.3, beta=0.7, gamma=1.5) if variant == "tversky" else {}
    if variant == "tversky" and opts.get("log_loss"):
        extra = dict(alpha=0.3, beta=0.7)
    loss = cls(**opts, **extra)
    mask = np.random.default_rng(1).random((3, 5, 6)) < 0.8
    _check(loss, x, t, mask=mask, layout="channels_last")


@pytest.mark.parametrize("mode", ["binary", "multilabel"])
@pytest.mark.parametrize("opts", [dict(), dict(per_image=True, squared=True),
                                  dict(from_logits=False, smooth=0.0, eps=1e-7),
                                  dict(absent="skip")])
def test_sigmoid_modes_match_formula(mode, opts):
    shape = (3, 1, 5, 6) if mode == "binary" else (3, 4, 5, 6)
    x, t = _data(mode, shape, 4)
    if not opts.get("from_logits", True):
        x = 1 / (1 + np.exp(-x))
    _check(DiceLoss(mode=mode, **opts), x, t)


@pytest.mark.parametrize("per_image", [False, True])
@pytest.mark.parametrize("weighting", ["square", "simple", "uniform"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_generalized_dice_matches_formula(per_image, weighting, reduction):
    x, t = _data("multiclass", (3, 4, 5, 6), 6)
    t[t == 2] = 1   # an absent class: infinite weight replaced by the largest finite one
    loss = GeneralizedDiceLoss(per_image=per_image, weighting=weighting, reduction=reduction,
                               smooth=1e-5)
    _check(loss, x, t, tol=1e-9)


@pytest.mark.parametrize("squared", [False, True])
def test_multiclass_probabilities_with_class_indices(squared):
    """from_logits=False: the input is used as it is (no activation), one-hot targets."""
    x, t = _data("multiclass", (3, 4, 5, 6), 21)
    p = np.random.default_rng(2).dirichlet(np.ones(4), (3, 5, 6)).transpose(0, 3, 1, 2)
    mask = np.random.default_rng(3).random((3, 5, 6)) < 0.8
    opts = dict(from_logits=False, squared=squared, ignore_index=2, smooth=0.5)
    _check(DiceLoss(**opts), p, t, mask=mask, layout="channels_last")
    _check(JaccardLoss(per_image=True, **opts), p, t, mask=mask)


@pytest.mark.parametrize("mode,from_logits", [("multiclass", True), ("multiclass", False),
                                              ("binary", True), ("binary", False)])
def test_nan_where_not_counted_stays_out(mode, from_logits):
    """NaN or inf input at masked or ignored pixels changes neither the value nor the
    gradient (the kernel selects those pixels away instead of multiplying them by 0)."""
    rng = np.random.default_rng(22)
    C = 4 if mode == "multiclass" else 1
    x = rng.standard_normal((2, C, 6, 7))
    if mode == "multiclass":
        t = rng.integers(0, C, (2, 6, 7))
        t[0, 0, :3] = 9   # ignored
        ignored = t == 9
    else:
        t = (rng.random((2, 1, 6, 7)) < 0.4).astype(np.float64)
        ignored = np.zeros((2, 6, 7), bool)
    mask = rng.random((2, 6, 7)) < 0.8
    hidden = ignored | ~mask
    bad = x.copy()
    bad[:, 0][hidden] = np.nan
    bad[:, -1][hidden] = np.inf
    if not from_logits:
        x = 1 / (1 + np.exp(-x))
        bad = np.where(np.isfinite(bad), 1 / (1 + np.exp(-bad)), bad)
    loss = DiceLoss(mode=mode, from_logits=from_logits,
                    ignore_index=9 if mode == "multiclass" else None)
    v, g = loss.value_and_grad(x, t, mask=mask)
    vb, gb = loss.value_and_grad(bad, t, mask=mask)
    assert np.isfinite(vb) and vb == v
    np.testing.assert_array_equal(gb, g)
    assert np.all(gb.transpose(0, 2, 3, 1)[hidden] == 0)


def test_float32_input_matches_float64_formula():
    """float32 logits, float64 accumulation: agrees with the float64 formula to float32
    rounding on a shape with many tiles."""
    x, t = _data("multiclass", (2, 5, 40, 50), 23)
    t[0, :4] = 255
    xf = x.astype(np.float32)
    for opts in (dict(ignore_index=255), dict(ignore_index=255, squared=True, per_image=True)):
        loss = DiceLoss(**opts)
        v, g = loss.value_and_grad(xf, t)
        ref_v, ref_g = torch_reference(loss, xf.astype(np.float64), t)
        assert v.dtype == np.float32 and g.dtype == np.float32
        np.testing.assert_allclose(v, ref_v, rtol=2e-6)
        np.testing.assert_allclose(g, ref_g, rtol=1e-4, atol=1e-9)
    # sigmoid (binary mode) in float32
    xb, yb = _data("binary", (2, 1, 40, 50), 24)
    loss = DiceLoss(mode="binary")
    v, g = loss.value_and_grad(xb.astype(np.float32), yb)
    ref_v, ref_g = torch_reference(loss, xb.astype(np.float32).astype(np.float64), yb)
    np.testing.assert_allclose(v, ref_v, rtol=2e-6)
    np.testing.assert_allclose(g, ref_g, rtol=1e-4, atol=1e-9)


def test_dense_soft_targets_multiclass():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 4, 5))
    q = rng.dirichlet(np.ones(3), (2, 4, 5)).transpose(0, 3, 1, 2)
    _check(DiceLoss(), x, q)


# ---- segmentation_models_pytorch 0.5.0, re-implemented from its published source --------
# (checked once against the real smp 0.5.0 losses: it needs torch >= 2.14 through timm and
# torchvision, so it cannot be a test dependency beside torch 2.13)

def smp_ref(y_pred, y_true, mode, variant, classes=None, log_loss=False, from_logits=True,
            smooth=0.0, ignore_index=None, eps=1e-7, alpha=0.5, beta=0.5, gamma=1.0):
    if from_logits:
        y_pred = y_pred.log_softmax(dim=1).exp() if mode == "multiclass" else \
            F.logsigmoid(y_pred).exp()
    bs, num_classes, dims = y_true.size(0), y_pred.size(1), (0, 2)
    if mode == "binary":
        y_true, y_pred = y_true.view(bs, 1, -1), y_pred.view(bs, 1, -1)
        if ignore_index is not None:
            m = y_true != ignore_index
            y_pred, y_true = y_pred * m, y_true * m
    elif mode == "multiclass":
        y_true, y_pred = y_true.view(bs, -1), y_pred.view(bs, num_classes, -1)
        if ignore_index is not None:
            m = y_true != ignore_index
            y_pred = y_pred * m.unsqueeze(1)
            y_true = F.one_hot((y_true * m).to(torch.long), num_classes)
            y_true = y_true.permute(0, 2, 1) * m.unsqueeze(1)
        else:
            y_true = F.one_hot(y_true, num_classes).permute(0, 2, 1)
    else:
        y_true, y_pred = y_true.view(bs, num_classes, -1), y_pred.view(bs, num_classes, -1)
        if ignore_index is not None:
            m = y_true != ignore_index
            y_pred, y_true = y_pred * m, y_true * m
    y_true = y_true.type_as(y_pred)
    # smp 0.5: every score is soft_tversky_score, Dice with alpha = beta = 0.5, Jaccard with 1, 1
    a, b = {"dice": (0.5, 0.5), "jaccard": (1.0, 1.0), "tversky": (alpha, beta)}[variant]
    output_sum = torch.sum(y_pred, dim=dims)
    target_sum = torch.sum(y_true, dim=dims)
    difference = torch.linalg.vector_norm(y_pred - y_true, ord=1, dim=dims)
    inter = (output_sum + target_sum - difference) / 2
    fp, fn = output_sum - inter, target_sum - inter
    score = (inter + smooth) / (inter + a * fp + b * fn + smooth).clamp_min(eps)
    loss = -torch.log(score.clamp_min(eps)) if log_loss else 1.0 - score
    loss = loss * (y_true.sum(dims) > 0).to(loss.dtype)
    if classes is not None:
        loss = loss[classes]
    return loss.mean() ** gamma if variant == "tversky" else loss.mean()


SMP_CASES = [  # smp refuses classes in binary mode (an assertion): no such case
    case for case in itertools.product(
        ["dice", "jaccard", "tversky"], ["binary", "multiclass", "multilabel"],
        [dict(), dict(log_loss=True), dict(smooth=1.0, ignore_index=255), dict(classes=[0, 2])])
    if not (case[1] == "binary" and "classes" in case[2])]


@pytest.mark.parametrize("variant,mode,opts", SMP_CASES)
def test_smp_presets(variant, mode, opts):
    cls = {"dice": DiceLoss, "jaccard": JaccardLoss, "tversky": TverskyLoss}[variant]
    extra = dict(alpha=0.3, beta=0.7, gamma=2.0) if variant == "tversky" else {}
    rng = np.random.default_rng(len(variant) + len(mode))
    shape = (2, 1, 6, 7) if mode == "binary" else (2, 3, 6, 7)
    x = rng.standard_normal(shape) * 2
    if mode == "multiclass":
        t = rng.integers(0, 3, (2, 6, 7))
        t[t == 1] = 0 if "classes" in opts else 1   # absent class 1 with classes
    else:
        t = (rng.random(shape) < 0.3).astype(np.float64)
    if "ignore_index" in opts:
        t = t.astype(np.int64) if mode == "multiclass" else t
        t[0, ..., :2] = 255
    loss = cls.preset("smp", mode=mode, **opts, **extra)
    value, grad = loss.value_and_grad(x, t)
    xt = torch.tensor(x, requires_grad=True)
    tt = torch.tensor(t)
    ref = smp_ref(xt, tt, mode, variant, **opts, **extra)
    ref.backward()
    np.testing.assert_allclose(value, ref.item(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-8, atol=1e-11)


# ---- MONAI 1.6, re-implemented from its published source --------------------------------

def monai_ref(input, target, *, include_background=True, softmax=False, sigmoid=False,
              squared_pred=False, jaccard=False, smooth_nr=1e-5, smooth_dr=1e-5, batch=False,
              weight=None, ignore_index=None, generalized=False, w_type="square"):
    """MONAI DiceLoss / GeneralizedDiceLoss with to_onehot_y=True on label targets."""
    if sigmoid:
        input = torch.sigmoid(input)
    if softmax:
        input = torch.softmax(input, 1)
    C = input.shape[1]
    labels = target
    if ignore_index is not None and not 0 <= ignore_index < C:
        labels = torch.where(target == ignore_index, 0, target)
    onehot = F.one_hot(labels, C).movedim(-1, 1).to(input.dtype)
    if not include_background:
        onehot, input = onehot[:, 1:], input[:, 1:]
    if ignore_index is not None:
        m = (target != ignore_index).unsqueeze(1).to(input.dtype)
        input, onehot = input * m, onehot * m
    axes = list(range(2, input.ndim))
    if batch:
        axes = [0] + axes
    tp = (input * onehot).sum(axes)
    k = 2 if squared_pred else 1
    fp = (input ** k).sum(axes) - tp
    fn = (onehot ** k).sum(axes) - tp
    if generalized:
        den = 2 * (tp + 0.5 * fp + 0.5 * fn)
        g = onehot.sum(axes)
        w = {"square": 1 / (g * g), "simple": 1 / g, "uniform": torch.ones_like(g)}[w_type]
        inf = torch.isinf(w)
        w = torch.where(inf, 0, w)
        w = w + inf * (w.max() if batch else w.max(dim=1, keepdim=True)[0])
        red = 0 if batch else 1
        f = 1 - (2 * (tp * w).sum(red, keepdim=True) + smooth_nr) / \
            ((den * w).sum(red, keepdim=True) + smooth_dr)
        return f.mean()
    if not jaccard:
        fp, fn = 0.5 * fp, 0.5 * fn
    f = 1 - (2 * tp + smooth_nr) / (2 * (tp + fp + fn) + smooth_dr)
    if weight is not None:
        f = f * torch.as_tensor(weight, dtype=f.dtype)
    return f.mean()


MONAI_CASES = [
    dict(softmax=True),
    dict(softmax=True, include_background=False),
    dict(softmax=True, squared_pred=True, batch=True),
    dict(softmax=True, jaccard=True, smooth_nr=0.0, smooth_dr=1e-6),
    dict(softmax=True, weight=[0.2, 1.0, 3.0]),
    dict(softmax=True, ignore_index=255),
    dict(sigmoid=False),
]


@pytest.mark.parametrize("opts", MONAI_CASES, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()))
def test_monai_dice_preset(opts):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 5, 6))
    if not opts.get("softmax") and not opts.get("sigmoid"):
        x = np.abs(x) / 3
    t = rng.integers(0, 3, (2, 5, 6))
    if "ignore_index" in opts:
        t[0, :2] = 255
    kw = dict(opts)
    jacc = kw.pop("jaccard", False)
    if not kw.get("include_background", True):
        kw["num_classes"] = 3
    cls = JaccardLoss if jacc else DiceLoss
    loss = cls.preset("monai", **kw)
    value, grad = loss.value_and_grad(x, t)
    xt = torch.tensor(x, requires_grad=True)
    ref = monai_ref(xt, torch.tensor(t), **opts)
    ref.backward()
    np.testing.assert_allclose(value, ref.item(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-8, atol=1e-11)


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("w_type", ["square", "simple", "uniform"])
def test_monai_generalized_dice_preset(batch, w_type):
    rng = np.random.default_rng(10)
    x = rng.standard_normal((3, 4, 5, 6))
    t = rng.integers(0, 4, (3, 5, 6))
    t[0][t[0] == 3] = 2     # class 3 absent from sample 0: the infinite-weight rule
    loss = GeneralizedDiceLoss.preset("monai", softmax=True, batch=batch, weighting=w_type)
    value, grad = loss.value_and_grad(x, t)
    xt = torch.tensor(x, requires_grad=True)
    ref = monai_ref(xt, torch.tensor(t), softmax=True, batch=batch, generalized=True,
                    w_type=w_type)
    ref.backward()
    np.testing.assert_allclose(value, ref.item(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-8, atol=1e-11)


# ---- the seed's losses (hubutui/DiceLoss-PyTorch), re-implemented, its weight bug fixed ---

def seed_binary_ref(predict, target, smooth=1, p=2, reduction="mean"):
    predict = predict.contiguous().view(predict.shape[0], -1)
    target = target.contiguous().view(target.shape[0], -1)
    num = torch.sum(torch.mul(predict, target), dim=1) + smooth
    den = torch.sum(predict.pow(p) + target.pow(p), dim=1) + smooth
    loss = 1 - num / den
    return loss.mean() if reduction == "mean" else loss.sum() if reduction == "sum" else loss


def seed_multiclass_ref(predict, target, weight=None, ignore_index=None):
    total = 0
    predict = F.softmax(predict, dim=1)
    for i in range(target.shape[1]):
        if i != ignore_index:
            d = seed_binary_ref(predict[:, i], target[:, i])
            if weight is not None:
                d = d * weight[i]      # the seed writes self.weights[i]: an AttributeError
            total = total + d
    return total / target.shape[1]


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_seed_binary_preset(reduction):
    rng = np.random.default_rng(14)
    p = rng.random((3, 1, 5, 6))
    t = (rng.random((3, 1, 5, 6)) < 0.4).astype(float)
    value, grad = DiceLoss.preset("seed_binary", reduction=reduction).value_and_grad(p, t)
    pt = torch.tensor(p, requires_grad=True)
    ref = seed_binary_ref(pt, torch.tensor(t), reduction=reduction)
    np.testing.assert_allclose(value, ref.detach().numpy(), rtol=1e-12)
    ref.sum().backward()
    np.testing.assert_allclose(grad, pt.grad.numpy(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("weight,skip", [(None, None), (None, 0), ([0.5, 2.0, 1.0, 3.0], 2)])
def test_seed_multiclass_preset(weight, skip):
    rng = np.random.default_rng(15)
    x = rng.standard_normal((2, 4, 5, 6))
    onehot = np.eye(4)[rng.integers(0, 4, (2, 5, 6))].transpose(0, 3, 1, 2)
    loss = DiceLoss.preset("seed", weight=weight, skip_class=skip, num_classes=4)
    value, grad = loss.value_and_grad(x, onehot)
    xt = torch.tensor(x, requires_grad=True)
    ref = seed_multiclass_ref(xt, torch.tensor(onehot), weight=weight, ignore_index=skip)
    ref.backward()
    np.testing.assert_allclose(value, ref.item(), rtol=1e-12)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-10, atol=1e-13)


# ---- edge cases, gradients, threads ------------------------------------------------------

def test_edge_cases():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 4, 4))
    t = rng.integers(0, 3, (2, 4, 4))
    # every pixel ignored: every class absent; smooth keeps the score at 1, loss 0
    v, g = DiceLoss(ignore_index=0).value_and_grad(x, np.zeros((2, 4, 4), np.int64))
    assert v == 0 and np.all(g == 0)
    # ... and with smooth=0 it is 0/0: NaN, like the formula
    assert np.isnan(dice_loss(x, np.zeros((2, 4, 4), np.int64), ignore_index=0, smooth=0.0))
    # one pixel, one sample
    _check(DiceLoss(), x[:1, :, :1, :1], t[:1, :1, :1])
    # one class (binary as a single channel)
    _check(DiceLoss(mode="binary"), x[:, :1],
           (rng.random((2, 1, 4, 4)) < 0.5).astype(float))
    # uint8 / int16 / int32 targets read as they are
    for dt in (np.uint8, np.int16, np.int32):
        np.testing.assert_allclose(dice_loss(x, t.astype(dt)), dice_loss(x, t), rtol=1e-15)


def test_gradient_matches_central_differences():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((2, 3, 3, 2))
    t = rng.integers(0, 3, (2, 3, 2))
    for loss in (DiceLoss(per_image=True, squared=True), JaccardLoss(log_loss=True, eps=1e-7),
                 TverskyLoss(alpha=0.3, beta=0.7, gamma=2.0),
                 GeneralizedDiceLoss(weighting="simple")):
        _, g = loss.value_and_grad(x, t)
        fd = central_difference(lambda z: float(loss(z, t)), x)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)


def test_bad_parameters():
    with pytest.raises(ValueError, match=r"mode must be one of 'binary', 'multiclass', 'multilabel'"):
        DiceLoss(mode="multi")
    with pytest.raises(ValueError, match=r"absent must be one of"):
        DiceLoss(absent="drop")
    with pytest.raises(ValueError, match=r"classes must hold distinct"):
        DiceLoss(classes=[1, 1])
    with pytest.raises(ValueError, match=r"classes must lie in \[0, 3\)"):
        dice_loss(np.zeros((1, 3, 2)), np.zeros((1, 2), np.int64), classes=[5])
    with pytest.raises(ValueError, match=r"multilabel mode needs a target of the input's shape"):
        dice_loss(np.zeros((1, 3, 2)), np.zeros((1, 2), np.int64), mode="multilabel")
    with pytest.raises(ValueError, match=r"preset must be 'smp', 'monai', 'seed' or 'seed_binary'"):
        DiceLoss.preset("keras")
    with pytest.raises(ValueError, match=r"no generalized Dice"):
        GeneralizedDiceLoss.preset("smp")
    assert generalized_dice_loss(np.zeros((1, 2, 2)), np.array([[0, 1]])) >= 0


def test_gradient_into_out_and_bad_out():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    t = rng.integers(0, 3, (2, 4, 4))
    out = np.empty_like(x)
    v, g = DiceLoss().value_and_grad(x, t, out=out)
    assert g is out
    np.testing.assert_array_equal(out, DiceLoss().value_and_grad(x, t)[1])
    with pytest.raises(ValueError, match=r"out must have the input's shape"):
        DiceLoss().value_and_grad(x, t, out=np.empty((2, 3), np.float32))


def test_gradient_into_out_allocates_nothing_input_sized():
    import tracemalloc
    rng = np.random.default_rng(17)
    # big enough that the per-thread tile buffers (O(threads * C * tile)) are small beside it
    x = rng.standard_normal((2, 5, 256, 256)).astype(np.float32)
    t = rng.integers(0, 5, (2, 256, 256)).astype(np.uint8)
    out = np.empty_like(x)
    loss = DiceLoss()
    loss.value_and_grad(x, t, out=out)
    tracemalloc.start()
    loss.value_and_grad(x, t, out=out)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < x.nbytes / 4, peak
    np.testing.assert_array_equal(out, loss.value_and_grad(x, t)[1])
    # binary mode without a channel axis writes through a view of out
    xb, yb = x[:, 0], (t == 1).astype(np.float32)
    ob = np.empty_like(xb)
    DiceLoss(mode="binary").value_and_grad(xb, yb, out=ob)
    np.testing.assert_array_equal(ob, DiceLoss(mode="binary").value_and_grad(xb, yb)[1])


@pytest.mark.parametrize("kernel", [True, False])
def test_tversky_slope_without_cancellation(kernel, monkeypatch):
    """alpha = beta = 0: s = I / (I + s_dr) (smooth 0), whose slope ds/dI = s_dr / (I +
    s_dr)^2 is tiny beside the terms a / den and num c / den^2 it is the difference of (that
    difference lost about eps I / s_dr of it).  Against the closed form, float64; both the
    compiled scores and the NumPy reduction (every configuration's fallback)."""
    if not kernel:
        monkeypatch.setattr(onnxlosses.dice._DiceFamily, "_reduce_compiled",
                            lambda self, *args: None)
    rng = np.random.default_rng(3)
    p = rng.uniform(0.2, 0.9, (1, 1, 64))
    t = (rng.random((1, 1, 64)) < 0.5).astype(np.float64)
    loss = TverskyLoss(mode="binary", from_logits=False, alpha=0.0, beta=0.0, smooth=0.0,
                       smooth_dr=1e-5)
    _, g = loss.value_and_grad(p, t)
    I = float((p * t).sum())
    want = -1e-5 / (I + 1e-5) ** 2 * t            # d(1 - s)/dp = -ds/dI t
    np.testing.assert_allclose(g, want, rtol=1e-13, atol=0)
