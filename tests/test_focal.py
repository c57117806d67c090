"""Softmax and sigmoid focal losses against independent references: the float64 NumPy formula
and the losses composed from PyTorch ops (torchvision's; onnxlosses.references),
segmentation_models_pytorch's formulas (written out here), cross-entropy at gamma=0, and
finite differences."""
import itertools

import numpy as np
import pytest

import onnxlosses
from onnxlosses import (FocalLoss, SigmoidFocalLoss, focal_loss,
                        sigmoid_focal_loss)

from onnxlosses.references import numpy_reference, torch_reference

from helpers import central_difference, relayout

torch = pytest.importorskip("torch", reason="PyTorch is the reference for these tests")
F = torch.nn.functional


GAMMAS = [0.0, 0.5, 1.0, 2.0, 5.0]
ALPHAS = {"none": None, "scalar": 0.25, "per-class": [0.1, 0.5, 1.0, 2.0, 0.0]}
SOFTMAX_CASES = list(itertools.product(GAMMAS, sorted(ALPHAS), ["mean", "sum", "none"],
                                       [np.float32, np.float64]))


@pytest.mark.parametrize("gamma,alpha,reduction,dtype", SOFTMAX_CASES)
def test_softmax_focal_matches_references(gamma, alpha, reduction, dtype):
    rng = np.random.default_rng(int(gamma * 10) + len(alpha))
    x = (rng.standard_normal((3, 5, 4, 6)) * 3).astype(dtype)
    t = rng.integers(0, 5, (3, 4, 6)).astype([np.uint8, np.int32][int(gamma) % 2])
    t[rng.random(t.shape) < 0.2] = 255
    a = ALPHAS[alpha]
    loss = FocalLoss(alpha=a, gamma=gamma, ignore_index=255, reduction=reduction)
    go = rng.standard_normal(t.shape) if reduction == "none" else 0.8
    layout = "channels_last" if dtype == np.float32 else "contiguous"
    value, grad = loss.value_and_grad(relayout(x, layout), t, grad_output=go)
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for reference in (numpy_reference, torch_reference):    # float64 formula; torch ops
        want_v, want_g = reference(loss, x.astype(np.float64), t, grad_output=go)
        np.testing.assert_allclose(value, want_v, **tol)
        np.testing.assert_allclose(grad, want_g, **tol)


def test_softmax_focal_gamma_zero_is_cross_entropy():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 6, 5))
    t = rng.integers(0, 6, (4, 5))
    t[0, 0] = -100
    for reduction in ("mean", "sum", "none"):
        fv, fg = FocalLoss(gamma=0.0, reduction=reduction).value_and_grad(x, t)
        cv, cg = onnxlosses.CrossEntropyLoss(reduction=reduction).value_and_grad(x, t)
        np.testing.assert_allclose(fv, cv, rtol=1e-14)
        np.testing.assert_allclose(fg, cg, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("gamma", GAMMAS)
def test_softmax_focal_gradient_matches_central_differences(gamma):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 3, 2))
    t = rng.integers(0, 3, (4, 2))
    mask = np.ones((4, 2), bool)
    mask[1, 1] = False
    loss = FocalLoss(alpha=[0.5, 1.0, 2.0], gamma=gamma)
    _, g = loss.value_and_grad(x, t, mask=mask)
    fd = central_difference(lambda z: float(loss(z, t, mask=mask)), x)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)


def test_softmax_focal_saturated_logits_keep_finite_gradients():
    x = np.array([[60.0, 0.0, -60.0], [1e4, 0.0, 0.0]])
    t = np.array([0, 0])
    for gamma in (0.25, 0.5, 1.0, 2.0):
        v, g = FocalLoss(gamma=gamma).value_and_grad(x.astype(np.float32), t)
        assert np.isfinite(v) and np.isfinite(g).all()


def test_softmax_focal_mask_all_ignored_and_errors():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3))
    t = np.array([0, 1, 2, 1])
    mask = np.array([True, False, True, False])
    np.testing.assert_allclose(
        focal_loss(x, t, gamma=2.0, mask=mask),
        numpy_reference(FocalLoss(gamma=2.0), x, t, mask=mask)[0], rtol=1e-13)
    v, g = FocalLoss().value_and_grad(x, np.full(4, -100))
    assert np.isnan(v) and np.all(g == 0)
    assert FocalLoss(reduction="sum")(x, np.full(4, -100)) == 0
    with pytest.raises(ValueError, match=r"gamma must be finite and >= 0, got -1.0"):
        FocalLoss(gamma=-1.0)
    with pytest.raises(ValueError, match=r"alpha must have one value per class \(C=3\), got length 2"):
        focal_loss(x, t, alpha=[1.0, 2.0])
    with pytest.raises(TypeError, match=r"class indices, got dtype float64"):
        focal_loss(x, np.zeros((4, 3)))


def smp_focal_with_logits(x, y, gamma, alpha, reduction, normalized, reduced_threshold,
                          eps=1e-6):
    """segmentation_models_pytorch 0.5 focal_loss_with_logits, written out."""
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    pt = torch.exp(-ce)
    if reduced_threshold is None:
        focal_term = (1.0 - pt).pow(gamma)
    else:
        focal_term = ((1.0 - pt) / reduced_threshold).pow(gamma)
        focal_term = torch.where(pt < reduced_threshold, torch.ones_like(focal_term),
                                 focal_term)
    loss = focal_term * ce
    if alpha is not None:
        loss = loss * (alpha * y + (1 - alpha) * (1 - y))
    if normalized:
        loss = loss / focal_term.sum().clamp_min(eps)
    if reduction == "mean":
        return loss.mean()
    return loss.sum() if reduction == "sum" else loss


SIGMOID_CASES = list(itertools.product(GAMMAS, [0.25, -1.0], ["mean", "sum", "none"],
                                       ["binary", "multilabel-soft"], [np.float32, np.float64]))


@pytest.mark.parametrize("gamma,alpha,reduction,kind,dtype", SIGMOID_CASES)
def test_sigmoid_focal_matches_torchvision(gamma, alpha, reduction, kind, dtype):
    rng = np.random.default_rng(int(gamma * 7) + len(kind))
    shape = (4, 1, 5, 6) if kind == "binary" else (3, 4, 7)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    y = (rng.random(shape) < 0.3).astype(dtype) if kind == "binary" else \
        rng.random(shape).astype(dtype)
    go = rng.standard_normal(shape) if reduction == "none" else 1.5
    loss = SigmoidFocalLoss(alpha=alpha, gamma=gamma, reduction=reduction)
    value, grad = loss.value_and_grad(relayout(x, "strided"), y, grad_output=go)
    # torchvision's formula composed from torch ops (onnxlosses.references), float64
    ref_v, ref_g = torch_reference(loss, x.astype(np.float64), y.astype(np.float64),
                                   grad_output=go)
    tol = dict(rtol=3e-5, atol=3e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(value, ref_v, **tol)
    np.testing.assert_allclose(grad, ref_g, **tol)


@pytest.mark.parametrize("normalized,thr,reduction",
                         list(itertools.product([False, True], [None, 0.5],
                                                ["mean", "sum", "none"])))
def test_sigmoid_focal_matches_smp_options(normalized, thr, reduction):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 4, 5)) * 2
    y = (rng.random(x.shape) < 0.4).astype(np.float64)   # hard labels: smp's p_t = torchvision's
    go = rng.standard_normal(x.shape) if reduction == "none" else 0.9
    loss = SigmoidFocalLoss(alpha=0.25, gamma=2.0, reduction=reduction, normalized=normalized,
                            reduced_threshold=thr)
    value, grad = loss.value_and_grad(x, y, grad_output=go)
    xt = torch.tensor(x, requires_grad=True)
    ref = smp_focal_with_logits(xt, torch.tensor(y), 2.0, 0.25, reduction, normalized, thr)
    (ref * torch.tensor(np.asarray(go, np.float64))).sum().backward()
    np.testing.assert_allclose(value, ref.detach().numpy(), rtol=1e-11, atol=1e-14)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=1e-9, atol=1e-13)


@pytest.mark.parametrize("tdtype", [np.uint8, np.int16, np.int32, np.int64])
def test_sigmoid_focal_class_indices_one_vs_rest(tdtype):
    rng = np.random.default_rng(6)
    C = 4
    x = rng.standard_normal((3, C, 5, 6))
    t = rng.integers(0, C, (3, 5, 6)).astype(tdtype)
    t[rng.random(t.shape) < 0.2] = 255 if tdtype == np.uint8 else -1
    ii = 255 if tdtype == np.uint8 else -1
    loss = SigmoidFocalLoss(reduction="mean", ignore_index=ii)
    value, grad = loss.value_and_grad(x, t)
    # smp's multiclass FocalLoss: per class, drop ignored pixels, one-vs-rest focal, add up
    xt = torch.tensor(x, requires_grad=True)
    tt = torch.tensor(t.astype(np.int64))
    keep = tt != ii
    smp_total = 0
    for c in range(C):
        yc = (tt == c).to(torch.float64)[keep]
        smp_total = smp_total + smp_focal_with_logits(xt[:, c][keep], yc, 2.0, 0.25, "mean",
                                                      False, None)
    smp_total.backward()
    np.testing.assert_allclose(C * value, smp_total.item(), rtol=1e-12)
    np.testing.assert_allclose(C * grad, xt.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_sigmoid_focal_mask_and_saturation():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 6))
    y = (rng.random((4, 6)) < 0.5).astype(float)
    mask = rng.random((4, 6)) < 0.7
    got = sigmoid_focal_loss(x, y, reduction="sum", mask=mask)
    want = sigmoid_focal_loss(x[mask], y[mask], reduction="sum")
    np.testing.assert_allclose(got, want, rtol=1e-13)
    # saturated (finite) logits: finite value and finite gradient for every gamma, also < 1
    sat = np.array([-200.0, -40.0, -17.0, 17.0, 40.0, 200.0], np.float32)
    for gamma in (0.25, 0.5, 1.0, 2.0):
        for yy in (np.zeros(6, np.float32), np.ones(6, np.float32)):
            v, g = SigmoidFocalLoss(gamma=gamma, reduction="none").value_and_grad(sat, yy)
            assert np.isfinite(v).all() and np.isfinite(g).all()


@pytest.mark.parametrize("gamma", [0.5, 2.0])
def test_sigmoid_focal_gradient_matches_central_differences(gamma):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 4))
    y = rng.random((3, 4))
    for kw in (dict(), dict(normalized=True), dict(reduced_threshold=0.6, alpha=-1.0)):
        loss = SigmoidFocalLoss(gamma=gamma, reduction="mean", **kw)
        _, g = loss.value_and_grad(x, y)
        fd = central_difference(lambda z: float(loss(z, y)), x)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)


def test_sigmoid_focal_bad_input():
    with pytest.raises(ValueError, match=r"reduced_threshold must be in \(0, 1\] or None"):
        SigmoidFocalLoss(reduced_threshold=0.0)
    with pytest.raises(TypeError, match=r"normalized must be True or False"):
        SigmoidFocalLoss(normalized=1)
    with pytest.raises(ValueError, match=r"target must have the input's shape"):
        sigmoid_focal_loss(np.zeros((2, 3)), np.zeros((3,)))
    with pytest.raises(ValueError, match=r"target has 1 value outside \[0, 3\)"):
        sigmoid_focal_loss(np.zeros((2, 3)), np.array([0, 5]))


# ---- the presets' internal switches (their values against the references: test_references,
# test_onnx_export; against MONAI and smp: test_presets_focal) ------------------------------

def test_mean_over_switches_scale_the_mean_only():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 4, 3, 5))
    t = rng.integers(0, 4, (2, 3, 5))
    t[0, 0] = 255
    C = x.shape[1]
    for plain, switched, factor in [
            (FocalLoss(ignore_index=255),
             FocalLoss._from_config(dict(ignore_index=255, _mean_over="elements")), 1 / C),
            (SigmoidFocalLoss(reduction="mean", ignore_index=255),
             SigmoidFocalLoss._from_config(dict(reduction="mean", ignore_index=255,
                                                _mean_over="positions")), C)]:
        v0, g0 = plain.value_and_grad(x, t)
        v1, g1 = switched.value_and_grad(x, t)
        np.testing.assert_allclose(v1, factor * v0, rtol=1e-13)
        np.testing.assert_allclose(g1, factor * g0, rtol=1e-13, atol=1e-300)
        for reduction in ("sum", "none"):     # nothing but the mean's denominator changes
            a = type(plain)._from_config(dict(plain.config, reduction=reduction))
            b = type(plain)._from_config(dict(switched.config, reduction=reduction))
            np.testing.assert_array_equal(a(x, t), b(x, t))


def test_alpha0_replaces_class_zeros_alpha():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((3, 4, 6))
    t = rng.integers(0, 4, (3, 6))
    for alpha, alpha0, want in [(0.25, 0.75, [0.75, 0.25, 0.25, 0.25]),
                                (None, 2.0, [2.0, 1.0, 1.0, 1.0]),
                                ([0.1, 0.2, 0.3, 0.4], 0.9, [0.9, 0.2, 0.3, 0.4])]:
        loss = FocalLoss._from_config(dict(alpha=alpha, _alpha0=alpha0, gamma=1.5))
        value, grad = loss.value_and_grad(x, t)
        v, g = FocalLoss(alpha=np.array(want), gamma=1.5).value_and_grad(x, t)
        np.testing.assert_allclose(value, v, rtol=1e-14)
        np.testing.assert_allclose(grad, g, rtol=1e-14)


def test_internal_switch_values_are_checked():
    with pytest.raises(ValueError, match=r"_mean_over must be one of 'positions', "
                                         r"'elements', got 'classes'"):
        FocalLoss._from_config(dict(_mean_over="classes"))
    with pytest.raises(ValueError, match=r"_mean_over must be one of 'elements', "
                                         r"'positions', got 'weight'"):
        SigmoidFocalLoss._from_config(dict(_mean_over="weight"))
    with pytest.raises(ValueError, match=r"_alpha0 must be finite and >= 0, got -0.5"):
        FocalLoss._from_config(dict(_alpha0=-0.5))
    with pytest.raises(TypeError, match=r"unexpected keyword argument"):
        FocalLoss(_mean_over="elements")


def test_mean_over_positions_refuses_dense_targets():
    """SigmoidFocalLoss's mean over positions is defined for class indices only: a target of
    the input's shape is a ValueError in the kernel path, the references and the export."""
    loss = SigmoidFocalLoss._from_config(dict(reduction="mean", _mean_over="positions"))
    x = np.zeros((2, 3, 4))
    y = np.zeros((2, 3, 4))
    match = r"target must be integer class indices of shape \(2, 4\)"
    for call in (lambda: loss(x, y), lambda: loss.value_and_grad(x, y),
                 lambda: loss.stats(x, y)):
        with pytest.raises(ValueError, match=match):
            call()
    with pytest.raises(ValueError, match=r"target must be class indices"):
        numpy_reference(loss, x, y)
    with pytest.raises(ValueError, match=r"target must be class indices"):
        torch_reference(loss, x, y)
    with pytest.raises(ValueError, match=r"takes class indices: target_dtype must be"):
        loss.to_onnx(target_dtype="float32")
    assert loss.spec.target_kinds(loss.config) == ("index",)
    assert loss.to_onnx().graph.input[1].type.tensor_type.elem_type == 7      # int64
