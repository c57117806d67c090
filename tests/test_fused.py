"""A softmax loss and a Dice-family loss combined on the same logits run fused, in the Dice
kernel's two passes (onnxlosses/_fused.py).  The expected values are the same combined
loss evaluated term by term (the fusion switched off), whose terms are checked against
their float64 and PyTorch references elsewhere; the registry's combined examples (some of
them fused) are checked against the references' sums in test_registry.py and
test_parity.py."""
import numpy as np
import pytest

from onnxlosses import (CrossEntropyLoss, DiceLoss, FocalLoss, GeneralizedDiceLoss,
                        JaccardLoss, TverskyLoss, _cross_entropy, _dice, _fused,
                        _softmax_ce)
from onnxlosses import dice as dice_module
from onnxlosses._registry import LOSSES

C = 5
SOFTMAX_TERMS = [
    CrossEntropyLoss(ignore_index=255),
    CrossEntropyLoss(ignore_index=255, weight=np.linspace(0.5, 2.0, C), label_smoothing=0.1),
    CrossEntropyLoss(ignore_index=255, label_smoothing=0.2, reduction="sum"),
    FocalLoss(ignore_index=255),
    FocalLoss(ignore_index=255, gamma=0.5, alpha=np.linspace(0.1, 0.9, C), reduction="sum"),
    # MONAI's softmax focal (presets.monai): the mean over elements, 1 - alpha for class 0
    FocalLoss._from_config(dict(ignore_index=255, alpha=0.3, _alpha0=0.7,
                                _mean_over="elements")),
]
DICE_TERMS = [
    DiceLoss(ignore_index=255),
    DiceLoss(ignore_index=255, squared=True, per_image=True, smooth=0.0, eps=1e-7),
    JaccardLoss(ignore_index=255, log_loss=True, eps=1e-7),
    TverskyLoss(ignore_index=255, alpha=0.3, beta=0.7, gamma=2.0, classes=[1, 3]),
    GeneralizedDiceLoss(ignore_index=255),
]


def _data(dtype, shape=(2, C, 9, 37), seed=0, width=np.uint8):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    t = rng.integers(0, C, (shape[0],) + shape[2:])
    t[rng.random(t.shape) < 0.1] = 255
    mask = rng.random(t.shape) > 0.2
    return x, t.astype(width), mask


def _term_by_term(monkeypatch, loss, *args, **kwargs):
    with monkeypatch.context() as m:
        m.setattr(_fused, "pair", lambda terms: None)
        return loss.value_and_grad(*args, **kwargs)


def _close(got, want, dtype):
    (v, g), (v0, g0) = got, want
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(np.float64(v), np.float64(v0), rtol=rtol)
    scale = np.abs(g0.astype(np.float64)).max()
    np.testing.assert_allclose(g.astype(np.float64), g0.astype(np.float64), rtol=0,
                               atol=rtol * scale)


@pytest.fixture
def spy(monkeypatch):
    """The kernels a call ran: "fused" for a Dice pass with a softmax term, "dice",
    "cross_entropy"."""
    calls = []
    ce_launch, dice_launch = _cross_entropy.Launch, _dice.Launch

    # the kernels are prepared per plan (Launch) and run by Launch.run
    class CrossEntropyLaunch:
        def __init__(self, *args):
            self._launch = ce_launch(*args)

        def run(self, *args):
            calls.append("cross_entropy")
            return self._launch.run(*args)

    class DiceLaunch:
        def __init__(self, *args):
            self._launch = dice_launch(*args)

        def run(self, *args):
            calls.append("fused" if args[-1] is not None else "dice")   # softmax_term
            return self._launch.run(*args)

    monkeypatch.setattr(_cross_entropy, "Launch", CrossEntropyLaunch)
    monkeypatch.setattr(_dice, "Launch", DiceLaunch)
    # plans made before hold real ones
    monkeypatch.setattr(_softmax_ce, "_plans", {})
    monkeypatch.setattr(dice_module, "_prepared", {})
    return calls


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("soft", SOFTMAX_TERMS, ids=repr)
@pytest.mark.parametrize("dice", DICE_TERMS, ids=repr)
def test_fused_pair_equals_its_terms(monkeypatch, spy, dtype, soft, dice):
    x, t, mask = _data(dtype)
    loss = 0.7 * soft + 1.3 * dice
    got = loss.value_and_grad(x, t, mask=mask, grad_output=2.5)
    assert spy == ["fused", "fused"]      # statistics and gradient, no cross-entropy pass
    _close(got, _term_by_term(monkeypatch, loss, x, t, mask=mask, grad_output=2.5), dtype)
    del spy[:]
    value = loss(x, t, mask=mask)
    assert spy == ["fused"]
    np.testing.assert_allclose(np.float64(value), np.float64(loss.value_and_grad(x, t,
                               mask=mask)[0]), rtol=1e-6 if dtype == np.float32 else 1e-14)


@pytest.mark.parametrize("layout", ["channels_last", "strided", "volume", "matrix", "int64"])
def test_fused_layouts(monkeypatch, layout):
    soft, dice = CrossEntropyLoss(ignore_index=255, label_smoothing=0.1), DiceLoss(ignore_index=255)
    loss = soft + dice
    if layout == "volume":
        x, t, mask = _data(np.float32, shape=(2, C, 4, 5, 6))
    elif layout == "matrix":
        x, t, mask = _data(np.float64, shape=(40, C))
    else:
        x, t, mask = _data(np.float32, width=np.int64 if layout == "int64" else np.uint8)
    if layout == "channels_last":
        x = np.ascontiguousarray(np.moveaxis(x, 1, -1)).transpose(0, 3, 1, 2)
    elif layout == "strided":
        x, t, mask = x[:, :, ::-2, 1::3], t[:, ::-2, 1::3], mask[:, ::-2, 1::3]
    out = np.full(x.shape, np.nan, x.dtype)
    got = loss.value_and_grad(x, t, mask=mask, out=out)
    assert got[1] is out
    _close(got, _term_by_term(monkeypatch, loss, x, t, mask=mask), x.dtype)


def test_three_terms_fuse_a_pair_and_add_the_third(monkeypatch, spy):
    x, t, mask = _data(np.float64)
    loss = CrossEntropyLoss(ignore_index=255) + 0.5 * DiceLoss(ignore_index=255) \
        + 0.25 * FocalLoss(ignore_index=255)
    got = loss.value_and_grad(x, t, mask=mask)
    assert spy == ["fused", "fused", "cross_entropy"]
    _close(got, _term_by_term(monkeypatch, loss, x, t, mask=mask), np.float64)


@pytest.mark.parametrize("case", ["probabilities", "sigmoid dice", "ignore_index differs",
                                  "weight length"])
def test_what_does_not_fuse_runs_term_by_term(monkeypatch, spy, case):
    x, t, mask = _data(np.float64)
    t = np.where(t == 255, 0, t).astype(np.uint8)
    soft, dice = CrossEntropyLoss(), DiceLoss()
    if case in ("probabilities", "sigmoid dice"):
        t = np.moveaxis(np.eye(C)[t], -1, 1)           # one-hot class probabilities
        if case == "sigmoid dice":
            dice = DiceLoss(mode="multilabel")
    elif case == "ignore_index differs":
        soft, dice = CrossEntropyLoss(ignore_index=1), DiceLoss(ignore_index=2)
        t = np.where(t == 3, 1, t).astype(np.uint8)    # 1 ignored by one term, counted by the other
    loss = soft + dice
    if case == "weight length":
        loss = CrossEntropyLoss(weight=np.ones(C + 1)) + dice
        with pytest.raises(ValueError, match=r"weight must have one value per class \(C=5\)"):
            loss.value_and_grad(x, t)
        return
    got = loss.value_and_grad(x, t, mask=mask)
    assert "fused" not in spy and "dice" in spy
    _close(got, _term_by_term(monkeypatch, loss, x, t, mask=mask), np.float64)


def test_per_position_terms_do_not_pair():
    none = [(1.0, CrossEntropyLoss(reduction="none")), (1.0, DiceLoss(reduction="none"))]
    assert _fused.pair(none) is None
    assert _fused.pair([(1.0, CrossEntropyLoss()), (1.0, FocalLoss())]) is None


def test_nan_logit_and_nothing_counted_match_term_by_term(monkeypatch):
    x, t, mask = _data(np.float64)
    loss = CrossEntropyLoss(ignore_index=255) + DiceLoss(ignore_index=255)
    x[0, 2, 3, 4] = np.nan
    v, g = loss.value_and_grad(x, t)
    v0, g0 = _term_by_term(monkeypatch, loss, x, t)
    assert np.isnan(v) and np.isnan(v0)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(g0))
    np.testing.assert_allclose(g[~np.isnan(g)], g0[~np.isnan(g0)], rtol=0, atol=1e-12)
    t[...] = 255                             # nothing counted: NaN mean, zero gradient
    v, g = loss.value_and_grad(x, t)
    v0, g0 = _term_by_term(monkeypatch, loss, x, t)
    np.testing.assert_array_equal([v, *g.ravel()], [v0, *g0.ravel()])


def test_float32_gradient_beyond_float32_range_runs_in_float64(monkeypatch):
    # smooth 0 and a class neither predicted nor present: dL/dI ~ 1 / P, P ~ 1e-40
    x, t, _ = _data(np.float32)
    x[:, 4] = -95.0
    t[t == 4] = 0
    loss = CrossEntropyLoss(ignore_index=255) + DiceLoss(ignore_index=255, smooth=0.0,
                                                         per_image=True)
    fits = []
    check = dice_module._fits_float32
    monkeypatch.setattr(dice_module, "_fits_float32", lambda *a: fits.append(check(*a))
                        or fits[-1])
    got = loss.value_and_grad(x, t)
    assert fits == [False]                   # the gradient pass ran in float64
    want = _term_by_term(monkeypatch, loss, x, t)
    assert np.isfinite(got[1]).all() and got[1].dtype == np.float32
    _close(got, want, np.float32)


def test_registry_pairs_fuse():
    """Every loss whose spec describes a softmax term fuses with every Dice-family loss over
    a softmax, by the registry alone."""
    soft = [cls for cls in LOSSES if cls.spec.softmax_term is not None]
    dice = [cls for cls in LOSSES if cls.spec.adds_softmax_term(
        {"mode": "multiclass", "from_logits": True})]
    assert soft and dice
    for a in soft:
        for b in dice:
            assert _fused.pair(list((a() + b()).terms)) == (0, 1)
