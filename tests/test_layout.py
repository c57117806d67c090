"""The position walk: merged dimensions and offsets address exactly the right elements."""
import numpy as np
import pytest

from onnxlosses._layout import element_strides, walk

from helpers import relayout


def _addresses(arr_strides, shape):
    """Element offsets of every position, in C order, from the raw strides."""
    idx = np.indices(shape).reshape(len(shape), -1)
    return (np.array(arr_strides)[:, None] * idx).sum(axis=0)


@pytest.mark.parametrize("shape", [(4,), (2, 3), (2, 1, 5), (3, 4, 5), (1, 1), (2, 3, 1, 4)])
@pytest.mark.parametrize("layout", ["contiguous", "negative", "strided", "fortran"])
def test_walk_enumerates_every_position_once_in_order(shape, layout):
    a = relayout(np.arange(int(np.prod(shape))).reshape(shape), layout)
    b = np.empty(shape, dtype=np.float32)  # a second array, different layout
    strides = [element_strides(a), element_strides(b)]
    w = walk(shape, strides)
    for k, arr_strides in enumerate(strides):
        got = (w.offsets[k][:, None] + np.arange(w.inner) * w.strides[k]).ravel()
        np.testing.assert_array_equal(got, _addresses(arr_strides, shape))


def test_merges_contiguous_dims_and_keeps_absent_arrays_absent():
    x = np.empty((2, 3, 4, 5))
    w = walk((2, 4, 5), [element_strides(x)[:1] + element_strides(x)[2:], None])
    assert w.inner == 20 and len(w.offsets[0]) == 2 and w.offsets[1] is None
    y = np.empty((2, 4, 5))
    w = walk((2, 4, 5), [element_strides(y)])
    assert w.inner == 40 and list(w.offsets[0]) == [0]
