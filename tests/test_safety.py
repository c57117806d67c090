"""No input crashes the process, reads or writes outside its operands, or returns a wrong
number: the defects an audit of the kernels found, one test each.  Expected values come from
PyTorch or from the same data laid out plainly (a contiguous copy), never from the path
under test."""
import copy
import os
import pickle
import signal
import threading
import time

import numpy as np
import pytest
import torch

import onnxlosses
from onnxlosses import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, DiceLoss, FocalLoss,
                        GeneralizedDiceLoss, JaccardLoss, NLLLoss, SigmoidFocalLoss,
                        TverskyLoss)

from helpers import cross_entropy_ref

RNG = np.random.default_rng(1234)
DICE_FAMILY = [DiceLoss, JaccardLoss, TverskyLoss, GeneralizedDiceLoss]
INDEX_LOSSES = [CrossEntropyLoss, NLLLoss, FocalLoss] + DICE_FAMILY


# -- class-index targets are range-checked for every loss --------------------------------
@pytest.mark.parametrize("cls", INDEX_LOSSES, ids=lambda c: c.__name__)
@pytest.mark.parametrize("bad", [3, 255, 100000, -1, 2 ** 40])
def test_out_of_range_index_target_raises(cls, bad):
    x = np.zeros((2, 3, 4), np.float32)
    t = np.zeros((2, 4), np.int64)
    t[1, 2] = bad
    with pytest.raises(ValueError, match=rf"target has 1 value outside \[0, 3\).*e\.g\. {bad}"):
        cls()(x, t)
    out = np.zeros((3, 3, 4), np.float32)
    with pytest.raises(ValueError, match="target has 1 value outside"):
        cls().value_and_grad(x, t, out=out[1:])
    assert not out.any()          # nothing written before the error
    if cls not in (CrossEntropyLoss, NLLLoss) and cls is not FocalLoss:
        with pytest.raises(ValueError, match="target has 1 value outside"):
            cls().stats(x, t)


@pytest.mark.parametrize("cls", DICE_FAMILY, ids=lambda c: c.__name__)
def test_dice_void_label_ignored_or_masked(cls):
    """uint8 targets with 255 void pixels: allowed where ignored or masked out, and then
    the same as leaving those pixels out of the batch."""
    x = RNG.standard_normal((1, 3, 6))
    t = np.array([[0, 1, 255, 2, 255, 1]], np.uint8)
    keep = t[0] != 255
    plain = cls()(x[..., keep], t[..., keep])
    assert cls(ignore_index=255)(x, t) == pytest.approx(plain, rel=1e-12)
    assert cls()(x, t, mask=(t != 255)) == pytest.approx(plain, rel=1e-12)


@pytest.mark.parametrize("value", [np.iinfo(np.int64).min, -(2 ** 62), -(2 ** 63) + 1])
def test_dice_no_ignore_index_has_no_sentinel_value(value):
    """ignore_index=None ignores nothing: no int64 value stands in for 'none'."""
    x = np.zeros((1, 3, 2))
    t = np.array([[0, value]])
    with pytest.raises(ValueError, match="outside"):
        DiceLoss()(x, t)


# -- byte strides that are not a multiple of the item size; unaligned data ---------------
def _field(values, pad="u1"):
    """`values` as a field of a structured array: byte strides that are no multiple of the
    item size."""
    rec = np.zeros(values.shape, [("v", values.dtype), ("pad", pad)])
    rec["v"] = values
    return rec["v"]


def _unaligned(values):
    buf = bytearray(values.nbytes + 1)
    arr = np.ndarray(values.shape, values.dtype, buffer=buf, offset=1)
    arr[...] = values
    assert not arr.flags.aligned
    return arr


CASES = [
    (CrossEntropyLoss(label_smoothing=0.1), (5, 3, 4), "index"),
    (CrossEntropyLoss(label_smoothing=0.2), (4, 3, 5), "classprob"),
    (NLLLoss(), (5, 3), "index"),
    (FocalLoss(gamma=1.5), (4, 3, 2, 3), "index"),
    (DiceLoss(), (2, 3, 5), "index"),
    (DiceLoss(mode="multilabel"), (2, 3, 5), "dense"),
    (GeneralizedDiceLoss(per_image=True), (2, 3, 5), "index"),
    (BCEWithLogitsLoss(pos_weight=np.array([1.0, 2.0, 0.5])), (4, 3), "dense"),
    (BCELoss(), (4, 3), "prob"),
    (SigmoidFocalLoss(reduction="mean"), (4, 3, 2), "dense"),
    (SigmoidFocalLoss(reduction="sum"), (4, 3, 2), "index"),
]


def _data(shape, kind, dtype):
    x = RNG.standard_normal(shape).astype(dtype)
    if kind == "index":
        return x, RNG.integers(0, shape[1], (shape[0],) + shape[2:])
    if kind == "prob":
        return RNG.random(shape).astype(dtype), RNG.random(shape).astype(dtype)
    if kind == "classprob":
        q = RNG.random(shape)
        return x, (q / q.sum(axis=1, keepdims=True)).astype(dtype)
    return x, (RNG.random(shape) > 0.5).astype(dtype)


@pytest.mark.parametrize("make", [_field, _unaligned], ids=["odd-strides", "unaligned"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss,shape,kind", CASES, ids=lambda c: repr(c) if
                         isinstance(c, onnxlosses._base.Loss) else None)
def test_odd_strides_and_unaligned_arrays_give_the_plain_result(loss, shape, kind, dtype,
                                                                make):
    x, t = _data(shape, kind, dtype)
    value, grad = loss.value_and_grad(x, t)
    xo = make(x)
    to = make(t) if t.dtype.kind == "f" or make is _unaligned else _field(t, "u1")
    np.testing.assert_array_equal(loss(xo, to), loss(x, t))
    # the gradient written into an out= of the same odd kind, inside a bigger record
    rec = np.zeros(x.shape[::-1], [("g", x.dtype), ("tag", "u1")])
    rec["tag"] = 7
    out = rec["g"].T[::-1]            # odd strides, reversed: the kernel must not walk it
    v2, g2 = loss.value_and_grad(xo, to, out=out)
    assert g2 is out
    np.testing.assert_array_equal(v2, value)
    np.testing.assert_array_equal(out[::-1], grad[::-1])
    assert (rec["tag"] == 7).all()    # the neighbouring field is untouched


def test_structured_field_cross_entropy_matches_reference():
    rec = np.zeros((6, 3), [("x", "<f4"), ("pad", "u1")])
    rec["x"] = RNG.standard_normal((6, 3))
    t = np.array([0, 1, 2, 0, 1, 2])
    ref = cross_entropy_ref(rec["x"].astype(np.float64), t)
    assert onnxlosses.cross_entropy(rec["x"], t) == pytest.approx(ref, rel=1e-6)


def test_bce_negative_stride_structured_out_is_written_in_place_only():
    buf = np.zeros(4000, [("g", "<f4"), ("tag", "u1")])
    buf["tag"] = 9
    out = buf["g"][::-1]
    _, g = BCEWithLogitsLoss().value_and_grad(np.zeros(4000, np.float32),
                                              np.ones(4000, np.float32), out=out)
    assert g is out
    np.testing.assert_allclose(buf["g"], -0.5 / 4000, rtol=1e-6)
    assert (buf["tag"] == 9).all()


NONE_CASES = [
    (CrossEntropyLoss(reduction="none", label_smoothing=0.1), (4, 3, 5), "index"),
    (CrossEntropyLoss(reduction="none"), (4, 3, 5), "classprob"),
    (NLLLoss(reduction="none"), (6, 4), "index"),
    (FocalLoss(reduction="none", gamma=0.5), (4, 3, 5), "index"),
    (BCEWithLogitsLoss(reduction="none"), (4, 3), "dense"),
    (SigmoidFocalLoss(), (4, 3, 2), "dense"),
    (DiceLoss(reduction="none", per_image=True), (2, 3, 5), "index"),
]


@pytest.mark.parametrize("make", [_field, _unaligned], ids=["odd-strides", "unaligned"])
@pytest.mark.parametrize("loss,shape,kind", NONE_CASES, ids=repr)
def test_odd_layout_grad_output_gives_the_plain_gradient(loss, shape, kind, make):
    x, t = _data(shape, kind, np.float32)
    go = RNG.random(np.shape(loss(x, t))).astype(np.float32)
    want = loss.value_and_grad(x, t, grad_output=go)[1]
    got = loss.value_and_grad(x, t, grad_output=make(go))[1]
    np.testing.assert_array_equal(got, want)


def test_out_overlapping_grad_output_gives_the_plain_gradient():
    """Writing the gradient into the buffer grad_output came in (shifted): the kernel reads
    grad_output tile by tile, so it must not write there meanwhile."""
    x = np.linspace(-3, 3, 4096, dtype=np.float32)
    loss = BCEWithLogitsLoss(reduction="none")
    buf = np.arange(4097, dtype=np.float32) / 4096
    want = loss.value_and_grad(x, np.ones_like(x), grad_output=buf[:-1].copy())[1]
    got = loss.value_and_grad(x, np.ones_like(x), grad_output=buf[:-1], out=buf[1:])[1]
    np.testing.assert_array_equal(got, want)
    xc = RNG.standard_normal((8, 3, 64)).astype(np.float32)
    tc = RNG.integers(0, 3, (8, 64))
    ce = CrossEntropyLoss(reduction="none")
    buf = RNG.random(8 * 3 * 64).astype(np.float32)
    want = ce.value_and_grad(xc, tc, grad_output=buf[1:513].reshape(8, 64).copy())[1]
    got = ce.value_and_grad(xc, tc, grad_output=buf[1:513].reshape(8, 64),
                            out=buf.reshape(8, 3, 64))[1]
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("out", [
    np.lib.stride_tricks.as_strided(np.zeros(3), (3, 3), (8, 0), writeable=True),
    np.lib.stride_tricks.as_strided(np.zeros(5), (3, 3), (8, 8), writeable=True),
], ids=["zero-stride", "interleaved"])
def test_self_overlapping_out_is_refused(out):
    x = RNG.standard_normal((3, 3))
    with pytest.raises(ValueError, match="out must not overlap itself"):
        CrossEntropyLoss().value_and_grad(x, np.array([0, 1, 2]), out=out)


def test_out_sharing_memory_with_the_target_is_refused():
    x = RNG.standard_normal((3, 4))
    buf = np.zeros((2, 3, 4))
    buf[1] = RNG.random((3, 4))
    with pytest.raises(ValueError, match="out must not share memory with target"):
        BCEWithLogitsLoss().value_and_grad(x, buf[1], out=buf[1])


# -- gamma, Tversky, Dice gradients --------------------------------------------------------
@pytest.mark.parametrize("gamma", [2.0 ** 31, 1e10, 1e39])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_gamma_gives_finite_limits(gamma, dtype):
    x = RNG.standard_normal((4, 3)).astype(dtype)
    t = np.array([0, 1, 2, 1])
    y = (x > 0).astype(dtype)
    for loss, target in [(FocalLoss(gamma=gamma), t),
                         (SigmoidFocalLoss(gamma=gamma, reduction="sum"), y)]:
        value, grad = loss.value_and_grad(x, target)
        # (1 - p_t)^gamma underflows to 0 for every p_t > 0: loss and gradient are 0
        assert value == 0 and np.all(grad == 0), loss


def _tversky_torch(x, t, alpha, beta, gamma, smooth=1.0):
    """(1 - s)^gamma per class, mean over classes, softmax probabilities, squared sums, in
    PyTorch autograd: the documented formula with its clamp at 0."""
    xt = torch.tensor(x, requires_grad=True)
    p = torch.softmax(xt, 1)
    y = torch.nn.functional.one_hot(torch.tensor(t), x.shape[1]).movedim(-1, 1).double()
    dims = (0,) + tuple(range(2, x.ndim))
    inter = (p * y).sum(dims)
    fp = (p * p).sum(dims) - inter
    fn = (y * y).sum(dims) - inter
    s = (inter + smooth) / (inter + alpha * fp + beta * fn + smooth)
    loss = torch.clamp(1 - s, min=0) ** gamma
    value = loss.mean()
    value.backward()
    return value.item(), xt.grad.numpy()


def test_tversky_gamma_below_one_gradient_matches_autograd():
    x = np.array([[3.0, 0, 0], [0, 3.0, 0]])
    t = np.array([0, 1])
    value, grad = TverskyLoss(squared=True, alpha=0.5, beta=0.1, gamma=0.75) \
        .value_and_grad(x, t)
    ref_value, ref_grad = _tversky_torch(x, t, 0.5, 0.1, 0.75)
    assert value == pytest.approx(ref_value, rel=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-15)
    assert np.all(np.isfinite(grad))


def _dice_multilabel_torch(x, t):
    """per-image squared Dice, smooth 0, sigmoid, mean over (N, C), in PyTorch float64."""
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    p = torch.sigmoid(xt)
    y = torch.tensor(t, dtype=torch.float64)
    dims = tuple(range(2, x.ndim))
    s = 2 * (p * y).sum(dims) / ((p * p).sum(dims) + (y * y).sum(dims))
    (1 - s).mean().backward()
    return xt.grad.numpy()


def test_dice_float32_gradient_does_not_overflow():
    x = np.array([[[10.0]], [[-60.0]]], np.float32)
    t = np.array([[[1.0]], [[0.0]]], np.float32)
    loss = DiceLoss(mode="multilabel", smooth=0.0, per_image=True, squared=True)
    _, grad = loss.value_and_grad(x, t)
    assert grad.dtype == np.float32
    np.testing.assert_allclose(grad, _dice_multilabel_torch(x, t), rtol=1e-5, atol=1e-30)


# -- empty batches, zero weight -------------------------------------------------------------
@pytest.mark.parametrize("cls", DICE_FAMILY, ids=lambda c: c.__name__)
def test_dice_family_empty_batch(cls):
    """Per image, an empty batch has no scores to average: NaN.  Pooled, the formula on
    zero sums: (0 + smooth) / (0 + smooth) = 1, loss 0."""
    x = np.zeros((0, 3, 4))
    t = np.zeros((0, 4), np.int64)
    value, grad = cls(per_image=True).value_and_grad(x, t)
    assert np.isnan(value) and grad.shape == x.shape
    value, grad = cls(per_image=False).value_and_grad(x, t)
    assert value == 0 and grad.shape == x.shape


def test_cross_entropy_zero_target_weight_with_smoothing_is_nan_like_pytorch():
    w = np.array([0.0, 1.0, 1.0])
    x = RNG.standard_normal((3, 3))
    t = np.array([0, 0, 0])
    loss = CrossEntropyLoss(weight=w, label_smoothing=0.1)
    ref = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(t),
                                            weight=torch.tensor(w), label_smoothing=0.1)
    assert np.isnan(ref.item()) and np.isnan(loss(x, t))
    assert np.isnan(loss.stats(x, t).value())


# -- statistics of different class counts --------------------------------------------------
def test_stats_of_different_class_counts_do_not_mix():
    loss = DiceLoss()
    s3 = loss.stats(RNG.standard_normal((1, 3, 4)), np.array([[0, 1, 2, 0]]))
    s1 = loss.stats(RNG.standard_normal((1, 1, 4)), np.zeros((1, 4), np.int64))
    with pytest.raises(ValueError, match="C=3 and C=1 classes"):
        s3 + s1
    with pytest.raises(ValueError, match="C=3 and C=1 classes"):
        s3.merge_tiles(s1)
    with pytest.raises(ValueError, match="total must be statistics of inputs with the "
                                         "input's C=3 classes, got statistics of C=1"):
        loss.value_and_grad(RNG.standard_normal((1, 3, 4)), np.array([[0, 1, 2, 0]]), total=s1)
    ce = CrossEntropyLoss()
    with pytest.raises(ValueError, match="classes"):
        ce.stats(np.zeros((2, 3)), np.array([0, 1])) + ce.stats(np.zeros((2, 4)), np.array([0, 3]))


# -- copies keep parameters read-only ------------------------------------------------------
@pytest.mark.parametrize("loss,name", [(CrossEntropyLoss(weight=[1.0, 2.0]), "weight"),
                                       (FocalLoss(alpha=[0.5, 1.0]), "alpha"),
                                       (BCEWithLogitsLoss(pos_weight=[2.0]), "pos_weight"),
                                       (DiceLoss(weight=[1.0, 3.0]), "weight")])
@pytest.mark.parametrize("how", ["pickle0", "pickle2", "pickle4", "deepcopy", "copy"])
def test_copies_keep_arrays_read_only(loss, name, how):
    if how.startswith("pickle"):
        again = pickle.loads(pickle.dumps(loss, protocol=int(how[-1])))
    else:
        again = getattr(copy, how)(loss)
    arr = getattr(again, name)
    assert not arr.flags.writeable
    with pytest.raises(ValueError):
        arr[0] = -5.0
    assert repr(again) == repr(loss)


# -- clear errors naming the argument -------------------------------------------------------
@pytest.mark.parametrize("call,exc,match", [
    (lambda: FocalLoss()(np.float32(1.0), np.int64(0)), ValueError, "input must be"),
    (lambda: DiceLoss(mode="binary")(np.float32(1.0), np.float32(0.0)), ValueError,
     "input must be"),
    (lambda: CrossEntropyLoss(ignore_index=2 ** 70), ValueError, "ignore_index must fit"),
    (lambda: DiceLoss(ignore_index=-2 ** 64), ValueError, "ignore_index must fit"),
    (lambda: BCELoss(weight=[1.0, -1.0]), ValueError, r"weight must be finite and >= 0, got -1.0"),
    (lambda: BCEWithLogitsLoss(pos_weight=np.nan), ValueError, "pos_weight must be finite"),
    (lambda: BCEWithLogitsLoss(pos_weight=[1 + 2j]), TypeError, "pos_weight must be a real"),
    (lambda: BCEWithLogitsLoss(weight="abc"), TypeError, "weight must be a real array"),
    (lambda: GeneralizedDiceLoss()(np.zeros((1, 0, 4)), np.zeros((1, 4), np.int64)),
     ValueError, "input must have at least one class"),
    (lambda: DiceLoss()(np.zeros((1, 0, 4)), np.zeros((1, 4), np.int64)),
     ValueError, "input must have at least one class"),
])
def test_clear_errors(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


@pytest.mark.parametrize("loss,x,t", [
    (CrossEntropyLoss(), np.zeros((2, 3)), np.array([0, 1])),
    (BCELoss(), np.full(3, 0.5), np.ones(3)),
    (SigmoidFocalLoss(reduction="mean"), np.zeros(3), np.ones(3)),
    (DiceLoss(), np.zeros((1, 3, 2)), np.array([[0, 1]])),
    (GeneralizedDiceLoss(), np.zeros((1, 3, 2)), np.array([[0, 1]])),
], ids=lambda v: type(v).__name__ if isinstance(v, onnxlosses._base.Loss) else "")
@pytest.mark.parametrize("go,exc", [(1j, TypeError), ("a", TypeError), (True, TypeError),
                                    (np.array(["x"], object)[0], TypeError),
                                    (np.ones(3), ValueError)])
def test_bad_scalar_grad_output_names_it(loss, x, t, go, exc):
    with pytest.raises(exc, match="grad_output must be"):
        loss.value_and_grad(x, t, grad_output=go)


@pytest.mark.parametrize("loss,x,t,shape", [
    (CrossEntropyLoss(reduction="none"), np.zeros((2, 3)), np.array([0, 1]), (2,)),
    (BCELoss(reduction="none"), np.full(3, 0.5), np.ones(3), (3,)),
    (DiceLoss(reduction="none"), np.zeros((1, 3, 2)), np.array([[0, 1]]), (3,)),
], ids=["ce", "bce", "dice"])
@pytest.mark.parametrize("dtype", [np.complex128, np.bool_, object, "U1"])
def test_bad_array_grad_output_names_it(loss, x, t, shape, dtype):
    go = np.zeros(shape, dtype)
    with pytest.raises(TypeError, match="grad_output must be a float array"):
        loss.value_and_grad(x, t, grad_output=go)


# -- what is and is not bit-reproducible ---------------------------------------------------
def _ulps(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return float(np.max(np.abs(a.astype(np.float64) - b) / np.spacing(np.abs(a))))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss,shape,kind", CASES[:4] + CASES[6:], ids=repr)
def test_reproducibility_guarantee(loss, shape, kind, dtype):
    """Same call, any thread count: the same bits.  Another memory layout of the input or of
    out=, or forward against value_and_grad: the same number up to the order of the float64
    sums (float32 results within 1 ulp; float64 within 64 ulp)."""
    x, t = _data(shape, kind, dtype)
    value = loss(x, t)
    with onnxlosses.threads(1):
        one = loss.value_and_grad(x, t)
    with onnxlosses.threads(2):
        two = loss.value_and_grad(x, t)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    bound = 1 if dtype == np.float32 else 64
    assert _ulps(value, one[0]) <= bound
    xf = np.asfortranarray(x)
    out = np.zeros_like(x)[::-1]
    assert _ulps(value, loss(xf, t)) <= bound
    assert _ulps(value, loss.value_and_grad(xf, t, out=out)[0]) <= bound


# -- Ctrl-C ---------------------------------------------------------------------------------
def test_ctrl_c_during_a_call_arrives_when_it_returns():
    """A kernel runs to its end without the GIL; SIGINT raised meanwhile becomes
    KeyboardInterrupt once the call returns, and the library stays usable."""
    x = RNG.standard_normal((4, 21, 96, 96)).astype(np.float32)
    t = RNG.integers(0, 21, (4, 96, 96)).astype(np.uint8)
    loss = CrossEntropyLoss()
    expected = loss(x, t)
    timer = threading.Timer(0.002, os.kill, (os.getpid(), signal.SIGINT))
    # Python's own handler, whatever this process inherited (a shell starts a background
    # job with SIGINT ignored, and Python then installs none)
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    # calls until the signal lands inside one of them (a fixed number of calls could all
    # end before a loaded machine runs the timer's thread); a signal that never arrives
    # fails the test at the deadline
    deadline = time.monotonic() + 60
    try:
        with pytest.raises(KeyboardInterrupt):
            timer.start()
            while time.monotonic() < deadline:
                loss.value_and_grad(x, t)
    finally:
        timer.join()
        signal.signal(signal.SIGINT, inherited)
    assert loss(x, t) == expected


# -- found by the property-based fuzzer ------------------------------------------------------
def test_sigmoid_focal_index_targets_refuse_zero_classes():
    with pytest.raises(ValueError, match="at least one class"):
        SigmoidFocalLoss(reduction="mean")(np.zeros((1, 0), np.float32), np.zeros(1, np.uint8))


def test_dice_gradient_of_a_nan_input_is_nan_where_autograd_says():
    """NaN in, NaN out: the NaN probability's class has a NaN gradient (it was made finite
    by nan_to_num); the other class's gradient is what autograd of the formula gives."""
    x = np.array([[[np.nan], [0.5]]])
    value, grad = DiceLoss(from_logits=False).value_and_grad(x, np.array([[0]]))
    p = torch.tensor(x, requires_grad=True)
    y = torch.tensor([[[1.0], [0.0]]], dtype=torch.float64)
    s = (2 * (p * y).sum((0, 2)) + 1) / (p.sum((0, 2)) + y.sum((0, 2)) + 1)
    (1 - s).mean().backward()
    assert np.isnan(value)
    np.testing.assert_array_equal(np.isnan(grad), np.isnan(p.grad.numpy()))
    np.testing.assert_allclose(grad[~np.isnan(grad)], p.grad.numpy()[~np.isnan(grad)],
                               rtol=1e-12)


@pytest.mark.parametrize("go", [np.nan, np.inf])
def test_dice_gradient_of_a_nonfinite_grad_output_is_not_finite(go):
    x, t = np.array([[1.0, 0.5]]), np.array([0])
    _, grad = TverskyLoss().value_and_grad(x, t, grad_output=go)
    assert not np.isfinite(grad).any()


def test_generalized_dice_classes_out_of_range_is_a_value_error():
    with pytest.raises(ValueError, match=r"classes must lie in \[0, 3\)"):
        GeneralizedDiceLoss(classes=(0, 3))(np.zeros((2, 3, 4)), np.zeros((2, 4), np.int64))


@pytest.mark.parametrize("weight", [[1.0, 2.0], [2.0]])
def test_generalized_dice_weight_of_the_wrong_length_is_refused(weight):
    with pytest.raises(ValueError, match="weight must have one value per class"):
        GeneralizedDiceLoss(weight=weight)(np.zeros((2, 3, 4)), np.zeros((2, 4), np.int64))


@pytest.mark.parametrize("param", [dict(log_loss=True), dict(absent="skip")])
def test_generalized_dice_takes_no_per_class_options(param):
    with pytest.raises(TypeError, match="unexpected keyword"):
        GeneralizedDiceLoss(**param)


@pytest.mark.parametrize("name", ["mode", "absent"])
def test_dice_choice_parameters_refuse_arrays_by_name(name):
    with pytest.raises(ValueError, match=name):
        DiceLoss(**{name: np.array(["a", "b"])})


def test_dice_none_with_classes_has_a_fixed_shape():
    x, t = np.zeros((2, 3, 4)), np.zeros((2, 4), np.int64)    # classes 1, 2 absent
    value = DiceLoss(reduction="none", absent="skip", classes=[0, 1, 2])(x, t)
    assert value.shape == (3,) and np.isnan(value[1:]).all()


def test_exported_tversky_gradient_for_gamma_below_one_matches_the_kernel():
    import onnxruntime as ort
    loss = TverskyLoss(smooth_dr=0.0, gamma=0.75)
    x, t = np.array([[0.5]], np.float32), np.array([[0.6367]], np.float32)
    model = loss.to_onnx(dtype="float32", target_dtype="float32", ndim=2, grad=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    _, grad = sess.run(None, {"input": x, "target": t})
    np.testing.assert_array_equal(grad, loss.value_and_grad(x, t)[1])


def test_dice_log_loss_gradient_of_a_nan_input_is_nan():
    x = np.array([[[np.nan], [0.5]]])
    value, grad = DiceLoss(from_logits=False, log_loss=True, eps=1e-7).value_and_grad(
        x, np.array([[0]]))
    assert np.isnan(value) and np.isnan(grad[0, 0, 0])
