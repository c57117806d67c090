"""Defects the property-based fuzzer (tests/test_fuzz_*.py) found, each as its minimal
reproducer.  Open ones are xfail(strict=True): a fix makes the test pass, strict turns that
into a failure, and whoever fixes it deletes the mark and the matching "Known gap"
exclusion in the fuzzer (grep "Known gap" tests/test_fuzz_*.py).  Fixed ones stay as plain
regression tests."""
import numpy as np
import pytest

import onnxlosses as ol
from onnxlosses.references import numpy_reference


def gap(reason):
    return pytest.mark.xfail(strict=True, reason=reason)


# -- open ------------------------------------------------------------------------------


@gap("reduced_threshold=1.0: in float32 p_t rounds to 1 for logits beyond ~17, so p_t < thr "
     "fails and the focal term is 0 instead of 1; with normalized=True the float32 value is "
     "2x the float64 one on the same data")
def test_sigmoid_focal_reduced_threshold_one_does_not_depend_on_dtype():
    loss = ol.SigmoidFocalLoss(reduced_threshold=1.0, normalized=True, reduction="sum")
    x, y = np.array([0.0, 20.0]), np.array([1.0, 1.0])
    v32 = loss(x.astype(np.float32), y.astype(np.float32))
    v64 = loss(x, y)
    np.testing.assert_allclose(v32, v64, rtol=1e-5)


@gap("parity's PyTorch path computes Tversky's (1 - s)^gamma without the clamp at 0: where "
     "s > 1 its value is wrong for gamma = 2 (0.01063 against 0.00646: squared sums, "
     "beta=0) and its gradient NaN for gamma < 1 (s = 2, smooth_dr=0); the report fails a "
     "configuration every other path agrees on")
@pytest.mark.parametrize("kw, x, t", [
    (dict(smooth_dr=0.0, gamma=0.75), np.array([[0.5]], np.float32),
     np.array([[0.6367]], np.float32)),
    (dict(squared=True, beta=0.0, gamma=2.0), np.array([[0.01257, -0.013214]]), np.array([1]))])
def test_parity_of_tversky_where_the_score_exceeds_one(kw, x, t):
    report = ol.parity.check(ol.TverskyLoss(**kw), x, t, ["CPUExecutionProvider"])
    assert report.ok, report.table()


@gap("parity's PyTorch path lets a class left out of the mean (classes=, absent='zero' or "
     "'skip') leak its infinite log_loss (smooth=0, a 0 score) into the gradient as 0 * inf: "
     "the report fails where the kernel and both graphs agree")
@pytest.mark.parametrize("kw", [dict(classes=(0,)), dict(absent="zero"), dict(absent="skip")])
def test_parity_of_dice_log_loss_with_classes_left_out(kw):
    x, t = np.array([[[0.01257], [-0.013214]]]), np.array([[0]])
    loss = ol.DiceLoss(smooth=0.0, log_loss=True, **kw)
    report = ol.parity.check(loss, x, t, ["CPUExecutionProvider"])
    assert report.ok, report.table()


@gap("the exported focal losses (and parity's PyTorch path) form 1 - p_t as 1 - exp(log p_t) "
     "and raise it with Pow: for large gamma float32 loses the result (gamma=1e4: 3.17624 "
     "against 3.17636; gamma=2^31: 1.3130 against 1.3019), where the kernel's -expm1 holds; "
     "sigmoid focal's graph gives NaN gradients at gamma=1e39 (the kernel caps gamma)")
@pytest.mark.parametrize("gamma", [1e4, 2.0 ** 31])
def test_exported_focal_loss_at_large_gamma(gamma):
    import onnxruntime as ort
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4, 3, 5)) * 8).astype(np.float32)
    t = rng.integers(0, 3, (4, 5))
    loss = ol.FocalLoss(gamma=gamma)
    sess = ort.InferenceSession(loss.to_onnx(dtype="float32", ndim=3).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    got = sess.run(None, {"input": x, "target": t})[0]
    np.testing.assert_allclose(got, loss(x.astype(np.float64), t), rtol=2e-5)


@gap("parity.check exports dense targets with the target's own dtype and the input's shape: "
     "integer targets the kernel takes are refused by to_onnx, binary Dice's (N,) targets "
     "for (N, 1) inputs fail in onnxruntime ('Invalid rank'), (N,) inputs are refused")
@pytest.mark.parametrize("x, t", [
    (np.array([[0.3], [-0.2]], np.float32), np.array([[0], [1]], np.uint8)),
    (np.array([[0.3], [-0.2]], np.float32), np.array([0.0, 1.0], np.float32)),
    (np.array([0.3, -0.2], np.float32), np.array([0.0, 1.0], np.float32))])
def test_parity_check_of_binary_dice_batches_the_kernel_takes(x, t):
    report = ol.parity.check(ol.DiceLoss(mode="binary"), x, t, ["CPUExecutionProvider"])
    assert report.ok, report.table()


@gap("a NaN probability gets a zero gradient (beside a NaN value) where its class's target "
     "is 0: the Dice family's chain-rule product drops the NaN dL/dP term there")
def test_dice_gradient_of_a_nan_probability_in_a_class_it_is_not():
    x = np.array([[np.nan, 0.3]])
    value, grad = ol.DiceLoss(from_logits=False).value_and_grad(x, np.array([1]))
    assert np.isnan(value) and np.isnan(grad[0, 0])


@gap("multiclass Dice with dense targets and ignore_index (semantics the README leaves "
     "open): the kernel gives an ignored class's logit -inf, so a pixel ignored in every class "
     "has a NaN softmax (and the loss is NaN instead of leaving the pixel out), and a partly "
     "ignored pixel's softmax is renormalized over the other classes, while the exported "
     "graph zeroes p after the softmax (0.1334 against 0.1899 below)")
def test_dice_dense_multiclass_ignore_index():
    import onnxruntime as ort
    x = np.array([[[0.5], [-0.5]], [[0.1], [0.2]]])
    t = np.array([[[1], [0]], [[255], [255]]], np.uint8)
    assert np.isfinite(ol.DiceLoss(ignore_index=255)(x, t))
    x = np.array([[[0.01257], [-0.013214], [0.064]]], np.float32)
    t = np.array([[[255], [1], [1]]], np.float32)
    loss = ol.DiceLoss(ignore_index=255)
    model = loss.to_onnx(dtype="float32", target_dtype="float32", ndim=3)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"input": x, "target": t})[0], loss(x, t),
                               rtol=1e-5)


def test_sigmoid_focal_gamma_zero_gradient_at_infinite_logits():
    """At gamma=0 the focal term is a constant: its derivative adds nothing, so an infinite
    logit gets sigma(x) - y terms (as PyTorch's autograd and BCE with logits), and with
    normalized=True a NaN logit leaves the other elements' gradients finite."""
    x, y = np.array([[np.inf, 0.5]], np.float32), np.array([[0.6367, 0.5]], np.float32)
    _, grad = ol.SigmoidFocalLoss(gamma=0.0, reduction="sum").value_and_grad(x, y)
    assert np.isfinite(grad).all()
    x = np.array([[np.nan, -0.013]], np.float32)
    _, grad = ol.SigmoidFocalLoss(gamma=0.0, normalized=True).value_and_grad(x, y)
    assert np.isfinite(grad[0, 1])


@gap("SigmoidFocalLoss(normalized=True): a NaN logit's focal term is not NaN, so the "
     "normalizer sum stays finite and reduction='none' returns finite losses beside the NaN "
     "(smp's focal_term.sum() is NaN: every element NaN)")
def test_sigmoid_focal_normalized_nan_logit_makes_the_normalizer_nan():
    loss = ol.SigmoidFocalLoss(gamma=0.5, normalized=True)
    assert np.isnan(loss(np.array([np.nan, 0.1]), np.array([0.0, 1.0]))).all()


def test_dice_mean_over_no_scored_class_has_a_zero_gradient():
    loss = ol.DiceLoss(mode="multilabel", from_logits=False, absent="skip")
    value, grad = loss.value_and_grad(np.zeros((1, 1)), np.zeros((1, 1)))
    assert np.isnan(value) and np.array_equal(grad, np.zeros((1, 1)))


def _exported_cross_entropy_of(x, t):
    import onnxruntime as ort
    model = ol.CrossEntropyLoss().to_onnx(dtype=x.dtype.name, target_dtype=t.dtype.name,
                                          ndim=x.ndim)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input": x, "target": t})[0]


def test_exported_cross_entropy_nan_logit_float64():
    """Found as a gap (onnxruntime's CPU LogSoftmax gave -46.05, log 1e-20, beside a NaN
    logit); float64 graphs now take log-softmax from elementary operators, where NaN
    propagates."""
    x = np.array([[[0.01257302], [np.nan], [0.06404227]]])
    t = np.array([[2]], np.uint8)
    assert np.isnan(ol.CrossEntropyLoss()(x, t))
    assert np.isnan(_exported_cross_entropy_of(x, t))


@gap("the exported cross-entropy turns a NaN logit into a finite loss with a probability "
     "target 0 on it: -0.0 (its 0 log 0 = 0 Where); the kernel gives NaN")
def test_exported_cross_entropy_nan_logit_probability_target_zero():
    x, t = np.array([[np.nan]], np.float32), np.array([[0.0]], np.float32)
    assert np.isnan(ol.CrossEntropyLoss()(x, t))
    assert np.isnan(_exported_cross_entropy_of(x, t))


@gap("SigmoidFocalLoss at large gamma in float32: 1 - p_t rounds to 1 where p_t < 6e-8, so "
     "the focal term is 1 instead of exp(-gamma p_t) (x=20, y=0: 15.0 at gamma 1e8 and 1e10, "
     "against 12.2 and 1.7e-8 in float64); (1 - p_t)^gamma wants exp(gamma log sigmoid(.))")
@pytest.mark.parametrize("gamma", [1e8, 1e10])
def test_sigmoid_focal_large_gamma_float32(gamma):
    loss = ol.SigmoidFocalLoss(gamma=gamma, reduction="sum")
    x, y = np.array([20.0]), np.array([0.0])
    np.testing.assert_allclose(loss(x.astype(np.float32), y.astype(np.float32)), loss(x, y),
                               rtol=1e-4)


@gap("the exported Dice gradient in float32 is NaN where it exceeds float32's range (here "
     "-1.6e41 for a subnormal probability under log_loss); the kernel, since defect 6's fix, "
     "gives -inf")
def test_exported_dice_gradient_overflow_float32():
    import onnxruntime as ort
    loss = ol.DiceLoss(mode="multilabel", from_logits=False, smooth=0.0, log_loss=True)
    x = np.full((1, 1, 1), 6.37e-42, np.float32)
    t = np.full((1, 1, 1), 0.2698, np.float32)
    model = loss.to_onnx(dtype="float32", target_dtype="float32", ndim=3, grad=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    _, grad = sess.run(None, {"input": x, "target": t})
    with np.errstate(over="ignore"):         # the kernel's float64 -> float32 cast overflows
        np.testing.assert_array_equal(grad, loss.value_and_grad(x, t)[1])


@gap("a NaN class probability in a class of weight 0 is skipped with the class: a finite "
     "loss where PyTorch (and NaN in, NaN out) gives NaN")
def test_nan_probability_in_a_zero_weight_class_is_nan():
    x, q = np.array([[0.3, 0.1]]), np.array([[np.nan, 0.5]])
    assert np.isnan(ol.CrossEntropyLoss(weight=[0.0, 1.0])(x, q))


# -- found by the fuzzer, fixed on main ------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_focal_normalized_zero_d_input_with_array_grad_output(dtype):
    """normalized=True scales a reduction "none" grad_output by 1/F: on a 0-d input that
    product was a NumPy scalar, which the kernel glue refused with a TypeError ('Cannot
    convert numpy.float64 to numpy.ndarray')."""
    loss = ol.SigmoidFocalLoss(gamma=0.5, normalized=True, reduction="none")
    x, y, go = (np.array(v, dtype) for v in (0.1, 0.0, 0.5))
    value, grad = loss.value_and_grad(x, y, go)
    assert grad.shape == ()
    want_value, want_grad = numpy_reference(loss, x.astype(np.float64), y.astype(np.float64),
                                            grad_output=go.astype(np.float64))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(value, want_value, rtol=rtol)
    np.testing.assert_allclose(grad, want_grad, rtol=rtol)


@pytest.mark.parametrize("n, dtype", [(1, np.uint8), (0, np.int16)])
def test_sigmoid_focal_index_targets_refuse_zero_classes(n, dtype):
    with pytest.raises(ValueError, match="input|class"):
        ol.SigmoidFocalLoss(reduction="mean")(np.zeros((n, 0), np.float32),
                                             np.zeros(n, dtype))


def test_dice_gradient_of_a_nan_input_is_nan_where_it_acts():
    x = np.array([[[np.nan], [0.5]]])                  # probabilities: no softmax coupling
    value, grad = ol.DiceLoss(from_logits=False).value_and_grad(x, np.array([[0]]))
    assert np.isnan(value) and np.isnan(grad[0, 0, 0]) and np.isfinite(grad[0, 1, 0])


@pytest.mark.parametrize("go", [np.nan, np.inf])
def test_dice_gradient_of_a_nonfinite_grad_output_is_not_finite(go):
    x, t = np.array([[1.0, 0.5]]), np.array([0])
    _, grad = ol.TverskyLoss().value_and_grad(x, t, grad_output=go)
    assert not np.isfinite(grad).any()


def test_generalized_dice_classes_out_of_range_is_a_value_error():
    x, t = np.zeros((2, 3, 4)), np.zeros((2, 4), np.int64)
    with pytest.raises(ValueError, match="classes"):
        ol.GeneralizedDiceLoss(classes=(0, 3))(x, t)


@pytest.mark.parametrize("weight", [[1.0, 2.0], [2.0]])
def test_generalized_dice_weight_of_the_wrong_length_is_refused(weight):
    x, t = np.zeros((2, 3, 4)), np.zeros((2, 4), np.int64)
    with pytest.raises(ValueError, match="weight"):
        ol.GeneralizedDiceLoss(weight=weight)(x, t)


@pytest.mark.parametrize("param", [dict(log_loss=True), dict(absent="skip"),
                                   dict(absent="zero")])
def test_generalized_dice_parameters_it_takes_change_something_or_are_refused(param):
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((2, 3, 4)), rng.integers(0, 2, (2, 4))
    try:
        loss = ol.GeneralizedDiceLoss(**param)
    except (ValueError, TypeError):
        return
    assert loss(x, t) != ol.GeneralizedDiceLoss()(x, t)


@pytest.mark.parametrize("name", ["mode", "absent"])
def test_dice_choice_parameters_refuse_arrays_by_name(name):
    with pytest.raises((ValueError, TypeError), match=name):
        ol.DiceLoss(**{name: np.array(["a", "b"])})


def test_parity_check_of_focal_with_a_scalar_alpha():
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    report = ol.parity.check(ol.FocalLoss(alpha=0.25), x, np.array([0, 2]),
                             ["CPUExecutionProvider"])
    assert report.ok, report.table()


def test_dice_none_with_classes_has_a_fixed_shape():
    x, t = np.zeros((2, 3, 4)), np.zeros((2, 4), np.int64)    # classes 1, 2 absent
    loss = ol.DiceLoss(reduction="none", absent="skip", classes=[0, 1, 2])
    assert loss(x, t).shape == (3,)


def test_exported_tversky_gradient_for_gamma_below_one_is_finite():
    import onnxruntime as ort
    loss = ol.TverskyLoss(smooth_dr=0.0, gamma=0.75)
    x, t = np.array([[0.5]], np.float32), np.array([[0.6367]], np.float32)
    model = loss.to_onnx(dtype="float32", target_dtype="float32", ndim=2, grad=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    _, grad = sess.run(None, {"input": x, "target": t})
    with np.errstate(over="ignore"):         # the kernel's float64 -> float32 cast overflows
        np.testing.assert_array_equal(grad, loss.value_and_grad(x, t)[1])


def test_generalized_dice_gradient_where_eps_clamps():
    from helpers import central_difference
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((1, 1, 3)), np.array([[[0.0, 1.0, 1.0]]])
    loss = ol.GeneralizedDiceLoss(mode="binary", eps=50.0, weighting="uniform")
    _, grad = loss.value_and_grad(x, t)
    np.testing.assert_allclose(grad, central_difference(lambda z: float(loss(z, t)), x),
                               atol=1e-7)


def test_out_sharing_memory_with_the_mask():
    x = np.random.default_rng(0).standard_normal((3, 2, 2)).astype(np.float32)
    t = np.ones((3, 2), np.uint8)
    raw = np.zeros(x.nbytes, np.uint8)
    mask = raw[:6].view(bool).reshape(3, 2)
    mask[:, 0] = True
    want = ol.FocalLoss(gamma=0.0).value_and_grad(x, t, mask=mask.copy())
    out = raw.view(np.float32).reshape(x.shape)
    try:
        got = ol.FocalLoss(gamma=0.0).value_and_grad(x, t, out=out, mask=mask)
    except ValueError as exc:
        assert "out" in str(exc)
        return
    assert got[0] == want[0]
    np.testing.assert_array_equal(got[1], want[1])


def test_dice_log_loss_gradient_of_a_nan_input_is_nan():
    x = np.array([[[np.nan], [0.5]]])
    value, grad = ol.DiceLoss(from_logits=False, log_loss=True).value_and_grad(
        x, np.array([[0]]))
    assert np.isnan(value) and np.isnan(grad[0, 0, 0])


@gap("the exported cross-entropy with label_smoothing divides the smoothed sum by a total class "
     "weight of 0 (every counted target in a class of weight 0) and gives +inf, where the kernel "
     "and PyTorch give NaN (their mean over zero total weight)")
def test_exported_cross_entropy_label_smoothing_zero_total_weight():
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime runs the exported graph")
    loss = ol.CrossEntropyLoss(weight=[0.72531119, 0.0], label_smoothing=0.1)
    x, t = np.array([[0.01257, -0.013214]], np.float32), np.array([1])
    assert np.isnan(loss(x, t))
    sess = ort.InferenceSession(loss.to_onnx(ndim=2).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    assert np.isnan(sess.run(None, {"input": x, "target": t})[0])

