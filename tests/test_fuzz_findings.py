"""Defects the property-based fuzzer (tests/test_fuzz_*.py) found that are not fixed yet,
each as its minimal reproducer, xfail(strict=True): a fix makes the test pass, strict
turns that into a failure, and whoever fixes it deletes the xfail mark and the matching
"Known gap" exclusion in the fuzzer (grep "Known gap" tests/test_fuzz_*.py)."""
import numpy as np
import pytest

import onnxlosses as ol


def gap(reason):
    return pytest.mark.xfail(strict=True, reason=reason)


@gap("sigmoid focal with class-index targets never refuses C = 0: the target scan's "
     "precondition C >= 1 is broken (a uint8 bound of C - 1 wraps to 255 and every target "
     "passes) and an empty batch passes as is")
@pytest.mark.parametrize("n, dtype", [(1, np.uint8), (0, np.int16)])
def test_sigmoid_focal_index_targets_refuse_zero_classes(n, dtype):
    with pytest.raises(ValueError, match="input|class"):
        ol.SigmoidFocalLoss(reduction="mean")(np.zeros((n, 0), np.float32),
                                             np.zeros(n, dtype))


@gap("reduced_threshold=1.0: in float32 p_t rounds to 1 for logits beyond ~17, so p_t < thr "
     "fails and the focal term is 0 instead of 1; with normalized=True the float32 value is "
     "2x the float64 one on the same data")
def test_sigmoid_focal_reduced_threshold_one_does_not_depend_on_dtype():
    loss = ol.SigmoidFocalLoss(reduced_threshold=1.0, normalized=True, reduction="sum")
    x, y = np.array([0.0, 20.0]), np.array([1.0, 1.0])
    v32 = loss(x.astype(np.float32), y.astype(np.float32))
    v64 = loss(x, y)
    np.testing.assert_allclose(v32, v64, rtol=1e-5)


@gap("the Dice family's gradient coefficients go through np.nan_to_num: a NaN input gives a "
     "finite gradient beside a NaN value")
def test_dice_gradient_of_a_nan_input_is_nan():
    x = np.array([[[np.nan], [0.5]]])
    value, grad = ol.DiceLoss(from_logits=False).value_and_grad(x, np.array([[0]]))
    assert np.isnan(value)
    assert np.isnan(grad).all()


@gap("the Dice family's gradient coefficients go through np.nan_to_num: grad_output=NaN "
     "gives a zero gradient, grad_output=inf a gradient of +-4e307")
@pytest.mark.parametrize("go", [np.nan, np.inf])
def test_dice_gradient_of_a_nonfinite_grad_output_is_not_finite(go):
    x, t = np.array([[1.0, 0.5]]), np.array([0])
    _, grad = ol.TverskyLoss().value_and_grad(x, t, grad_output=go)
    assert not np.isfinite(grad).any()


@gap("GeneralizedDiceLoss indexes with classes before checking them: IndexError")
def test_generalized_dice_classes_out_of_range_is_a_value_error():
    x, t = np.zeros((2, 3, 4)), np.zeros((2, 4), np.int64)
    with pytest.raises(ValueError, match="classes"):
        ol.GeneralizedDiceLoss(classes=(0, 3))(x, t)


@gap("GeneralizedDiceLoss never checks weight's length: NumPy's broadcast error, or a "
     "length-1 weight silently applied to every class")
@pytest.mark.parametrize("weight", [[1.0, 2.0], [2.0]])
def test_generalized_dice_weight_of_the_wrong_length_is_refused(weight):
    x, t = np.zeros((2, 3, 4)), np.zeros((2, 4), np.int64)
    with pytest.raises(ValueError, match="weight"):
        ol.GeneralizedDiceLoss(weight=weight)(x, t)


@gap("GeneralizedDiceLoss accepts (and documents) log_loss and absent, and ignores them")
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


@gap("the Dice family's choice parameters test `value not in options`: an array raises "
     "NumPy's 'truth value of an array is ambiguous', which names no parameter")
@pytest.mark.parametrize("name", ["mode", "absent"])
def test_dice_choice_parameters_refuse_arrays_by_name(name):
    with pytest.raises((ValueError, TypeError), match=name):
        ol.DiceLoss(**{name: np.array(["a", "b"])})


@gap("parity.check exports with ndim only, and a scalar alpha cannot be exported without a "
     "fixed C: the report says to_onnx errored for a valid loss")
def test_parity_check_of_focal_with_a_scalar_alpha():
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    report = ol.parity.check(ol.FocalLoss(alpha=0.25), x, np.array([0, 2]),
                             ["CPUExecutionProvider"])
    assert report.ok, report.table()


@gap("reduction='none' with classes= and absent='skip' drops the classes absent from every "
     "sample: the output's shape depends on the data (classes=None keeps them as NaN, and "
     "to_onnx declares (len(classes),))")
def test_dice_none_with_classes_has_a_fixed_shape():
    x, t = np.zeros((2, 3, 4)), np.zeros((2, 4), np.int64)    # classes 1, 2 absent
    loss = ol.DiceLoss(reduction="none", absent="skip", classes=[0, 1, 2])
    assert loss(x, t).shape == (3,)


@gap("defect 5 was fixed in the kernel only: the exported Tversky gradient for gamma < 1 is "
     "NaN where 1 - s <= 0 (here s = 2 with smooth_dr=0), and parity.check reports a failure")
def test_exported_tversky_gradient_for_gamma_below_one_is_finite():
    import onnxruntime as ort
    loss = ol.TverskyLoss(smooth_dr=0.0, gamma=0.75)
    x, t = np.array([[0.5]], np.float32), np.array([[0.6367]], np.float32)
    model = loss.to_onnx(dtype="float32", target_dtype="float32", ndim=2, grad=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    _, grad = sess.run(None, {"input": x, "target": t})
    np.testing.assert_array_equal(grad, loss.value_and_grad(x, t)[1])


@gap("parity's max abs / grad abs columns drop NaN differences (0.0 if isnan): a path that "
     "returns NaN where the oracle is finite shows 0.00e+00 beside status 'fail'")
def test_parity_table_shows_a_nan_mismatch():
    loss = ol.TverskyLoss(smooth_dr=0.0, gamma=0.75)
    x, t = np.array([[0.5]], np.float32), np.array([[0.6367]], np.float32)
    report = ol.parity.check(loss, x, t, ["CPUExecutionProvider"])
    row = next(r for r in report.results if r.path.startswith("onnxruntime"))
    assert row.status == "fail"
    assert not row.grad_max_abs == 0.0


@gap("a NaN class probability in a class of weight 0 is skipped with the class: a finite "
     "loss where PyTorch (and NaN in, NaN out) gives NaN")
def test_nan_probability_in_a_zero_weight_class_is_nan():
    x, q = np.array([[0.3, 0.1]]), np.array([[np.nan, 0.5]])
    assert np.isnan(ol.CrossEntropyLoss(weight=[0.0, 1.0])(x, q))


@gap("GeneralizedDiceLoss differentiates through the eps clamp of its denominator: where "
     "sum w (P + T) + smooth_dr < eps the gradient keeps a dP term the clamped value has not")
def test_generalized_dice_gradient_where_eps_clamps():
    from helpers import central_difference
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((1, 1, 3)), np.array([[[0.0, 1.0, 1.0]]])
    loss = ol.GeneralizedDiceLoss(mode="binary", eps=50.0, weighting="uniform")
    _, grad = loss.value_and_grad(x, t)
    np.testing.assert_allclose(grad, central_difference(lambda z: float(loss(z, t)), x),
                               atol=1e-7)


@gap("out= that shares memory with mask= is neither refused nor handled: the kernel reads "
     "the mask after writing the gradient over it (wrong value and gradient)")
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
