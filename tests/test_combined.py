"""Weighted sums of losses (CombinedLoss): construction, operators, errors, statistics,
pickling, one ONNX graph.  Values and gradients of the registry's combined configurations
against the sums of the terms' float64 and PyTorch references run in test_registry.py and
test_parity.py; here the expected values are the terms' own results, each computed alone."""
import pickle

import numpy as np
import onnxruntime as ort
import pytest

import onnxlosses
from onnxlosses import (BCEWithLogitsLoss, CombinedLoss, CrossEntropyLoss, DiceLoss,
                        FocalLoss, NLLLoss)


def _batch(dtype=np.float32, seed=0, C=4):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((2, C, 6, 5)) * 2).astype(dtype)
    t = rng.integers(0, C, (2, 6, 5)).astype(np.uint8)
    t[rng.random(t.shape) < 0.1] = 255
    return x, t


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_sum_of_terms_value_and_gradient(dtype):
    x, t = _batch(dtype)
    ce, dice = CrossEntropyLoss(ignore_index=255), DiceLoss(ignore_index=255)
    loss = ce + 0.5 * dice
    v_ce, g_ce = ce.value_and_grad(x, t)
    v_d, g_d = dice.value_and_grad(x, t)
    out = np.full_like(x, np.nan)
    value, grad = loss.value_and_grad(x, t, out=out)
    assert grad is out and grad.dtype == dtype and value.dtype == dtype
    tol = dict(rtol=2e-3, atol=1e-3) if dtype == np.float16 else dict(rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.float64(value), np.float64(v_ce) + 0.5 * np.float64(v_d),
                               **tol)
    np.testing.assert_allclose(grad.astype(np.float64),
                               g_ce.astype(np.float64) + 0.5 * g_d.astype(np.float64), **tol)
    np.testing.assert_allclose(loss(x, t), value, rtol=1e-6)


def test_grad_output_scales_every_term():
    x, t = _batch(np.float64)
    ce, focal = CrossEntropyLoss(reduction="none"), FocalLoss(reduction="none")
    loss = 2.0 * ce + focal
    go = np.random.default_rng(3).random((2, 6, 5))
    value, grad = loss.value_and_grad(x, t.astype(np.int64) % 4, go)
    t64 = t.astype(np.int64) % 4
    v1, g1 = ce.value_and_grad(x, t64, go)
    v2, g2 = focal.value_and_grad(x, t64, go)
    np.testing.assert_allclose(value, 2 * v1 + v2, rtol=1e-12)
    np.testing.assert_allclose(grad, 2 * g1 + g2, rtol=1e-12, atol=1e-15)
    # no grad_output: every per-position loss counts once
    _, grad1 = loss.value_and_grad(x, t64)
    np.testing.assert_allclose(grad1, 2 * ce.value_and_grad(x, t64)[1]
                               + focal.value_and_grad(x, t64)[1], rtol=1e-12, atol=1e-15)


def test_operators_build_flat_weighted_sums():
    ce, dice, focal = CrossEntropyLoss(), DiceLoss(), FocalLoss()
    loss = ce + 0.5 * dice - focal / 4
    assert [w for w, _ in loss.terms] == [1.0, 0.5, -0.25]
    assert [type(term) for _, term in loss.terms] == [CrossEntropyLoss, DiceLoss, FocalLoss]
    assert sum([ce, dice]).terms == CombinedLoss([(1.0, ce), (1.0, dice)]).terms
    assert (-(ce + dice)).terms[1][0] == -1.0
    assert repr(ce + 0.5 * dice) == "CrossEntropyLoss() + 0.5 * DiceLoss()"
    assert isinstance(CombinedLoss([ce, (2, dice)]), onnxlosses.CombinedLoss)


@pytest.mark.parametrize("terms,exc,match", [
    ([], ValueError, "at least one"),
    ("ce", TypeError, r"sequence of \(weight, loss\) pairs"),
    ([(1.0, "ce")], TypeError, "onnxlosses loss"),
    ([(True, CrossEntropyLoss())], TypeError, "weight must be a real number"),
    ([(float("nan"), CrossEntropyLoss())], ValueError, "weight must be finite"),
    ([(1.0, CrossEntropyLoss()), (1.0, NLLLoss())], ValueError, "read the same input"),
    ([(1.0, CrossEntropyLoss(reduction="none")), (1.0, DiceLoss())], ValueError,
     "all reduce to a number or all keep"),
    ([(1.0, CrossEntropyLoss(reduction="none")), (1.0, BCEWithLogitsLoss(reduction="none"))],
     ValueError, "different shapes"),
])
def test_terms_that_do_not_fit_together_are_refused(terms, exc, match):
    with pytest.raises(exc, match=match):
        CombinedLoss(terms)


def test_no_common_class_index_targets_is_a_clear_error_at_call():
    x, t = _batch(np.float32)
    loss = CrossEntropyLoss() + BCEWithLogitsLoss()
    with pytest.raises(TypeError, match="share no class-index targets"):
        loss(x, t)
    y = np.random.default_rng(1).random(x.shape).astype(np.float32)
    y /= y.sum(axis=1, keepdims=True)      # class probabilities: both terms take them
    np.testing.assert_allclose(loss(x, y), CrossEntropyLoss()(x, y) + BCEWithLogitsLoss()(x, y),
                               rtol=1e-6)


def test_statistics_of_separately_built_losses_add():
    x, t = _batch(np.float64)
    make = lambda: CrossEntropyLoss(ignore_index=255) + 0.5 * DiceLoss(ignore_index=255)
    whole = make().stats(x, t)
    halves = make().stats(x[:1], t[:1]) + make().stats(x[1:], t[1:])
    np.testing.assert_allclose(halves.value(), whole.value(), rtol=1e-12)
    np.testing.assert_allclose(halves.value(), make()(x, t), rtol=1e-12)
    with pytest.raises(ValueError, match="cannot add statistics"):
        halves + (CrossEntropyLoss(ignore_index=255) + DiceLoss(ignore_index=255)).stats(x, t)


def test_pickles_with_its_terms():
    x, t = _batch(np.float32)
    loss = CrossEntropyLoss(weight=np.linspace(0.5, 2, 4), ignore_index=255) + 0.3 * DiceLoss(
        ignore_index=255)
    back = pickle.loads(pickle.dumps(loss))
    assert repr(back) == repr(loss)
    assert back(x, t) == loss(x, t)


def test_one_graph_shares_the_terms_common_nodes():
    x, t = _batch(np.float32)
    t = t.astype(np.int64) % 4
    loss = CrossEntropyLoss(label_smoothing=0.1) + 0.5 * FocalLoss(gamma=2.0)
    model = loss.to_onnx(grad=True)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("LogSoftmax") == 1         # one log-softmax for both terms
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    value, grad = sess.run(None, {"input": x, "target": t})
    want_v, want_g = loss.value_and_grad(x, t)
    np.testing.assert_allclose(value, want_v, rtol=1e-5)
    np.testing.assert_allclose(grad, want_g, rtol=1e-4, atol=1e-7)
    separate = len(CrossEntropyLoss(label_smoothing=0.1).to_onnx(grad=True).graph.node) + \
        len(FocalLoss(gamma=2.0).to_onnx(grad=True).graph.node)
    assert len(ops) < separate


def test_a_preset_may_refuse_single_channel_inputs_before_any_work(monkeypatch):
    """_refuse_one_channel (a preset's switch: the library computes another loss on one
    channel) is a ValueError with its message for C = 1, before any term runs, in every
    entry point; C >= 2 is untouched."""
    terms = [(1.0, CrossEntropyLoss()), (0.5, DiceLoss())]
    loss = CombinedLoss._from_config(dict(terms=terms, _refuse_one_channel="use another"))
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((2, 1, 3, 3)), np.zeros((2, 3, 3), np.int64)

    def boom(*args, **kwargs):
        raise AssertionError("a term ran")

    with monkeypatch.context() as m:
        for _, term in terms:
            m.setattr(term, "_evaluate", boom)
        for call in (lambda: loss(x, t), lambda: loss.value_and_grad(x, t),
                     lambda: loss.stats(x, t)):
            with pytest.raises(ValueError, match=r"input has a single channel, shape "
                                                 r"\(2, 1, 3, 3\): use another"):
                call()
    x2, t2 = rng.standard_normal((2, 3, 3, 3)), rng.integers(0, 3, (2, 3, 3))
    np.testing.assert_allclose(loss(x2, t2), CombinedLoss(terms)(x2, t2), rtol=1e-15)
    assert pickle.loads(pickle.dumps(loss)).config["_refuse_one_channel"] == "use another"
    with pytest.raises(TypeError, match=r"_refuse_one_channel must be None or a message"):
        CombinedLoss._from_config(dict(terms=terms, _refuse_one_channel=True))
