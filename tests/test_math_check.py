"""The kernels' own math functions against correctly rounded references.
Float, against libm's double functions rounded: exp (pyx/exp_nonpositive.h), for z <= 0:
at most 1 ulp wherever the result is a normal float, 2 where it is subnormal; log1p
(pyx/log1p_unit.h), for u in [0, 1] and for u in [-1, 0]: at most 1 ulp.  Double, against
glibc's long double functions rounded (themselves checked against mpmath here): log1p
(pyx/log1p_f64.h) for u in [-1, 1] and expm1 (pyx/expm1_nonpositive.h) for z <= 0: at most
1 ulp.  NaN kept.  Both the target clone the kernels run here and the x86-64 baseline build
are checked: strided over the whole domain, densely where the formulas have seams.  (The
exhaustive float runs, step 1, take about 40 s, 15 s and 10 s on 2 cores and find the same
bounds.)"""
import math

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


@pytest.mark.parametrize("baseline", [False, True], ids=["clone", "baseline"])
def test_log1p_within_one_ulp_on_minus_one_to_zero(baseline):
    """BCE's log1p(-p): every 61st float of [-1, 0], and densely where k changes (w = 1 + u
    crossing sqrt(1/2) and powers of two), where 1 + u stops being exact (-0.5) and next to
    -1, where log1p(-1) = -inf."""
    minus_one = _bits(-1.0)
    worst, at, nan_lost = _math_check.scan("log1p_neg", NEG_ZERO, minus_one, 61, baseline)
    assert worst <= 1 and nan_lost == 0, (worst, at)
    for u in (-1e-30, -2.0 ** -24, -1e-3, np.sqrt(0.5) - 1, -0.5, -0.75, -1 + 2.0 ** -10,
              -1.0):
        lo, hi = max(NEG_ZERO, _bits(u) - (1 << 14)), min(minus_one, _bits(u) + (1 << 14))
        worst, at, _ = _math_check.scan("log1p_neg", lo, hi, 1, baseline)
        assert worst <= 1, (worst, at)
    _, _, nan_lost = _math_check.scan("log1p_neg", 0xFFC00000, 0xFFC00000 + 100, 1, baseline)
    assert nan_lost == 0


def _bits64(z):
    return int(np.array([z], np.float64).view(np.uint64)[0])


NEG_ZERO64, NEG_INF64 = 0x8000000000000000, 0xFFF0000000000000
ONE64, MINUS_ONE64 = _bits64(1.0), _bits64(-1.0)
STEP64 = 2 ** 37 + 1     # about 3.4e7 evenly spaced doubles per range, every binade


@pytest.mark.parametrize("baseline", [False, True], ids=["clone", "baseline"])
@pytest.mark.parametrize("function, ranges, seams", [
    ("log1p_f64", [(0, ONE64), (NEG_ZERO64, MINUS_ONE64)],
     [2.0 ** -53, 1e-10, 1e-3, np.sqrt(2) - 1, 0.5, 1.0, -2.0 ** -53, -1e-3,
      np.sqrt(0.5) - 1, -0.5, -0.75, -1 + 2.0 ** -40, -1.0]),
    ("expm1_f64", [(NEG_ZERO64, NEG_INF64)],
     [-2.0 ** -54, -1e-10, -0.5 * np.log(2), -1.5 * np.log(2), -2.5 * np.log(2), -1.0,
      -36.7, -37.0, -54 * np.log(2), -38.0, -700.0]),
], ids=["log1p", "expm1"])
def test_double_functions_within_one_ulp(baseline, function, ranges, seams):
    """The double log1p (BCE, softplus) and expm1 (softmax focal): evenly spaced bit patterns
    over the whole domain, every double next to the seams (where k changes, expm1's clamp
    at -37 and its cutoff to -1 at ln(2^-54), the ends of the domain), NaN kept."""
    for lo, hi in ranges:
        worst, at, nan_lost = _math_check.scan64(function, lo, hi, STEP64, baseline)
        assert worst <= 1 and nan_lost == 0, (worst, at)
    ends = [(lo, hi) if lo <= hi else (hi, lo) for lo, hi in ranges]
    for z in seams:
        b = _bits64(z)
        lo, hi = next((lo, hi) for lo, hi in ends if lo <= b <= hi)
        worst, at, _ = _math_check.scan64(function, max(lo, b - (1 << 13)),
                                          min(hi, b + (1 << 13)), 1, baseline)
        assert worst <= 1, (function, z, worst, at)
    _, _, nan_lost = _math_check.scan64(function, 0xFFF8000000000000,
                                        0xFFF8000000000000 + 100, 1, baseline)
    assert nan_lost == 0


def test_double_special_values():
    """Exact where the result is exact: signed zeros kept, -inf at -1, -1 at -inf."""
    z = np.array([-0.0, 0.0, -1.0, 1.0, -np.inf, np.nan])
    own, _ = _math_check.evaluate64("log1p_f64", z[[0, 1, 2, 3, 5]])
    assert [str(v) for v in own] == ["-0.0", "0.0", "-inf", str(math.log1p(1.0)), "nan"]
    own, _ = _math_check.evaluate64("expm1_f64", z[[0, 1, 4, 5]])
    assert [str(v) for v in own] == ["-0.0", "0.0", "-1.0", "nan"]


@pytest.mark.parametrize("function", ["log1p_f64", "expm1_f64"])
def test_double_reference_is_correctly_rounded(function):
    """The double checks' reference (glibc's long double log1pl / expm1l, rounded) against
    mpmath at 60 digits, on random points of every binade of the domain."""
    mpmath = pytest.importorskip("mpmath")
    rng = np.random.default_rng(5)
    if function == "log1p_f64":
        z = np.concatenate([-10.0 ** rng.uniform(-300, 0, 1500), 10.0 ** rng.uniform(-300, 0, 1500)])
        f = mpmath.log1p
    else:
        z = -(10.0 ** rng.uniform(-300, 2.5, 3000))
        f = mpmath.expm1
    _, ref = _math_check.evaluate64(function, z)
    with mpmath.workdps(60):
        want = np.array([float(f(mpmath.mpf(float(v)))) for v in z])
    assert np.array_equal(ref, want)


def test_special_values_through_the_softmax():
    """NaN in, NaN out; -inf and far-below-max logits contribute exactly 0."""
    x = np.array([[0.0, -np.inf, 1.0], [0.0, np.nan, 1.0], [0.0, -200.0, 1.0]], np.float32)
    t = np.array([0, 0, 0])
    v = cross_entropy(x, t, reduction="none")
    np.testing.assert_allclose(v[[0, 2]], np.log1p(np.exp(1.0)), rtol=1e-6)  # lse - x_0
    assert np.isnan(v[1])
    _, g = CrossEntropyLoss(reduction="sum").value_and_grad(x[[0, 2]], t[[0, 2]])
    assert g[0, 1] == 0 and g[1, 1] == 0
