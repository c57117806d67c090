"""The compiled Dice scores (pyx/_dice_scores.pyx) against the NumPy code they replace,
bit for bit, and its summation against np.sum."""
import numpy as np
import pytest

from onnxlosses import DiceLoss, JaccardLoss, TverskyLoss, _dice_scores


def _values(rng, n):
    """Sums of every kind: ordinary, tiny, huge, exact zeros of both signs, infinities."""
    kind = rng.integers(0, 5)
    a = rng.standard_normal(n) * 10.0 ** rng.integers(-8, 8, n)
    if kind == 1:
        a[rng.random(n) < 0.5] = 0.0
    elif kind == 2:
        a[rng.random(n) < 0.5] = -0.0
    elif kind == 3:
        a[rng.random(n) < 0.1] = np.inf
    elif kind == 4:
        a = np.round(a)
    return a


def test_the_summation_is_numpys():
    rng = np.random.default_rng(0)
    sizes = list(range(0, 300)) + [1000, 4099, 65536, 100003]
    for n in sizes:
        for _ in range(3 if n < 300 else 1):
            a = _values(rng, n)
            assert np.float64(_dice_scores.numpy_sum(a)).tobytes() == a.sum().tobytes(), n
    for rows in (1, 2, 5):                      # a (G, C) array summed whole
        a = _values(rng, rows * 7).reshape(rows, 7)
        assert np.float64(_dice_scores.numpy_sum(a.ravel())).tobytes() == \
            a.sum().tobytes()


def _configurations():
    yield DiceLoss()
    yield DiceLoss(reduction="sum", smooth=0.0)
    yield DiceLoss(per_image=True, absent="skip", weight=np.linspace(0.5, 2, 6))
    yield DiceLoss(absent="zero", eps=1e-3, classes=[1, 4, 2], smooth=0.0)
    yield DiceLoss.preset("smp")
    yield DiceLoss.preset("monai", softmax=True)
    yield DiceLoss.preset("monai", softmax=True, include_background=False, batch=True,
                          weight=np.linspace(1, 2, 5))
    yield DiceLoss.preset("seed", skip_class=2)
    yield JaccardLoss(per_image=True, smooth=0.0, eps=0.5)
    yield JaccardLoss.preset("monai", softmax=True)
    yield TverskyLoss(alpha=0.3, beta=0.9, smooth_dr=0.0)
    yield TverskyLoss.preset("smp", alpha=0.3, beta=0.7, gamma=2.0)
    yield TverskyLoss.preset("smp", gamma=0.5, mode="multilabel")


def _stats(rng, N, C, kind):
    """(N, C, 3) statistics: realistic (I <= P, T), with absent classes, all zero, with
    negative and infinite entries (the activation 'identity' passes any input)."""
    P = rng.random((N, C)) * 20
    T = np.round(rng.random((N, C)) * 20)
    I = np.minimum(P, T) * rng.random((N, C))
    if kind >= 1:
        T[:, ::3] = 0.0
        I[:, ::3] = 0.0
    if kind == 2:
        P[:] = I[:] = T[:] = 0.0
    if kind == 3:
        I[0, 0], P[-1, -1] = -3.0, np.inf
    if kind == 4:
        I[0, 1], P[0, 1], T[0, 1] = np.inf, np.inf, -np.inf      # a NaN denominator
    return np.ascontiguousarray(np.stack([I, P, T], axis=-1))


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")   # NumPy's, on inf
@pytest.mark.parametrize("loss", list(_configurations()), ids=repr)
def test_compiled_scores_match_numpy_bit_for_bit(loss):
    rng = np.random.default_rng(1)
    C = 6
    for N in (1, 3):
        for kind in range(5):
            stats = _stats(rng, N, C, kind)
            for want_grad in (False, True):
                for grad_output in (None, 0.5, -2.0):
                    for norm in (None, 4):
                        got = loss._reduce_compiled(stats, want_grad, grad_output, norm)
                        want = loss._reduce_numpy(stats, want_grad, grad_output, norm)
                        if got is None:          # a NaN denominator: NumPy's path decides
                            assert kind == 4
                            continue
                        assert type(got[0]) is type(want[0])
                        assert np.asarray(got[0]).tobytes() == np.asarray(want[0]).tobytes()
                        for g, w in zip(got[1:], want[1:]):
                            if w is None:
                                assert g is None
                                continue
                            assert g.shape == w.shape and g.tobytes() == w.tobytes()
                            assert g.flags.writeable == w.flags.writeable


def test_the_numpy_path_keeps_what_is_not_compiled():
    rng = np.random.default_rng(2)
    stats = _stats(rng, 2, 5, 1)
    for loss in (DiceLoss(log_loss=True, eps=1e-7), TverskyLoss(gamma=2.0),
                 DiceLoss(reduction="none")):
        value, dI, dP = loss._reduce(stats, True, None)
        want = loss._reduce_numpy(stats, True, None)
        assert np.asarray(value).tobytes() == np.asarray(want[0]).tobytes()
        assert dI.tobytes() == want[1].tobytes() and dP.tobytes() == want[2].tobytes()


def test_errors_come_first_and_unchanged():
    stats = np.ones((1, 4, 3))
    with pytest.raises(ValueError, match=r"classes must lie in \[0, 4\), got \[1, 7\]"):
        DiceLoss(classes=[1, 7])._reduce(stats, True, None)
    with pytest.raises(ValueError, match=r"weight must have one value per class \(C=4\)"):
        DiceLoss(weight=[1.0, 2.0])._reduce(stats, True, None)
    with pytest.raises(ValueError, match="grad_output must be a scalar"):
        DiceLoss()._reduce(stats, True, np.ones(3))
