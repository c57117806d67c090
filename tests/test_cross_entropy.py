"""Cross-entropy and NLL against PyTorch (float64 reference), the NumPy formula, finite
differences and hand calculations."""
import itertools
import zlib

import numpy as np
import pytest

from onnxlosses import CrossEntropyLoss, NLLLoss, cross_entropy, nll_loss

from onnxlosses.references import numpy_reference, torch_reference

from helpers import LAYOUTS, central_difference, cross_entropy_ref, relayout

torch = pytest.importorskip("torch", reason="PyTorch is the reference for these tests")
F = torch.nn.functional

SHAPES = {  # input shapes: 2-D to 5-D, C from 1 to a few hundred
    "2d-c7": (9, 7),
    "2d-c300": (6, 300),
    "3d-c4": (3, 4, 11),
    "4d-c5": (2, 5, 6, 7),
    "4d-c1": (2, 1, 3, 4),
    "5d-c3": (2, 3, 3, 4, 5),
}
INDEX_DTYPES = [np.uint8, np.int16, np.int32, np.int64]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-11, atol=1e-12)}


def _data(shape, dtype, seed, ignore_index, target_dtype, ignore_frac=0.2):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    C = shape[1]
    pos = (shape[0],) + shape[2:]
    t = rng.integers(0, C, pos)
    drop = rng.random(pos) < ignore_frac
    if ignore_index >= 0 or np.dtype(target_dtype).kind == "i":   # representable in dtype
        t = np.where(drop, ignore_index, t)
    return x, t.astype(target_dtype)


def _torch_ref(x, t, weight, ignore_index, reduction, eps, grad_output=None, log_probs=False,
               mask=None):
    """Value and gradient from PyTorch's own loss in float64 (onnxlosses.references)."""
    loss = NLLLoss(weight=weight, ignore_index=ignore_index, reduction=reduction) \
        if log_probs else CrossEntropyLoss(weight=weight, ignore_index=ignore_index,
                                           reduction=reduction, label_smoothing=eps)
    return torch_reference(loss, np.asarray(x, dtype=np.float64), t, mask=mask,
                           grad_output=grad_output)


def _close(actual, expected, dtype, scale=1.0):
    tol = TOL[dtype]
    np.testing.assert_allclose(np.asarray(actual, dtype=np.float64), expected,
                               rtol=tol["rtol"], atol=tol["atol"] * scale, equal_nan=True)


GRID = [
    dict(shape=s, reduction=r, weighted=w, ignore_index=ii, eps=e, dtype=d, layout=lay)
    for s, r, w, ii, e, d, lay in itertools.product(
        SHAPES, ["mean", "sum", "none"], [False, True], [-100, 255, 1], [0.0, 0.3],
        [np.float32, np.float64], LAYOUTS)
    # keep the grid fast: every layout with every shape and reduction, the rest rotating
    if zlib.crc32(repr((s, r, w, ii, e)).encode()) % 3 == LAYOUTS.index(lay) % 3
]


def _id(case):
    return (f"{case['shape']}-{case['reduction']}-{'w' if case['weighted'] else 'now'}-"
            f"ii{case['ignore_index']}-ls{case['eps']}-{np.dtype(case['dtype']).name}-"
            f"{case['layout']}")


@pytest.mark.parametrize("case", GRID, ids=[_id(c) for c in GRID])
def test_cross_entropy_matches_torch(case):
    shape = SHAPES[case["shape"]]
    seed = zlib.crc32(_id(case).encode())
    tdtype = INDEX_DTYPES[seed % 4]
    x, t = _data(shape, case["dtype"], seed, case["ignore_index"], tdtype)
    C = shape[1]
    if C == 1:
        t = np.where(t == 1, 0, t).astype(tdtype)  # ignore_index=1 is not a class when C=1
    if np.any((t >= C) & (t != case["ignore_index"])):
        t = np.where((t >= C) & (t != case["ignore_index"]), 0, t).astype(tdtype)
    rng = np.random.default_rng(seed)
    weight = rng.uniform(0.2, 3.0, C) if case["weighted"] else None
    go = rng.standard_normal(t.shape) if case["reduction"] == "none" else 0.7
    loss = CrossEntropyLoss(weight=weight, ignore_index=case["ignore_index"],
                            reduction=case["reduction"], label_smoothing=case["eps"])
    xl = relayout(x, case["layout"])
    value, grad = loss.value_and_grad(xl, t, grad_output=go)
    ref_v, ref_g = _torch_ref(x, t, weight, case["ignore_index"], case["reduction"],
                              case["eps"], grad_output=go)
    assert grad.shape == x.shape and grad.dtype == x.dtype
    if case["reduction"] == "none":
        assert value.shape == t.shape and value.dtype == x.dtype
    else:
        assert np.ndim(value) == 0 and value.dtype == x.dtype
    scale = max(1.0, float(np.abs(ref_v).max()))
    _close(value, ref_v, case["dtype"], scale)
    _close(grad, ref_g, case["dtype"])
    # the value-only call agrees with the value of value_and_grad
    np.testing.assert_array_equal(loss(xl, t), value)


NLL_GRID = list(itertools.product(["2d-c7", "4d-c5", "5d-c3"], ["mean", "sum", "none"],
                                  [False, True], [np.float32, np.float64]))


@pytest.mark.parametrize("shape,reduction,weighted,dtype", NLL_GRID)
def test_nll_matches_torch(shape, reduction, weighted, dtype):
    shape = SHAPES[shape]
    rng = np.random.default_rng(len(shape) * 10 + weighted)
    x = (rng.standard_normal(shape) - 2).astype(dtype)
    pos = (shape[0],) + shape[2:]
    t = rng.integers(0, shape[1], pos)
    t[rng.random(pos) < 0.25] = -1
    weight = rng.uniform(0.5, 2.0, shape[1]) if weighted else None
    go = rng.standard_normal(pos) if reduction == "none" else 1.3
    for layout in ("contiguous", "channels_last"):
        value, grad = NLLLoss(weight=weight, ignore_index=-1, reduction=reduction) \
            .value_and_grad(relayout(x, layout), t.astype(np.int32), grad_output=go)
        ref_v, ref_g = _torch_ref(x, t, weight, -1, reduction, 0.0, go, log_probs=True)
        _close(value, ref_v, dtype, max(1.0, float(np.abs(ref_v).max())))
        _close(grad, ref_g, dtype)
    assert nll_loss(x, t.astype(np.int64), weight=weight, ignore_index=-1,
                    reduction=reduction).dtype == x.dtype


PROB_GRID = list(itertools.product(["2d-c7", "2d-c300", "4d-c5", "3d-c4"],
                                   ["mean", "sum", "none"], [False, True], [0.0, 0.25],
                                   [np.float32, np.float64]))


@pytest.mark.parametrize("shape,reduction,weighted,eps,dtype", PROB_GRID)
def test_probability_targets_match_torch(shape, reduction, weighted, eps, dtype):
    shape = SHAPES[shape]
    rng = np.random.default_rng(sum(shape) + int(eps * 4) + weighted)
    x = (rng.standard_normal(shape) * 2).astype(dtype)
    q = rng.random(shape)
    q = (q / q.sum(axis=1, keepdims=True)).astype(dtype)
    weight = rng.uniform(0.2, 2.0, shape[1]) if weighted else None
    pos = (shape[0],) + shape[2:]
    go = rng.standard_normal(pos) if reduction == "none" else 0.5
    ref_v, ref_g = _torch_ref(x, q, weight, -100, reduction, eps, go)
    loss = CrossEntropyLoss(weight=weight, reduction=reduction, label_smoothing=eps)
    for layout in ("contiguous", "channels_last", "strided"):
        value, grad = loss.value_and_grad(relayout(x, layout), relayout(q, layout),
                                          grad_output=go)
        _close(value, ref_v, dtype, max(1.0, float(np.abs(ref_v).max())))
        _close(grad, ref_g, dtype)


@pytest.mark.parametrize("tdtype", INDEX_DTYPES)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_mask_equals_ignoring_those_positions(tdtype, layout):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 6, 5, 4))
    t = rng.integers(0, 6, (3, 5, 4)).astype(tdtype)
    mask = rng.random((3, 5, 4)) < 0.7
    w = rng.uniform(0.5, 2, 6)
    for eps in (0.0, 0.2):
        loss = CrossEntropyLoss(weight=w, label_smoothing=eps)
        value, grad = loss.value_and_grad(relayout(x, layout), relayout(t, layout),
                                          mask=relayout(mask, layout))
        ref_v, ref_g = _torch_ref(x, t, w, -100, "mean", eps, mask=mask)
        _close(value, ref_v, np.float64)
        _close(grad, ref_g, np.float64)


def test_probability_targets_with_mask_match_formula():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4, 5, 6))
    q = rng.dirichlet(np.ones(5), size=(4, 6)).transpose(0, 2, 1)
    mask = rng.random((4, 6)) < 0.6
    for reduction in ("mean", "sum", "none"):
        got = cross_entropy(x, q, reduction=reduction, mask=mask, label_smoothing=0.1)
        want = cross_entropy_ref(x, q, reduction=reduction, mask=mask, label_smoothing=0.1)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def test_hand_calculated_examples():
    # two equal logits: -log(1/2)
    assert np.isclose(cross_entropy(np.zeros((1, 2)), np.array([0])), np.log(2), rtol=1e-15)
    # logits (1, 0, 0), target 0: log(e + 2) - 1
    x = np.array([[1.0, 0.0, 0.0]])
    assert np.isclose(cross_entropy(x, np.array([0])), np.log(np.e + 2) - 1, rtol=1e-15)
    # weighted mean of two positions: (2 * l0 + 1 * l1) / 3 with l0 = log(e+2) - 1,
    # l1 = log(e+2) (target 1 has logit 0)
    x2 = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    want = (2 * (np.log(np.e + 2) - 1) + 1 * np.log(np.e + 2)) / 3
    got = cross_entropy(x2, np.array([0, 1]), weight=np.array([2.0, 1.0, 1.0]))
    assert np.isclose(got, want, rtol=1e-15)
    # smoothing 0.3 with C=2, logits (0, 0): every term is log 2
    assert np.isclose(cross_entropy(np.zeros((1, 2)), np.array([1]), label_smoothing=0.3),
                      np.log(2), rtol=1e-15)
    # gradient of mean CE at equal logits: softmax - onehot, divided by N
    _, g = CrossEntropyLoss().value_and_grad(np.zeros((2, 4)), np.array([0, 3]))
    np.testing.assert_allclose(g, np.array([[-0.375, 0.125, 0.125, 0.125],
                                            [0.125, 0.125, 0.125, -0.375]]), rtol=1e-15)


FD_CASES = [
    dict(),
    dict(weight=[0.5, 2.0, 1.0, 3.0]),
    dict(label_smoothing=0.2),
    dict(label_smoothing=0.2, weight=[0.5, 2.0, 1.0, 3.0], reduction="sum"),
    dict(ignore_index=2, weight=[0.5, 2.0, 1.0, 3.0]),
    dict(probabilities=True, weight=[0.5, 2.0, 1.0, 3.0], label_smoothing=0.1),
]


@pytest.mark.parametrize("case", FD_CASES, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()) or "plain")
def test_gradient_matches_central_differences(case):
    case = dict(case)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4, 2))
    if case.pop("probabilities", False):
        t = rng.dirichlet(np.ones(4), size=(3, 2)).transpose(0, 2, 1)
    else:
        t = rng.integers(0, 4, (3, 2))
    loss = CrossEntropyLoss(**case)
    _, g = loss.value_and_grad(x, t)
    fd = central_difference(lambda z: float(loss(z, t)), x)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_forward_over_wide_rows_matches_torch(reduction, weighted):
    """Many classes with the class axis contiguous ((N, C), channels-last) take the row
    loop, whose forward-only NLL has a path of its own: masks, ignore_index, weights."""
    rng = np.random.default_rng(31 + weighted)
    x = rng.standard_normal((150, 300)) - 6
    t = rng.integers(0, 300, 150)
    t[rng.random(150) < 0.2] = 299 + 1000
    mask = rng.random(150) < 0.8
    weight = rng.uniform(0.5, 2.0, 300) if weighted else None
    for tdtype in (np.int16, np.int64):
        got = nll_loss(x, t.astype(tdtype), weight=weight, ignore_index=1299, mask=mask,
                       reduction=reduction)
        ref_v, _ = _torch_ref(x, t, weight, 1299, reduction, 0.0, log_probs=True, mask=mask)
        _close(got, ref_v, np.float64, max(1.0, abs(float(ref_v))))
    x4 = relayout(rng.standard_normal((2, 40, 5, 6)).astype(np.float32), "channels_last")
    t4 = rng.integers(0, 40, (2, 5, 6)).astype(np.uint8)
    t4[0, 0] = 255
    got = nll_loss(x4, t4, weight=weight[:40] if weighted else None, ignore_index=255,
                   reduction=reduction)
    ref_v, _ = _torch_ref(np.ascontiguousarray(x4), t4, weight[:40] if weighted else None, 255,
                          reduction, 0.0, log_probs=True)
    _close(got, ref_v, np.float32, max(1.0, abs(float(ref_v))))


@pytest.mark.parametrize("layout", ["channels_last", "negative", "strided", "fortran"])
@pytest.mark.parametrize("weighted", [False, True])
def test_nll_forward_over_strided_positions_matches_torch(layout, weighted):
    """Few classes with positions not contiguous: NLL's forward reads one entry per position
    (no gathered tiles), with masks, ignore_index and weights, against PyTorch."""
    rng = np.random.default_rng(41 + weighted)
    x = relayout(rng.standard_normal((3, 6, 7, 11)).astype(np.float32), layout)
    t = rng.integers(0, 6, (3, 7, 11)).astype(np.int32)
    t[rng.random(t.shape) < 0.2] = -3
    mask = rng.random(t.shape) < 0.8
    weight = rng.uniform(0.5, 2.0, 6) if weighted else None
    for reduction in ("mean", "sum"):
        got = nll_loss(x, t, weight=weight, ignore_index=-3, mask=mask, reduction=reduction)
        ref_v, _ = _torch_ref(np.ascontiguousarray(x), t, weight, -3, reduction, 0.0,
                              log_probs=True, mask=mask)
        _close(got, ref_v, np.float32, max(1.0, abs(float(ref_v))))


def test_nll_gradient_matches_central_differences():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 3))
    t = np.array([0, 2, 1, -100, 2])
    loss = NLLLoss(weight=[1.0, 0.5, 2.0])
    _, g = loss.value_and_grad(x, t)
    np.testing.assert_allclose(g, central_difference(lambda z: float(loss(z, t)), x),
                               rtol=1e-7, atol=1e-9)


def test_all_ignored_mean_is_nan_with_zero_gradient():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    t = np.full(3, -100)
    for eps in (0.0, 0.1):
        value, grad = CrossEntropyLoss(label_smoothing=eps).value_and_grad(x, t)
        ref_v, ref_g = _torch_ref(x, t, None, -100, "mean", eps)
        assert np.isnan(value) and np.isnan(ref_v)
        assert np.all(grad == 0) and np.all(ref_g == 0)
    assert CrossEntropyLoss(reduction="sum")(x, t) == 0


def test_zero_weight_counted_targets_give_nan_like_torch():
    x = np.random.default_rng(1).standard_normal((3, 4))
    t = np.array([0, 0, 1])
    w = [0.0, 0.0, 1.0, 1.0]
    value, grad = CrossEntropyLoss(weight=w).value_and_grad(x, t)
    ref_v, ref_g = _torch_ref(x, t, w, -100, "mean", 0.0)
    assert np.isnan(value) and np.isnan(ref_v)
    assert np.isnan(grad).all() and np.isnan(ref_g).all()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_empty_batch(reduction):
    x = np.zeros((0, 4), dtype=np.float32)
    t = np.zeros(0, dtype=np.int64)
    value, grad = CrossEntropyLoss(reduction=reduction).value_and_grad(x, t)
    ref_v, _ = _torch_ref(x, t, None, -100, reduction, 0.0)
    np.testing.assert_array_equal(value, ref_v.astype(np.float32))
    assert grad.shape == (0, 4)
    q = np.zeros((0, 4), dtype=np.float32)
    assert np.isnan(cross_entropy(x, q)) and np.isnan(F.cross_entropy(
        torch.zeros(0, 4), torch.zeros(0, 4)).item())


def test_unbatched_input():
    x = np.array([0.5, -1.0, 2.0, 0.0])
    for reduction in ("mean", "none"):
        value, grad = CrossEntropyLoss(reduction=reduction, label_smoothing=0.1) \
            .value_and_grad(x, np.array(2))
        ref_v, ref_g = _torch_ref(x, np.array(2), None, -100, reduction, 0.1)
        _close(value, ref_v, np.float64)
        _close(grad, ref_g, np.float64)
        assert np.shape(value) == ()


def test_extreme_logits_are_stable():
    big = np.array([[1e30, 0.0, -1e30], [-np.inf, 0.0, 1.0], [88.0, 89.0, -200.0]],
                   dtype=np.float32)
    t = np.array([1, 2, 0])
    value, grad = CrossEntropyLoss(reduction="none").value_and_grad(big, t)
    ref_v, ref_g = _torch_ref(big, t, None, -100, "none", 0.0)
    _close(value, ref_v, np.float32, 1e30)
    _close(grad, ref_g, np.float32)
    assert np.all(np.isfinite(grad))
    # a -inf logit at the target class: the loss is +inf, as in PyTorch
    v = cross_entropy(np.array([[-np.inf, 0.0]]), np.array([0]))
    assert np.isposinf(v)


def test_nan_in_nan_out():
    x = np.zeros((3, 4))
    x[1, 2] = np.nan
    t = np.array([0, 1, 2])
    value, grad = CrossEntropyLoss(reduction="none").value_and_grad(x, t)
    assert np.isnan(value[1]) and not np.isnan(value[[0, 2]]).any()
    assert np.isnan(grad[1]).all() and not np.isnan(grad[[0, 2]]).any()
    assert np.isnan(cross_entropy(x, t))


def test_probability_target_zero_times_minus_inf_is_zero():
    # PyTorch computes 0 * (-inf) = NaN here; we take the limit q log p -> 0 (README).
    x = np.array([[0.0, -np.inf, 1.0]])
    q = np.array([[0.5, 0.0, 0.5]])
    want = -(0.5 * np.log(1 / (1 + np.e)) + 0.5 * np.log(np.e / (1 + np.e)))
    assert np.isclose(cross_entropy(x, q), want)
    assert np.isnan(F.cross_entropy(torch.tensor(x), torch.tensor(q)).item())


def test_float16_is_accepted_and_computed_in_float32():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 6, 3)).astype(np.float16)
    t = rng.integers(0, 6, (4, 3)).astype(np.uint8)
    value, grad = CrossEntropyLoss().value_and_grad(x, t)
    assert value.dtype == np.float16 and grad.dtype == np.float16
    ref_v, ref_g = _torch_ref(x.astype(np.float64), t, None, -100, "mean", 0.0)
    np.testing.assert_allclose(float(value), ref_v, rtol=1e-3)
    np.testing.assert_allclose(grad.astype(np.float64), ref_g, atol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_gradient_written_into_out(dtype):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 5, 4)).astype(dtype)
    t = rng.integers(0, 5, (2, 4))
    out = np.full_like(x, 7)
    value, grad = CrossEntropyLoss().value_and_grad(x, t, out=out)
    assert grad is out
    np.testing.assert_array_equal(out, CrossEntropyLoss().value_and_grad(x, t)[1])
    out_cl = relayout(np.zeros_like(x), "channels_last")
    CrossEntropyLoss().value_and_grad(x, t, out=out_cl)
    np.testing.assert_array_equal(out_cl, out)


def test_non_contiguous_targets_are_read_in_place():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 4, 5, 6))
    t = rng.integers(0, 4, (3, 5, 6)).astype(np.uint8)
    for layout in ("negative", "strided", "fortran"):
        tl = relayout(t, layout)
        np.testing.assert_allclose(cross_entropy(x, tl), cross_entropy(x, t), rtol=1e-14)


def test_functional_matches_class():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    t = np.array([0, 1, 2, 255], dtype=np.uint8)
    f = cross_entropy(x, t, weight=[1.0, 2.0, 3.0], ignore_index=255, label_smoothing=0.1)
    c = CrossEntropyLoss(weight=[1.0, 2.0, 3.0], ignore_index=255, label_smoothing=0.1)(x, t)
    assert f == c


def test_formula_reference_agrees_with_torch():
    # guards the NumPy reference used for mask and probability-target tests
    rng = np.random.default_rng(11)
    x = rng.standard_normal((5, 4, 3))
    t = rng.integers(0, 4, (5, 3))
    t[0, 0] = 255
    w = rng.uniform(0.5, 2, 4)
    for reduction in ("mean", "sum", "none"):
        ref_v, _ = _torch_ref(x, t, w, 255, reduction, 0.2)
        np.testing.assert_allclose(cross_entropy_ref(x, t, w, 255, reduction, 0.2), ref_v,
                                   rtol=1e-12)


@pytest.mark.parametrize("config", ["plain", "smoothing weight", "probabilities"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_loops_every_tail_length_matches_torch(dtype, config):
    """(N, C) rows with C from 32 (the row loops) up: every count of classes left over after
    the last whole vector (the sums' 16 floats or 8 doubles, the dot products' 32 doubles),
    with the row's max, a NaN or a -inf among those last classes (there with weight 0 and
    label smoothing: 0 * -inf must stay out).  Per-row losses and the gradient against
    PyTorch; the forward's value is the value-and-gradient's, bit for bit."""
    rng = np.random.default_rng(77)
    for C in list(range(32, 66)) + [100]:
        x = (rng.standard_normal((5, C)) * 3).astype(dtype)
        x[1, -1] = 40.0                # the max in the last partial vector
        x[2, -2] = np.nan              # NaN there: that row's loss and gradient are NaN
        x[3, -3:] = -np.inf            # exponentials 0, the loss finite
        t = rng.integers(0, C - 3, 5)
        weight, eps = None, 0.0
        if config == "smoothing weight":
            weight, eps = rng.uniform(0.5, 2.0, C), 0.1
            weight[-3:] = 0.0          # the -inf classes weigh nothing
        if config == "probabilities":
            t = rng.dirichlet(np.ones(C), 5).astype(dtype)
            t[3, -3:] = 0.0
            t[3] /= t[3].sum()
        loss = CrossEntropyLoss(reduction="none", weight=weight, label_smoothing=eps)
        value, grad = loss.value_and_grad(x, t)
        ref_v, ref_g = _torch_ref(x, t, weight, -100, "none", eps, grad_output=np.ones(5))
        assert np.isnan(value[2]) and np.isnan(grad[2]).all()
        if config != "plain":
            # PyTorch multiplies the 0 weights (targets) by -inf: NaN; ours leave the
            # class out, as the NumPy reference from the formula does
            ref_v[3], ref_g[3] = (a[3] for a in numpy_reference(
                loss, x.astype(np.float64), t, grad_output=np.ones(5)))
        keep = [0, 1, 3, 4]
        _close(value[keep], ref_v[keep], dtype)
        _close(grad[keep], ref_g[keep], dtype)
        assert np.array_equal(loss(x, t), value, equal_nan=True)
        mean = CrossEntropyLoss(weight=weight, label_smoothing=eps)
        ok = np.delete(x, 2, axis=0), np.delete(t, 2, axis=0)
        assert mean(*ok).tobytes() == mean.value_and_grad(*ok)[0].tobytes()
