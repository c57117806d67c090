"""The kernels' own float functions against libm's double ones, rounded.
exp (pyx/exp_nonpositive.h), for z <= 0: at most 1 ulp wherever the result is a normal
float, 2 where it is subnormal; log1p (pyx/log1p_unit.h), for u in [0, 1]: at most 1 ulp;
NaN kept.  Both the target clone the kernels run here and the x86-64 baseline build are
checked: strided over the whole domain, densely where the formulas have seams.  (The
exhaustive runs, step 1, take about 40 s and 15 s on 2 cores and find the same bounds.)"""
import numpy as np
import pytest

from onnxlosses import CrossEntropyLoss, _math_check, cross_entropy

NEG_ZERO, NEG_INF = 0x80000000, 0xFF800000
CUTOFF = -87.336548   # ln(2^-126): below it the result is subnormal


def _bits(z):
    return int(np.array([z], np.float32).view(np.uint32)[0])


def _around(z, half_width=1 << 15):
    b = _bits(z)
    return max(NEG_ZERO, b - half_width), min(NEG_INF, b + half_width)


@pytest.mark.parametrize("baseline", [False, True], ids=["clone", "baseline"])
def test_within_one_ulp_over_every_97th_nonpositive_float(baseline):
    worst, at, nan_lost = _math_check.scan("exp", NEG_ZERO, _bits(CUTOFF), 97, baseline)
    assert worst <= 1, (worst, at)
    worst, at, nan_lost_sub = _math_check.scan("exp", _bits(CUTOFF) + 1, NEG_INF, 97, baseline)
    assert worst <= 2, (worst, at)
    assert nan_lost == nan_lost_sub == 0


@pytest.mark.parametrize("baseline", [False, True], ids=["clone", "baseline"])
@pytest.mark.parametrize("z", [CUTOFF, -87.0, -88.0, -103.9, -110.0, -0.5 * np.log(2),
                               -1.5 * np.log(2), -1.0, -1e-3, -20.0, -80.0])
def test_within_one_ulp_around_the_seams(baseline, z):
    """Every float near the subnormal cutoff, the clamp, the range-reduction boundaries
    and a few ordinary points (2 ulp where the result is subnormal)."""
    worst, at, nan_lost = _math_check.scan("exp", *_around(np.float32(z)), 1, baseline)
    assert worst <= (1 if z > CUTOFF + 0.1 else 2), (worst, at)
    assert nan_lost == 0


@pytest.mark.parametrize("baseline", [False, True], ids=["clone", "baseline"])
def test_exp_for_sum_is_exp_with_subnormal_results_flushed(baseline):
    """The softmax sums' exponential: within 1 ulp of exp where exp(z) >= 2^-126, exactly 0
    below (the reference is flushed there too), densely around the cutoff."""
    worst, at, nan_lost = _math_check.scan("exp_for_sum", NEG_ZERO, NEG_INF, 89, baseline)
    assert worst <= 1 and nan_lost == 0, (worst, at)
    worst, at, nan_lost = _math_check.scan("exp_for_sum", *_around(np.float32(CUTOFF)), 1,
                                           baseline)
    assert worst <= 1 and nan_lost == 0, (worst, at)
    _, _, nan_lost = _math_check.scan("exp_for_sum", 0xFFC00000, 0xFFC00000 + 100, 1, baseline)
    assert nan_lost == 0


def test_forward_equals_value_and_grad_where_terms_are_subnormal():
    """The forward pass sums exp_for_sum, the gradient pass keeps exact (subnormal) terms
    but sums the same flushed ones: the two values agree bit for bit, and the subnormal
    probabilities survive in the gradient."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 7, 33)).astype(np.float32)
    x[:, 1] -= 95.0       # exp(x - max) subnormal (below 2^-126) at most positions
    x[:, 2] -= 120.0      # below every float: 0
    t = rng.integers(0, 7, (64, 33))
    for reduction in ("mean", "sum"):
        loss = CrossEntropyLoss(reduction=reduction)
        value, grad = loss.value_and_grad(x, t)
        assert value == loss(x, t)
    ref = np.exp(x.astype(np.float64) - x.max(axis=1, keepdims=True))
    assert np.all(ref[:, 1] < 2.0 ** -126)
    # reduction "sum": the gradient is the probability itself, subnormal here, not 0
    assert np.count_nonzero(grad[:, 1]) > 0.99 * grad[:, 1].size
    want = ref[:, 1] / ref.sum(axis=1) - (t == 1)
    np.testing.assert_allclose(grad[:, 1], want, rtol=1e-6, atol=3e-45)


@pytest.mark.parametrize("baseline", [False, True], ids=["clone", "baseline"])
def test_log1p_within_one_ulp_on_the_unit_interval(baseline):
    one = _bits(1.0)
    worst, at, nan_lost = _math_check.scan("log1p", 0, one, 61, baseline)
    assert worst <= 1, (worst, at)
    for u in (1e-30, 2.0 ** -24, 1e-3, np.sqrt(2) - 1, 0.5, 1.0):   # the seams, densely
        lo, hi = max(0, _bits(u) - (1 << 14)), min(one, _bits(u) + (1 << 14))
        worst, at, _ = _math_check.scan("log1p", lo, hi, 1, baseline)
        assert worst <= 1, (worst, at)
    assert nan_lost == 0
    _, _, nan_lost = _math_check.scan("log1p", 0x7FC00000, 0x7FC00000 + 100, 1, baseline)
    assert nan_lost == 0


def test_special_values_through_the_softmax():
    """NaN in, NaN out; -inf and far-below-max logits contribute exactly 0."""
    x = np.array([[0.0, -np.inf, 1.0], [0.0, np.nan, 1.0], [0.0, -200.0, 1.0]], np.float32)
    t = np.array([0, 0, 0])
    v = cross_entropy(x, t, reduction="none")
    np.testing.assert_allclose(v[[0, 2]], np.log1p(np.exp(1.0)), rtol=1e-6)  # lse - x_0
    assert np.isnan(v[1])
    _, g = CrossEntropyLoss(reduction="sum").value_and_grad(x[[0, 2]], t[[0, 2]])
    assert g[0, 1] == 0 and g[1, 1] == 0
