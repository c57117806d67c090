"""Every bad input raises a clear error naming the argument, before any work."""
import numpy as np
import pytest

from onnxlosses import CrossEntropyLoss, NLLLoss, cross_entropy, nll_loss

from helpers import cross_entropy_ref

X = np.zeros((4, 3, 2), dtype=np.float32)
T = np.zeros((4, 2), dtype=np.int64)


@pytest.mark.parametrize("kwargs,exc,match", [
    (dict(reduction="avg"), ValueError, r"reduction must be one of 'none', 'mean', 'sum', got 'avg'"),
    (dict(label_smoothing=1.5), ValueError, r"label_smoothing must be in \[0, 1\], got 1.5"),
    (dict(label_smoothing=-0.1), ValueError, r"label_smoothing must be in \[0, 1\]"),
    (dict(label_smoothing="0.1"), TypeError, r"label_smoothing must be a real number"),
    (dict(ignore_index=1.5), TypeError, r"ignore_index must be an integer"),
    (dict(ignore_index=True), TypeError, r"ignore_index must be an integer"),
    (dict(weight=[1.0, -1.0, 1.0]), ValueError, r"weight must be finite and >= 0, got -1.0 at index 1"),
    (dict(weight=[1.0, np.nan, 1.0]), ValueError, r"weight must be finite and >= 0"),
    (dict(weight=[[1.0, 2.0, 3.0]]), ValueError, r"weight must be 1-D"),
    (dict(weight=["a", "b", "c"]), TypeError, r"weight must be a real array"),
    (dict(gamma=2.0), TypeError, r"unexpected keyword argument"),
])
def test_bad_parameters(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        CrossEntropyLoss(**kwargs)


def test_out_of_range_targets_name_value_and_count():
    t = np.array([[0, 7], [2, 255], [3, 1], [0, 0]], dtype=np.int64)
    with pytest.raises(ValueError, match=r"target has 2 values outside \[0, 3\) other than "
                                         r"ignore_index=255, e.g. 7"):
        cross_entropy(X, t, ignore_index=255)
    with pytest.raises(ValueError, match=r"target has 1 value outside \[0, 3\) other than "
                                         r"ignore_index=-100, e.g. -1"):
        nll_loss(X, np.array([[0, -1], [0, 0], [0, 0], [0, 0]]))
    # a masked-out position is not a counted target and may hold anything
    mask = np.ones((4, 2), bool)
    mask[0, 1] = mask[1, 1] = mask[2, 0] = False
    assert np.isfinite(cross_entropy(X, t, mask=mask))


@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.int32, np.int64])
def test_targets_read_in_their_own_width(dtype):
    """The scan compares in the target's dtype: an ignore_index the dtype cannot hold matches
    nothing (it must not wrap onto a real class), and every bad value is found and counted,
    whatever the layout of the targets."""
    info = np.iinfo(dtype)
    x = np.random.default_rng(0).standard_normal((5, 50, 3, 3))
    t = np.arange(45).reshape(5, 3, 3) % 50
    t = t.astype(dtype)
    assert 44 in t
    if dtype != np.int64:
        wraps_to_44 = 2 ** info.bits + 44   # what a narrowing cast would turn into class 44
        got = cross_entropy(x, t, ignore_index=wraps_to_44)
        np.testing.assert_allclose(got, cross_entropy_ref(x, t.astype(np.int64)), rtol=1e-12)
    bad = t.copy()
    bad[1, 2, 2] = 50
    bad[3, 0, 1] = 120
    if info.min < 0:
        bad[4, 1, 1] = -3
    n = 3 if info.min < 0 else 2
    for tv in (bad, bad.transpose(0, 2, 1).copy().transpose(0, 2, 1)):
        with pytest.raises(ValueError, match=rf"target has {n} values outside \[0, 50\) other "
                                             rf"than ignore_index=-100, e.g. 50"):
            cross_entropy(x, tv)


def test_uint8_target_out_of_range():
    with pytest.raises(ValueError, match=r"e.g. 200"):
        cross_entropy(X, np.full((4, 2), 200, dtype=np.uint8))


@pytest.mark.parametrize("target,exc,match", [
    (np.zeros((4, 3), np.int64), ValueError, r"target must have shape \(4, 2\) for input of shape \(4, 3, 2\), got \(4, 3\)"),
    (np.zeros((4, 2), np.int8), TypeError, r"target must be uint8, int16, int32 or int64 class indices, or float class probabilities, got dtype int8"),
    (np.zeros((4, 2), bool), TypeError, r"got dtype bool"),
    (np.zeros((4, 2), np.float32), ValueError, r"float targets are class probabilities and must have the input's shape \(4, 3, 2\), got \(4, 2\)"),
])
def test_bad_targets(target, exc, match):
    with pytest.raises(exc, match=match):
        cross_entropy(X, target)


def test_bad_inputs():
    with pytest.raises(TypeError, match=r"input must be float16, float32 or float64, got dtype int64"):
        cross_entropy(np.zeros((4, 3), np.int64), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match=r"input must be \(C,\), \(N, C\)"):
        cross_entropy(np.float32(1.0), np.int64(0))
    with pytest.raises(ValueError, match=r"input must have at least one class"):
        cross_entropy(np.zeros((4, 0)), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match=r"weight must have one value per class \(C=3\), got length 2"):
        cross_entropy(X, T, weight=[1.0, 2.0])


def test_nll_refuses_probabilities():
    with pytest.raises(TypeError, match=r"target must be uint8, int16, int32 or int64 class indices, got dtype float32"):
        nll_loss(X, np.zeros((4, 3, 2), np.float32))


def test_ignore_index_with_probabilities():
    with pytest.raises(ValueError, match=r"ignore_index is not supported with class-probability targets, got ignore_index=0"):
        cross_entropy(X, np.zeros_like(X), ignore_index=0)


def test_bad_mask():
    with pytest.raises(TypeError, match=r"mask must be a boolean array, got dtype int64"):
        cross_entropy(X, T, mask=np.ones((4, 2), np.int64))
    with pytest.raises(ValueError, match=r"mask must have the target's shape \(4, 2\), got \(4, 3\)"):
        cross_entropy(X, T, mask=np.ones((4, 3), bool))


def test_bad_grad_output_and_out():
    loss = CrossEntropyLoss()
    with pytest.raises(ValueError, match=r"grad_output must be a scalar for reduction 'mean', got shape \(4, 2\)"):
        loss.value_and_grad(X, T, grad_output=np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"grad_output must have the loss's shape \(4, 2\) for reduction 'none', got \(4,\)"):
        CrossEntropyLoss(reduction="none").value_and_grad(X, T, grad_output=np.ones(4))
    with pytest.raises(ValueError, match=r"out must have the input's shape \(4, 3, 2\) and dtype float32, got \(4, 3, 2\) float64"):
        loss.value_and_grad(X, T, out=np.zeros((4, 3, 2)))
    with pytest.raises(ValueError, match=r"out must not share memory with input"):
        x = X.copy()
        loss.value_and_grad(x, T, out=x)
    ro = np.zeros_like(X)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"out must be writeable"):
        loss.value_and_grad(X, T, out=ro)
    with pytest.raises(TypeError, match=r"out must be a numpy array"):
        loss.value_and_grad(X, T, out=[0.0])


def test_repr_and_config():
    loss = CrossEntropyLoss(weight=[1, 2, 3], ignore_index=255)
    assert repr(loss) == "CrossEntropyLoss(weight=[1., 2., 3.], ignore_index=255)"
    assert repr(NLLLoss()) == "NLLLoss()"
    assert loss.ignore_index == 255 and loss.config["reduction"] == "mean"
    assert loss.weight.dtype == np.float64 and not loss.weight.flags.writeable
