"""Gradients built in scratch and streamed out (onnxlosses/_gradient_stores.py,
pyx/stream_store.h) equal the ones written in place, bit for bit.

The path is forced on for small arrays: on an AVX-512 machine it then runs the streaming
stores themselves (unaligned heads and tails included), elsewhere the same scratch-and-copy
code with a plain copy.  The gradients are also checked against the float64 reference, so a
copy that wrote the wrong place would fail even where both paths agreed."""
import numpy as np
import pytest

from onnxlosses import (CrossEntropyLoss, DiceLoss, FocalLoss, NLLLoss, _gradient_stores,
                        _openmp)

from helpers import cross_entropy_ref, central_difference


def _losses():
    w = np.array([0.5, 1.0, 2.0, 0.0, 1.5], np.float64)
    return {
        "ce": CrossEntropyLoss(ignore_index=3),
        "ce_weighted_smoothed": CrossEntropyLoss(weight=w, label_smoothing=0.1,
                                                 ignore_index=3),
        "nll": NLLLoss(ignore_index=3),
        "focal": FocalLoss(gamma=2.0, ignore_index=3),
        "dice": DiceLoss(ignore_index=3),
    }


def _data(dtype, spatial=(7, 37)):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, 5) + spatial).astype(dtype)
    t = rng.integers(0, 5, (3,) + spatial).astype(np.uint8)
    return x, t


def _grad(loss, x, t, stream, monkeypatch, out=None):
    monkeypatch.setattr(_gradient_stores, "stream_gradient",
                        lambda g: g is not None if stream else False)
    return loss.value_and_grad(x, t, out=out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(_losses()))
def test_streamed_gradient_equals_plain_one(name, dtype, monkeypatch):
    loss = _losses()[name]
    x, t = _data(dtype)
    v0, g0 = _grad(loss, x, t, False, monkeypatch)
    v1, g1 = _grad(loss, x, t, True, monkeypatch)
    assert v0 == v1
    np.testing.assert_array_equal(g1, g0)
    # into out=, misaligned: the destination starts 1 element past a cache line
    buf = np.full(x.size + 17, np.nan, dtype)
    out = buf[1:1 + x.size].reshape(x.shape)
    v2, g2 = _grad(loss, x, t, True, monkeypatch, out=out)
    assert v2 == v0 and g2 is out
    np.testing.assert_array_equal(out, g0)
    assert np.isnan(buf[0]) and np.all(np.isnan(buf[1 + x.size:]))   # nothing outside


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(_losses()))
def test_streamed_channels_last_gradient_equals_plain_one(name, dtype, monkeypatch):
    """Channels-last tiles are transposed back into rows (pyx/transpose.h), streamed where
    the destination is 64-byte aligned: into an aligned and a misaligned out=."""
    loss = _losses()[name]
    x, t = _data(dtype, spatial=(5, 41))
    last = np.ascontiguousarray(np.moveaxis(x, 1, -1))        # (N, H, W, C) memory
    x = last.transpose(0, 3, 1, 2)
    v0, g0 = _grad(loss, x, t, False, monkeypatch)
    for offset in (0, 1):
        buf = np.full(x.size + 64, np.nan, dtype)
        start = (-buf.ctypes.data // buf.itemsize) % (64 // buf.itemsize) + offset
        out = buf[start:start + x.size].reshape(last.shape).transpose(0, 3, 1, 2)
        v1, g1 = _grad(loss, x, t, True, monkeypatch, out=out)
        assert v1 == v0 and g1 is out
        np.testing.assert_array_equal(out, g0)
        assert np.all(np.isnan(buf[:start])) and np.all(np.isnan(buf[start + x.size:]))


def test_streamed_cross_entropy_gradient_matches_the_reference(monkeypatch):
    x, t = _data(np.float64, spatial=(3, 17))
    loss = CrossEntropyLoss(ignore_index=3)
    _, g = _grad(loss, x, t, True, monkeypatch)
    want = central_difference(lambda z: cross_entropy_ref(z, t, ignore_index=3), x)
    np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-9)


def test_only_large_gradients_stream():
    assert not _gradient_stores.stream_gradient(None)
    assert not _gradient_stores.stream_gradient(np.empty(1000, np.float32))
    big = np.empty(_gradient_stores.STREAM_MIN_BYTES // 4, np.float32)
    assert _gradient_stores.stream_gradient(big) == _openmp.stream_available
    assert ("streaming" in _gradient_stores.describe()) == _openmp.stream_available
