"""Every registered loss, in each of its main configurations (its spec's examples), through
the properties every loss must have: the float types, memory layouts, thread counts, out=,
gradients against central differences, statistics that add up, Dask chunks.  (The same
examples run through every parity path, the ONNX graphs under onnxruntime and
onnx.reference against the float64 references, in tests/test_parity.py.)  A loss added to the
registry is covered here without a line of this file changing."""
import numpy as np
import pytest

import onnxlosses
from onnxlosses._base import Loss
from onnxlosses._parity_grid import _data
from onnxlosses._registry import LOSSES

from helpers import LAYOUTS, central_difference, relayout

CASES = [(cls, ex) for cls in LOSSES for ex in cls.spec.examples]
IDS = [f"{cls.spec.name}[{ex.label or 'default'}]" for cls, ex in CASES]
SHAPE = (2, 4, 3, 5)


def test_every_public_loss_is_registered():
    public = {getattr(onnxlosses, n) for n in onnxlosses.__all__
              if isinstance(getattr(onnxlosses, n), type) and issubclass(getattr(onnxlosses, n), Loss)}
    assert public == set(LOSSES)
    assert all(cls.spec.examples for cls in LOSSES)


def _case(cls, ex, dtype=np.float64, shape=SHAPE, seed=0):
    loss = ex.build(cls, shape[1])
    x, t = _data(ex.targets, shape, dtype, seed, cls.spec.input)
    if cls.spec.input == "probabilities":   # keep clear of the log clamp at 0 and 1
        x = np.clip(x, 0.05, 0.95).astype(dtype)
    mask = np.random.default_rng(seed).random((shape[0],) + shape[2:]) < 0.7 \
        if ex.mask else None
    return loss, x, t, mask


def _grad_output(loss, x, t, mask):
    value = loss(x, t, mask=mask)
    if np.ndim(value) == 0:
        return None, None
    go = np.random.default_rng(1).random(np.shape(value))
    return go.astype(x.dtype), go


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
@pytest.mark.parametrize("cls,ex", CASES, ids=IDS)
def test_float_types_match_float64(cls, ex, dtype):
    loss, x64, t, mask = _case(cls, ex)
    x = x64.astype(dtype)
    tt = t.astype(dtype) if t.dtype.kind == "f" else t
    want = loss(x.astype(np.float64), tt.astype(np.float64) if t.dtype.kind == "f" else t,
                mask=mask)
    got = loss(x, tt, mask=mask)
    assert np.asarray(got).dtype == dtype
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=5e-3, atol=2e-3)
    np.testing.assert_allclose(np.asarray(got, np.float64), want, **tol)


@pytest.mark.parametrize("cls,ex", CASES, ids=IDS)
def test_layouts_threads_and_out(cls, ex):
    loss, x, t, mask = _case(cls, ex, np.float32)
    go, _ = _grad_output(loss, x, t, mask)
    value, grad = loss.value_and_grad(x, t, go, mask=mask)
    for layout in LAYOUTS:
        xl = relayout(x, layout)
        tl = relayout(t, layout, 1 if t.ndim == x.ndim else 0)
        ml = None if mask is None else relayout(mask, layout, 0)
        out = relayout(np.full_like(x, np.nan), layout)
        vl, gl = loss.value_and_grad(xl, tl, go, out=out, mask=ml)
        assert gl is out
        np.testing.assert_allclose(vl, value, rtol=1e-6, atol=1e-7, err_msg=layout)
        np.testing.assert_allclose(gl, grad, rtol=1e-5, atol=1e-7, err_msg=layout)


# Enough positions for several tiles per image on every kernel (cross-entropy's tiles, the
# Dice family's chunks of at least 4096 positions, the elementwise kernel's 2048 elements).
MANY_TILES = (3, 5, 90, 100)


@pytest.mark.parametrize("cls,ex", CASES, ids=IDS)
def test_results_do_not_depend_on_the_thread_count(cls, ex):
    """Fixed tiles added in a fixed order: 1, 2 and 3 threads give the same bits."""
    loss, x, t, mask = _case(cls, ex, np.float32, shape=MANY_TILES, seed=3)
    go, _ = _grad_output(loss, x, t, mask)
    results = []
    for n in (1, 2, 3):
        with onnxlosses.threads(n):
            results.append(loss.value_and_grad(x, t, go, mask=mask))
    for value, grad in results[1:]:
        assert np.asarray(value).tobytes() == np.asarray(results[0][0]).tobytes()
        assert grad.tobytes() == results[0][1].tobytes()


@pytest.mark.parametrize("cls,ex", CASES, ids=IDS)
def test_gradient_matches_central_differences(cls, ex):
    loss, x, t, mask = _case(cls, ex, shape=(2, 3, 2), seed=3)
    go, go64 = _grad_output(loss, x, t, mask)

    def f(xv):
        v = loss(xv, t, mask=mask)
        return float(np.sum(go64 * v)) if go64 is not None else float(v)

    _, grad = loss.value_and_grad(x, t, go, mask=mask)
    np.testing.assert_allclose(grad, central_difference(f, x), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("cls,ex", CASES, ids=IDS)
def test_statistics_of_two_halves_give_the_whole(cls, ex):
    loss, x, t, mask = _case(cls, ex)
    if loss.config["reduction"] == "none":
        with pytest.raises(ValueError, match="statistics exist for reduction"):
            loss.stats(x, t, mask=mask)
        return
    halves = [loss.stats(x[i:i + 1], t[i:i + 1],
                         mask=None if mask is None else mask[i:i + 1]) for i in range(2)]
    whole = loss(x, t, mask=mask)
    np.testing.assert_allclose(sum(halves).value(), whole, rtol=1e-12, atol=1e-15)
    total = sum(halves)
    _, g = loss.value_and_grad(x, t, mask=mask)
    g0 = loss.value_and_grad(x[:1], t[:1], mask=None if mask is None else mask[:1],
                             total=total)[1]
    np.testing.assert_allclose(g0, g[:1], rtol=1e-10, atol=1e-14)


STATS_CASES = [(cls, ex) for cls, ex in CASES
               if ex.build(cls, SHAPE[1]).config["reduction"] != "none"]


@pytest.mark.parametrize("cls,ex", STATS_CASES,
                         ids=[f"{cls.spec.name}[{ex.label or 'default'}]"
                              for cls, ex in STATS_CASES])
def test_dask_chunks_give_the_in_memory_loss(cls, ex):
    da = pytest.importorskip("dask.array")
    from onnxlosses import dask as odk
    loss, x, t, mask = _case(cls, ex)
    chunks = (1, SHAPE[1], 2, 3)            # uneven along batch and space, classes whole
    xd = da.from_array(x, chunks=chunks)
    td = da.from_array(t, chunks=chunks if t.ndim == x.ndim else (1, 2, 3))
    md = None if mask is None else da.from_array(mask, chunks=(1, 2, 3))
    want_v, want_g = loss.value_and_grad(x, t, mask=mask)
    v, g = odk.value_and_grad(loss, xd, td, mask=md, scheduler="synchronous")
    np.testing.assert_allclose(v, want_v, rtol=1e-12)
    np.testing.assert_allclose(g.compute(scheduler="synchronous"), want_g, rtol=1e-10,
                               atol=1e-16)


ROW_CASES = [(cls, ex) for cls, ex in CASES if cls.spec.input != "probabilities"
             and "index" in cls.spec.target_kinds(ex.build(cls, 40).config)]


@pytest.mark.parametrize("layout", ["contiguous-2d", "channels_last"])
@pytest.mark.parametrize("cls,ex", ROW_CASES,
                         ids=[f"{cls.spec.name}[{ex.label or 'default'}]" for cls, ex in ROW_CASES])
def test_many_classes_row_path_matches_the_reference(cls, ex, layout):
    """C >= 32 with the classes contiguous ((N, C), channels-last) runs the kernels' row
    path: value and gradient against the float64 reference written from the formula."""
    from onnxlosses.references import numpy_reference
    shape = (24, 40) if layout == "contiguous-2d" else (2, 40, 3, 4)
    loss, x, t, mask = _case(cls, ex, shape=shape, seed=5)
    if layout == "channels_last":
        x = relayout(x, "channels_last")
    go, _ = _grad_output(loss, x, t, mask)
    value, grad = loss.value_and_grad(x, t, go, mask=mask)
    want_v, want_g = numpy_reference(loss, x, t, mask=mask, grad_output=go)
    np.testing.assert_allclose(value, want_v, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grad, want_g, rtol=1e-10, atol=1e-14)
