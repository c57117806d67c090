"""BCE and BCE-with-logits against PyTorch (float64), finite differences, bad input."""
import itertools

import numpy as np
import pytest

import onnxlosses
from onnxlosses import (BCELoss, BCEWithLogitsLoss, binary_cross_entropy,
                        binary_cross_entropy_with_logits)

from onnxlosses.references import torch_reference

from helpers import central_difference, relayout

torch = pytest.importorskip("torch", reason="PyTorch is the reference for these tests")
F = torch.nn.functional

SHAPES = [(7,), (4, 3), (2, 3, 4, 5)]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-13)}


def weights_for(shape, kind, rng):
    if kind is None:
        return None
    if kind == "full":
        return rng.uniform(0.1, 2, shape)
    if kind == "last":
        return rng.uniform(0.1, 2, shape[-1:])
    return rng.uniform(0.1, 2, (shape[1],) + (1,) * (len(shape) - 2)) if len(shape) > 2 \
        else rng.uniform(0.1, 2, shape[-1:])


def torch_ref(logits, x, y, w, pw, reduction, go):
    """PyTorch's own loss in float64 (onnxlosses.references): value and gradient."""
    loss = BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=reduction) if logits else \
        BCELoss(weight=w, reduction=reduction)
    return torch_reference(loss, np.asarray(x, np.float64), np.asarray(y, np.float64),
                           grad_output=go)


CASES = list(itertools.product(range(len(SHAPES)), [None, "full", "last", "class"],
                               [None, "last", "class"], ["mean", "sum", "none"],
                               [np.float32, np.float64]))


@pytest.mark.parametrize("shape_i,wkind,pwkind,reduction,dtype", CASES)
def test_with_logits_matches_torch(shape_i, wkind, pwkind, reduction, dtype):
    shape = SHAPES[shape_i]
    rng = np.random.default_rng(shape_i * 100 + len(str(wkind)) + len(str(pwkind)))
    x = (rng.standard_normal(shape) * 4).astype(dtype)
    y = rng.random(shape).astype(dtype)
    y[rng.random(shape) < 0.3] = 1.0
    w, pw = weights_for(shape, wkind, rng), weights_for(shape, pwkind, rng)
    go = rng.standard_normal(shape) if reduction == "none" else 0.75
    layout = ["contiguous", "negative", "strided", "fortran"][(shape_i + len(reduction)) % 4]
    loss = BCEWithLogitsLoss(weight=w, pos_weight=pw, reduction=reduction)
    value, grad = loss.value_and_grad(relayout(x, layout), relayout(y, layout), grad_output=go)
    ref_v, ref_g = torch_ref(True, x, y, w, pw, reduction, go)
    np.testing.assert_allclose(value, ref_v, rtol=TOL[dtype]["rtol"],
                               atol=TOL[dtype]["atol"] * max(1, np.abs(ref_v).max()))
    np.testing.assert_allclose(grad, ref_g, **TOL[dtype])
    assert grad.dtype == x.dtype and np.asarray(value).dtype == x.dtype
    # the forward-only loops (no exp(-|x|) kept when there is no gradient) give the same
    np.testing.assert_array_equal(loss(relayout(x, layout), relayout(y, layout)), value)


@pytest.mark.parametrize("shape_i,wkind,reduction,dtype",
                         list(itertools.product(range(len(SHAPES)), [None, "full", "class"],
                                                ["mean", "sum", "none"],
                                                [np.float32, np.float64])))
def test_probabilities_match_torch(shape_i, wkind, reduction, dtype):
    shape = SHAPES[shape_i]
    rng = np.random.default_rng(shape_i + 7)
    p = rng.random(shape).astype(dtype)
    p.flat[0] = 0.0       # log clamp at -100 on both sides
    p.flat[-1] = 1.0
    y = rng.random(shape).astype(dtype)
    w = weights_for(shape, wkind, rng)
    go = rng.standard_normal(shape) if reduction == "none" else 1.25
    value, grad = BCELoss(weight=w, reduction=reduction).value_and_grad(
        relayout(p, "negative"), y, grad_output=go)
    ref_v, ref_g = torch_ref(False, p, y, w, None, reduction, go)
    np.testing.assert_allclose(value, ref_v, rtol=TOL[dtype]["rtol"],
                               atol=TOL[dtype]["atol"] * max(1, np.abs(ref_v).max()))
    np.testing.assert_allclose(grad, ref_g, rtol=TOL[dtype]["rtol"],
                               atol=TOL[dtype]["atol"] * max(1, np.abs(ref_g).max()))


def test_extreme_logits():
    x = np.array([-np.inf, -1e30, -90.0, -20.0, 0.0, 20.0, 90.0, 1e30, np.inf])
    for y in (np.zeros_like(x), np.ones_like(x), np.full_like(x, 0.3)):
        for dtype in (np.float32, np.float64):
            xs = x.astype(dtype)
            v, g = BCEWithLogitsLoss(reduction="none").value_and_grad(xs, y.astype(dtype))
            # same dtype on both sides: the formula's (1 - y) x + max(-x, 0) cancels in both
            xt = torch.tensor(xs, requires_grad=True)
            ref = F.binary_cross_entropy_with_logits(xt, torch.tensor(y.astype(dtype)),
                                                     reduction="none")
            ref.sum().backward()
            np.testing.assert_allclose(v, ref.detach().numpy(), rtol=1e-6, equal_nan=True)
            np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-6, atol=1e-30,
                                       equal_nan=True)


def test_gradients_match_central_differences():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 4))
    y = rng.random((3, 4))
    loss = BCEWithLogitsLoss(weight=rng.random(4), pos_weight=rng.random((3, 1)) * 3)
    _, g = loss.value_and_grad(x, y)
    np.testing.assert_allclose(g, central_difference(lambda z: float(loss(z, y)), x),
                               rtol=1e-6, atol=1e-9)
    p = rng.uniform(0.05, 0.95, (3, 4))
    bce = BCELoss(weight=rng.random((3, 4)), reduction="sum")
    _, g = bce.value_and_grad(p, y)
    np.testing.assert_allclose(g, central_difference(lambda z: float(bce(z, y)), p),
                               rtol=1e-6, atol=1e-9)


def test_empty_and_nan():
    e = np.zeros((0, 3))
    assert np.isnan(binary_cross_entropy_with_logits(e, e))
    assert binary_cross_entropy(e, e, reduction="sum") == 0
    x = np.array([0.5, np.nan, -1.0])
    v = binary_cross_entropy_with_logits(x, np.ones(3), reduction="none")
    assert np.isnan(v[1]) and np.isfinite(v[[0, 2]]).all()
    # PyTorch raises for a NaN probability; onnxlosses propagates it (README)
    assert np.isnan(binary_cross_entropy(np.array([0.5, np.nan]), np.ones(2)))


def test_bad_input():
    with pytest.raises(ValueError, match=r"input must lie in \[0, 1\]: 2 values outside, e.g. 1.5"):
        binary_cross_entropy(np.array([0.2, 1.5, -0.1]), np.ones(3))
    with pytest.raises(ValueError, match=r"target must lie in \[0, 1\]: 1 value outside, e.g. 2.0"):
        binary_cross_entropy(np.array([0.2, 0.5]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"target must have the input's shape \(2, 3\), got \(3,\)"):
        binary_cross_entropy_with_logits(np.zeros((2, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(4,\) does not broadcast to the "
                                         r"input's shape \(2, 3\)"):
        binary_cross_entropy_with_logits(np.zeros((2, 3)), np.zeros((2, 3)), pos_weight=np.ones(4))
    with pytest.raises(ValueError, match=r"weight of shape \(3, 2, 3\) does not broadcast"):
        binary_cross_entropy_with_logits(np.zeros((2, 3)), np.zeros((2, 3)),
                                         weight=np.ones((3, 2, 3)))
    with pytest.raises(TypeError, match=r"takes no mask"):
        BCELoss()(np.zeros(2), np.zeros(2), mask=np.ones(2, bool))
    with pytest.raises(TypeError, match=r"input must be float16, float32 or float64"):
        binary_cross_entropy_with_logits(np.zeros(2, np.int64), np.zeros(2))


def test_float16_and_out():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 5)).astype(np.float16)
    y = rng.random((4, 5)).astype(np.float16)
    out = np.empty_like(x)
    v, g = BCEWithLogitsLoss().value_and_grad(x, y, out=out)
    assert g is out and v.dtype == np.float16
    ref_v, ref_g = torch_ref(True, x, y, None, None, "mean", 1.0)
    np.testing.assert_allclose(float(v), ref_v, rtol=2e-3)
    np.testing.assert_allclose(g.astype(np.float64), ref_g, atol=1e-3)
