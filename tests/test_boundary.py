"""The compiled array-boundary predicates (pyx/_boundary.pyx) against their definitions
written in Python, and the header key's promise: equal keys, equal headers."""
import numpy as np
import pytest

from onnxlosses import _boundary
from onnxlosses._layout import element_strides, overlaps_itself, walkable

from helpers import LAYOUTS, relayout


def _walkable(arr):
    return arr.flags.aligned and all(s % arr.itemsize == 0 for s in arr.strides)


def _overlaps_itself(arr):
    dims = sorted((abs(st), n) for st, n in zip(arr.strides, arr.shape) if n > 1)
    extent = arr.itemsize
    for st, n in dims:
        if st < extent:
            return True
        extent = st * (n - 1) + extent
    return False


def _arrays():
    """Arrays of every kind the boundary meets: layouts, zero and interleaved strides,
    unaligned data, strides that are not whole elements, empty and 0-d arrays."""
    base = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    out = [relayout(base, layout) for layout in LAYOUTS]
    out += [np.broadcast_to(base[:, :1], base.shape), base[:, ::2, ::-1], base.T,
            np.float32(3.0) * np.ones(()), np.empty((0, 3)), np.empty((3, 0, 2))]
    raw = np.zeros(200, np.uint8)
    out.append(raw[1:81].view(np.float32).reshape(4, 5))                   # unaligned
    out.append(np.zeros(6, dtype=[("a", np.uint8), ("b", np.float32)])["b"])  # stride 5
    out.append(np.lib.stride_tricks.as_strided(base, (3, 4), (8, 4)))    # interleaved
    out.append(np.lib.stride_tricks.as_strided(base, (3, 3), (4, 4)))    # overlapping
    out.append(np.lib.stride_tricks.as_strided(base, (2, 2), (2 ** 62, 4)))  # huge extent
    return out


@pytest.mark.parametrize("arr", _arrays(), ids=lambda a: f"{a.shape}-{a.strides}")
def test_predicates_match_their_python_definitions(arr):
    assert walkable(arr) == _walkable(arr)
    assert overlaps_itself(arr) == _overlaps_itself(arr)
    if _walkable(arr):
        assert element_strides(arr) == tuple(s // arr.itemsize for s in arr.strides)
    else:
        with pytest.raises(ValueError, match="reached a kernel uncopied"):
            element_strides(arr)


def test_equal_keys_mean_equal_headers():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    variants = {
        "same": x.copy(),
        "float64": x.astype(np.float64),
        "channels_last": relayout(x, "channels_last"),
        "negative": relayout(x, "negative"),
        "shape": x.reshape(4, 15),
        "swapped": x.astype(">f4"),
        "read_only": np.frombuffer(x.tobytes(), np.float32).reshape(x.shape),
        "unaligned": np.zeros(61 * 4 + 1, np.uint8)[1:].view(np.float32)[:60].reshape(4, 3, 5),
    }
    keys = {name: _boundary.header_key(a) for name, a in variants.items()}
    assert keys["same"] == _boundary.header_key(x)
    others = [k for name, k in keys.items() if name != "same"]
    assert len(set(others)) == len(others) and keys["same"] not in others
    # positions matter: (x, None) is not (None, x)
    assert _boundary.header_key(x, None) != _boundary.header_key(None, x)


class _Subclass(np.ndarray):
    pass


@pytest.mark.parametrize("value", [[1.0, 2.0], np.ma.masked_array([1.0]),
                                   np.array(["a"]), np.array([1 + 2j]),
                                   np.array([1.0], dtype=object),
                                   np.zeros(2).view(_Subclass)],
                         ids=lambda v: type(v).__name__ + str(getattr(v, "dtype", "")))
def test_anything_but_plain_arrays_has_no_key(value):
    assert _boundary.header_key(np.zeros(3), value) is None


@pytest.mark.parametrize("dtype", ["<f2", "<f4", "<f8", ">f4", ">f8"])
def test_float_scalar_is_numpys_scalar(dtype):
    """The loss value's scalar: NumPy's constructor's type and bits, NaN, infinities,
    overflow to inf, subnormals and rounding included, whatever the byte order."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(5)
    values = list(rng.standard_normal(2000) * 10.0 ** rng.integers(-320, 300, 2000)) + [
        np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 5e-324, 1e-45, 7e-46, 65504.0, 65520.0,
        3.4028235677973366e38, 3.4028236e38, 1e300, 1 + 2.0 ** -24, 1 + 3 * 2.0 ** -25]
    with np.errstate(over="ignore"):
        for v in values:
            got, want = _boundary.float_scalar(v, dtype), dtype.type(v)
            assert type(got) is type(want) and got.tobytes() == want.tobytes(), v
