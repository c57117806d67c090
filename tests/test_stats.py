"""Sufficient statistics: shards add up to the loss of the whole batch, value and gradient."""
import pickle

import numpy as np
import pytest

from onnxlosses import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, DiceLoss, FocalLoss,
                        GeneralizedDiceLoss, JaccardLoss, NLLLoss, SigmoidFocalLoss,
                        TverskyLoss)
from onnxlosses.stats import LossStats

W = np.array([0.5, 2.0, 1.0, 1.5])


def _batch(kind, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((7, 4, 5, 3)) * 2
    if kind == "index":
        t = rng.integers(0, 4, (7, 5, 3)).astype(np.uint8)
        t[rng.random(t.shape) < 0.2] = 255
        t[2] = 255                                  # one sample entirely ignored
        return x, t
    if kind == "probs":
        return 1 / (1 + np.exp(-x)), rng.random(x.shape)
    return x, (rng.random(x.shape) < 0.4).astype(np.float64)


LOSSES = {
    "ce-weight-smoothing": (CrossEntropyLoss(weight=W, ignore_index=255, label_smoothing=0.1),
                            "index"),
    "ce-sum": (CrossEntropyLoss(ignore_index=255, reduction="sum"), "index"),
    "nll": (NLLLoss(weight=W, ignore_index=255), "index"),
    "focal": (FocalLoss(alpha=W, gamma=2.0, ignore_index=255), "index"),
    "bce": (BCELoss(), "probs"),
    "bce-logits": (BCEWithLogitsLoss(pos_weight=np.array([2.0, 1.0, 0.5])), "dense"),
    "sigmoid-focal": (SigmoidFocalLoss(reduction="mean", ignore_index=255), "index"),
    "sigmoid-focal-normalized": (SigmoidFocalLoss(reduction="sum", normalized=True), "dense"),
    # the presets' internal switches: the mean over elements (MONAI's softmax focal) and over
    # positions (smp's multiclass focal), which the statistics' denominator must carry
    "focal-mean-over-elements": (FocalLoss._from_config(dict(
        alpha=0.3, _alpha0=0.7, ignore_index=255, _mean_over="elements")), "index"),
    "sigmoid-focal-mean-over-positions": (SigmoidFocalLoss._from_config(dict(
        reduction="mean", normalized=True, ignore_index=255, _mean_over="positions")),
        "index"),
    "dice-pooled": (DiceLoss(ignore_index=255), "index"),
    "dice-per-image-weighted": (DiceLoss(ignore_index=255, per_image=True, weight=W,
                                         absent="skip"), "index"),
    "jaccard-smp": (JaccardLoss.preset("smp", ignore_index=255), "index"),
    "tversky": (TverskyLoss(alpha=0.3, beta=0.7, gamma=2.0, ignore_index=255), "index"),
    "generalized-per-image": (GeneralizedDiceLoss(per_image=True, ignore_index=255,
                                                  smooth=1e-5), "index"),
}
SPLITS = [slice(0, 2), slice(2, 3), slice(3, 7)]     # uneven, one all-ignored shard


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_shards_add_up_to_the_whole_batch(name):
    loss, kind = LOSSES[name]
    x, t = _batch(kind)
    shards = [loss.stats(x[s], t[s]) for s in SPLITS]
    total = sum(shards)
    assert isinstance(total, LossStats)
    whole = loss(x, t)
    np.testing.assert_allclose(total.value(), whole, rtol=1e-12)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(total)).value(), whole, rtol=1e-12)
    assert all(np.all(np.isfinite(v)) for s in shards for v in s.parts.values())
    # the gradient of the global loss, shard by shard, is the whole batch's gradient
    _, g_whole = loss.value_and_grad(x, t)
    parts = [loss.value_and_grad(x[s], t[s], total=total) for s in SPLITS]
    for value, _ in parts:
        np.testing.assert_allclose(value, whole, rtol=1e-12)
    np.testing.assert_allclose(np.concatenate([g for _, g in parts]), g_whole,
                               rtol=1e-10, atol=1e-15)


def test_micro_batch_accumulation_is_not_the_mean_of_means():
    loss = CrossEntropyLoss(weight=W, ignore_index=255)
    x, t = _batch("index", 3)
    means = np.mean([loss(x[s], t[s]) for s in SPLITS if np.any(t[s] != 255)])
    exact = sum(loss.stats(x[s], t[s]) for s in SPLITS).value()
    assert not np.isclose(means, exact)
    np.testing.assert_allclose(exact, loss(x, t), rtol=1e-12)


def test_statistics_errors():
    x, t = _batch("index")
    a = CrossEntropyLoss(ignore_index=255).stats(x, t)
    b = CrossEntropyLoss(ignore_index=255, label_smoothing=0.1).stats(x, t)
    with pytest.raises(ValueError, match=r"cannot add statistics of"):
        a + b
    with pytest.raises(ValueError, match=r"statistics exist for reduction 'mean' and 'sum'"):
        CrossEntropyLoss(reduction="none").stats(x, t)
    with pytest.raises(ValueError, match=r"total must be statistics of"):
        CrossEntropyLoss(ignore_index=255, label_smoothing=0.1).value_and_grad(x, t, total=a)
    assert "LossStats(CrossEntropyLoss(ignore_index=255)" in repr(a)


def test_ieee_divide_is_numpys_division_bit_for_bit():
    from onnxlosses.stats import ieee_divide
    values = [0.0, -0.0, 1.0, -1.0, 3.0, 1e-310, -1e308, 1e308, np.inf, -np.inf, np.nan]
    with np.errstate(all="ignore"):
        for a in values:
            for b in values:
                want = np.float64(a) / np.float64(b)
                assert np.float64(ieee_divide(a, b)).tobytes() == want.tobytes(), (a, b)
