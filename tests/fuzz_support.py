"""Shared machinery of the property-based fuzzer (tests/test_fuzz_*.py).

- Hypothesis profiles: "ci" (the default: derandomized, few examples, part of `make test`)
  and "fuzz" (`make fuzz`, HYPOTHESIS_PROFILE=fuzz: random, FUZZ_FACTOR times as many
  examples, failures kept in .hypothesis/ and replayed first).
- Memory layouts: the same values stored contiguously, in Fortran order, with axes permuted
  (channels-last and every other order), flipped (negative strides), stepped (non-unit
  strides), as a field of a structured array (byte strides that are not a multiple of the
  item size), unaligned (offset 1 in a bytearray), broadcast (zero strides), read-only.
  Every array keeps its whole backing buffer, so a test can check that a call changed no
  byte of its arguments, and no byte around an `out=` view.
- Comparison with a float64 reference: NaN = NaN, inf = inf, otherwise a tolerance per
  dtype (float16 is computed in float32 and rounded once).
- Error checks: a refused call raises ValueError or TypeError naming the argument.

The references themselves (tests/fuzz_refs.py) are written from the README's formulas.
"""
import os
import re
from dataclasses import dataclass

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ_FACTOR = int(os.environ.get("ONNXLOSSES_FUZZ_FACTOR", "20"))
_HEALTH = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much,
           HealthCheck.large_base_example]
settings.register_profile("ci", derandomize=True, database=None, deadline=None,
                          print_blob=True, suppress_health_check=_HEALTH)
settings.register_profile("fuzz", derandomize=False, deadline=None, print_blob=True,
                          suppress_health_check=_HEALTH)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)


def budget(n):
    """Examples for one fuzz test: n in the normal suite, FUZZ_FACTOR * n under make fuzz."""
    return settings(max_examples=n * FUZZ_FACTOR if PROFILE == "fuzz" else n)


FLOATS = (np.float16, np.float32, np.float64)
INDEX = (np.uint8, np.int16, np.int32, np.int64)


# -- memory layouts ---------------------------------------------------------------------

@dataclass
class Layout:
    kind: str = "c"            # c | f | step | field | unaligned
    perm: tuple = ()           # storage axis order (the view transposes it back)
    flips: tuple = ()          # axes stored reversed (the view has negative strides there)
    step: int = 1              # kind "step": every step-th element along step_axis
    step_axis: int = -1
    pad_before: bool = False   # kind "field": a byte before the field (unaligned too)
    broadcast: tuple = ()      # axes the view repeats with stride 0 (values repeat too)
    readonly: bool = False

    def __repr__(self):
        parts = [self.kind]
        if self.perm and list(self.perm) != sorted(self.perm):
            parts.append(f"perm={self.perm}")
        if self.flips:
            parts.append(f"flip={self.flips}")
        if self.kind == "step":
            parts.append(f"step={self.step}@{self.step_axis}")
        if self.kind == "field" and self.pad_before:
            parts.append("pad_before")
        if self.broadcast:
            parts.append(f"bcast={self.broadcast}")
        if self.readonly:
            parts.append("ro")
        return "Layout(" + ", ".join(parts) + ")"


@st.composite
def layouts(draw, ndim, *, allow_broadcast=True, allow_readonly=True, plain=False):
    """A memory layout for an array of rank `ndim`."""
    if plain:
        return Layout(perm=tuple(range(ndim)))
    kind = draw(st.sampled_from(["c", "c", "f", "step", "field", "unaligned"]))
    perm = tuple(draw(st.permutations(range(ndim)))) if ndim > 1 and draw(st.booleans()) \
        else tuple(range(ndim))
    flips = tuple(a for a in range(ndim) if draw(st.integers(0, 3)) == 0)
    lay = Layout(kind=kind, perm=perm, flips=flips)
    if kind == "step" and ndim:
        lay.step = draw(st.integers(2, 3))
        lay.step_axis = draw(st.integers(0, ndim - 1))
    if kind == "field":
        lay.pad_before = draw(st.booleans())
    if allow_broadcast and ndim and draw(st.integers(0, 5)) == 0:
        lay.broadcast = (draw(st.integers(0, ndim - 1)),)
    if allow_readonly:
        lay.readonly = draw(st.booleans())
    return lay


class Placed:
    """An array in some layout and the buffer that owns its bytes (uint8, every byte the
    view's storage spans, and more)."""

    def __init__(self, view, base, layout):
        self.view, self.base, self.layout = view, base, layout

    def __repr__(self):
        v = self.view
        vals = np.array2string(np.asarray(v), threshold=12, edgeitems=2, separator=",")
        return f"{v.dtype}{v.shape} {self.layout!r} strides={v.strides}: {' '.join(vals.split())}"

    def snapshot(self):
        return self.base.copy()

    def unchanged_since(self, snap):
        return np.array_equal(self.base, snap)


def _storage(shape, dtype, lay):
    """(storage array of `shape` in the layout's kind, uint8 view of its whole buffer)."""
    dtype = np.dtype(dtype)
    if lay.kind == "f":
        arr = np.zeros(shape, dtype, order="F")
        return arr, arr.reshape(-1, order="A").view(np.uint8) if arr.size else \
            np.zeros(0, np.uint8)
    if lay.kind == "step" and shape:
        axis = lay.step_axis % len(shape)
        big = list(shape)
        big[axis] = shape[axis] * lay.step + 1
        whole = np.zeros(big, dtype)
        sl = [slice(None)] * len(shape)
        sl[axis] = slice(1, None, lay.step)
        return whole[tuple(sl)][tuple(slice(0, s) for s in shape)], whole.view(np.uint8).ravel()
    if lay.kind == "field":
        fields = ([("pad0", "u1")] if lay.pad_before else []) + [("x", dtype), ("pad", "u1")]
        rec = np.zeros(shape, fields)
        raw = rec.reshape(-1).view(np.uint8) if rec.size else np.zeros(0, np.uint8)
        return rec["x"], raw
    if lay.kind == "unaligned" and dtype.itemsize > 1:
        n = int(np.prod(shape)) * dtype.itemsize
        buf = np.zeros(n + 1, np.uint8)
        arr = np.ndarray(shape, dtype, buffer=buf.data, offset=1)
        return arr, buf
    arr = np.zeros(shape, dtype)
    return arr, arr.reshape(-1).view(np.uint8)


def place(values, dtype, lay):
    """`values` (cast to dtype) as a view in layout `lay`.  Broadcast axes repeat the first
    slice of `values` along them: read np.array(placed.view) for the values actually held."""
    values = np.asarray(values)
    ndim = values.ndim
    shape = values.shape
    src = values
    bshape = shape
    if lay.broadcast:
        sl = tuple(slice(0, 1) if a in lay.broadcast else slice(None) for a in range(ndim))
        src = values[sl]
        bshape = src.shape
    perm = lay.perm if len(lay.perm) == ndim else tuple(range(ndim))
    flips = tuple(a for a in lay.flips if a < ndim)
    stored_vals = np.flip(src, flips) if flips else src
    stored_vals = np.transpose(stored_vals, perm)
    storage, raw = _storage(stored_vals.shape, dtype, lay)
    with np.errstate(all="ignore"):
        storage[...] = stored_vals.astype(dtype) if np.dtype(dtype).kind != "b" else \
            stored_vals.astype(bool)
    view = np.transpose(storage, np.argsort(perm))
    if flips:
        view = np.flip(view, flips)
    if lay.broadcast:
        view = np.broadcast_to(view, shape)        # read-only by construction
    elif lay.readonly:
        view = view.view()
        view.flags.writeable = False
    assert view.shape == shape
    return Placed(view, raw, lay)


def out_buffer(shape, dtype, lay, fill=0x5A):
    """A writeable `out=` view in layout `lay`, inside a buffer filled with `fill` bytes.
    Returns (view, raw bytes of the whole buffer, a function that rebuilds the same view
    over another copy of the buffer)."""
    lay = Layout(kind=lay.kind, perm=lay.perm, flips=lay.flips, step=lay.step,
                 step_axis=lay.step_axis, pad_before=lay.pad_before)

    def build(raw=None):
        storage_shape = tuple(np.asarray(shape)[list(lay.perm)]) if len(lay.perm) == len(shape) \
            else tuple(shape)
        storage, whole = _storage(storage_shape, dtype, lay)
        if raw is None:
            whole[...] = fill
        else:
            whole[...] = raw
        perm = lay.perm if len(lay.perm) == len(shape) else tuple(range(len(shape)))
        view = np.transpose(storage, np.argsort(perm))
        flips = tuple(a for a in lay.flips if a < len(shape))
        if flips:
            view = np.flip(view, flips)
        return view, whole

    view, whole = build()
    return view, whole, build


def check_out_surroundings(out, whole, build, result):
    """Every byte of `out`'s buffer outside `out` is still the fill pattern, and `out` holds
    `result` (bitwise)."""
    want_view, want_whole = build(np.full(whole.shape, 0x5A, np.uint8))
    want_view[...] = result
    if not np.array_equal(whole, want_whole):
        bad = np.flatnonzero(whole != want_whole)
        raise AssertionError(f"out= wrote outside its elements or not the returned gradient: "
                             f"{bad.size} bytes differ, first at byte {bad[:8].tolist()} of "
                             f"{whole.size}")


# -- comparing with a reference ---------------------------------------------------------

EPS = {np.dtype(np.float16): 2.0 ** -11, np.dtype(np.float32): 2.0 ** -24,
       np.dtype(np.float64): 2.0 ** -53}


# float16 results are rounded once from float32; a gradient that cancels to the subnormal
# range may land a few of float16's subnormal steps (2^-24) away.  A float32 result in the
# subnormal range (a product of tiny factors, 1e-43) is only as exact as that grid: a few
# steps of 2^-149
SUBNORMAL_SLACK = {np.dtype(np.float16): 4 * 2.0 ** -24, np.dtype(np.float32): 4 * 2.0 ** -149,
                   np.dtype(np.float64): 4 * 2.0 ** -1074}


def tolerance(dtype, magnitude=1.0, k=64):
    """Relative tolerance of a result of `dtype` (float16 is computed in float32 and rounded
    once), `magnitude` the size of the logits it was computed from."""
    dtype = np.dtype(dtype)
    compute = np.dtype(np.float64) if dtype == np.float64 else np.dtype(np.float32)
    t = k * EPS[compute] * max(1.0, magnitude)
    if dtype == np.float16:
        t += 2 * EPS[dtype]
    return t


def assert_close(got, want, dtype, what, *, magnitude=1.0, scale=None, zero_ok=None, k=64):
    """got (the library's, in dtype) against want (float64 reference).

    Equal non-finite values match (NaN = NaN, inf = inf of the same sign); finite ones
    within tol * (|want| + scale), scale defaulting to the largest finite |want|.  Where
    `zero_ok` is True, a got of 0 is accepted for a NaN want (a position with no
    influence, multiplied by a NaN grad_output)."""
    got = np.asarray(got)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"{what}: shape {got.shape}, reference {want.shape}")
    if got.dtype != np.dtype(dtype):
        raise AssertionError(f"{what}: dtype {got.dtype}, expected {np.dtype(dtype)}")
    g = got.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = want.astype(dtype).astype(np.float64)     # what the dtype can hold
    finite_w = want[np.isfinite(want)]
    if scale is None:
        scale = float(np.max(np.abs(finite_w))) if finite_w.size else 0.0
    tol = tolerance(dtype, magnitude, k)
    slack = SUBNORMAL_SLACK[np.dtype(dtype)]
    same = (g == want) | (np.isnan(g) & np.isnan(want)) | (g == rounded) | \
        (np.isnan(g) & np.isnan(rounded))
    with np.errstate(invalid="ignore", over="ignore"):
        close = np.isfinite(g) & np.isfinite(want) & \
            (np.abs(g - want) <= tol * (np.abs(want) + scale) + slack)
        # float16: a reference within rounding of the overflow threshold may round either way
        fmax = float(np.finfo(dtype).max)
        edge = np.isinf(g) & np.isfinite(want) & (np.abs(want) >= fmax * (1 - 4 * tol)) & \
            (np.sign(g) == np.sign(want))
        # a tolerance band reaching past the dtype's range takes any value, inf included
        wide = np.isfinite(want) & (tol * (np.abs(want) + scale) >= fmax)
    ok = same | close | edge | wide
    if zero_ok is not None:
        ok |= np.broadcast_to(zero_ok, ok.shape) & (g == 0) & np.isnan(want)
    if not np.all(ok):
        idx = np.argwhere(~ok)
        first = tuple(idx[0]) if idx.size else ()
        g0, w0 = (g[first], want[first]) if got.ndim else (float(g), float(want))
        raise AssertionError(
            f"{what}: {int((~ok).sum())} of {ok.size} elements differ from the float64 "
            f"reference (tol {tol:.2e}, scale {scale:.3g}); first at {first}: got {g0!r}, "
            f"want {w0!r}")


def assert_names(exc, *names):
    """A refused call's message names one of the arguments it was about."""
    msg = str(exc)
    if not any(re.search(rf"\b{re.escape(n)}\b", msg) for n in names):
        raise AssertionError(f"{type(exc).__name__} message does not name "
                             f"{' / '.join(names)}: {msg!r}")


def magnitude(x):
    """The largest finite |x| (1 when there is none)."""
    a = np.asarray(x, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(np.max(np.abs(a))) if a.size else 1.0


# -- values ------------------------------------------------------------------------------

@st.composite
def shapes(draw, min_rank=1, max_rank=5, max_side=5, max_size=240, empty=True):
    """A shape of rank min_rank..max_rank, sides 0..max_side (0 only when `empty`)."""
    rank = draw(st.integers(min_rank, max_rank))
    lo = 0 if empty and draw(st.integers(0, 7)) == 0 else 1
    sides = draw(st.lists(st.integers(lo, max_side), min_size=rank, max_size=rank))
    while int(np.prod(sides)) > max_size:
        i = int(np.argmax(sides))
        sides[i] -= 1
    return tuple(sides)


SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e4, -1e4, 80.0, -80.0, 700.0, -700.0,
           1e-30, 5e-324]


@st.composite
def logits(draw, shape, *, specials=True, scale=None):
    """Float64 values for an input of `shape`: normal noise times a scale, and sometimes a
    few special values (NaN, inf, huge, tiny)."""
    n = int(np.prod(shape))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    s = draw(st.sampled_from([0.1, 1.0, 3.0, 30.0])) if scale is None else scale
    x = rng.standard_normal(n) * s
    if specials and n and draw(st.integers(0, 4)) == 0:
        k = draw(st.integers(1, min(3, n)))
        for _ in range(k):
            x[draw(st.integers(0, n - 1))] = draw(st.sampled_from(SPECIAL))
    return x.reshape(shape)


def rng_from(draw):
    return np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))


# -- one call, checked -------------------------------------------------------------------

class Case:
    """One call of the public API.  entry: "call" (loss(...)), "functional",
    "value_and_grad", or "value_and_grad_out" (with out=)."""

    def __init__(self, loss, entry, x, t, mask=None, go=None, out=None, functional=None,
                 bad=()):
        self.loss, self.entry, self.x, self.t, self.mask = loss, entry, x, t, mask
        self.go = go                  # None, a scalar, or a Placed array
        self.out = out                # out_buffer(...) when entry is value_and_grad_out
        self.functional = functional  # f(input, target, mask=...) for entry "functional"
        self.bad = tuple(bad)         # arguments the call must refuse, known to the strategy

    def arrays(self):
        return [a for a in (self.x, self.t, self.mask, self.go) if isinstance(a, Placed)]

    def go_value(self):
        return self.go.view if isinstance(self.go, Placed) else self.go

    def __repr__(self):
        def show(p):
            return repr(p) if isinstance(p, Placed) else repr(p)
        parts = [f"loss={self.loss!r}", f"entry={self.entry}", f"x={show(self.x)}",
                 f"t={show(self.t)}"]
        if self.mask is not None:
            parts.append(f"mask={show(self.mask)}")
        if self.go is not None:
            parts.append(f"grad_output={show(self.go)}")
        if self.out is not None:
            parts.append(f"out={self.out[0].dtype}{self.out[0].shape} strides "
                         f"{self.out[0].strides}")
        return "Case(" + ", ".join(parts) + ")"


def reference_grad_output(case):
    """(grad_output for the reference as float64, whether it had NaN / inf entries, which
    are replaced by 1 there)."""
    go = case.go_value()
    if go is None or case.bad:
        return None, False
    arr = np.array(go, dtype=np.float64)
    nonfinite = not bool(np.all(np.isfinite(arr)))
    arr = np.where(np.isfinite(arr), arr, 1.0)
    return (arr if np.ndim(go) else float(arr)), nonfinite


def run_case(case, reference, *, mag=1.0, value_scale=None, grad_scale=None, k=64,
             check_grad=True):
    """Run `case`; compare with reference(want_grad, grad_output) -> (value, grad), which
    raises Refused(names) when the call must fail.  Checks: the result (or a ValueError /
    TypeError naming an expected argument), no byte of the arguments changed, and no byte
    of out='s buffer outside out (nor inside it, when the call was refused).  Returns the
    reference's (value, grad) when the call succeeded, else None.

    A grad_output holding NaN or inf: the gradient must be NaN or inf wherever the
    gradient with those entries set to 1 is not 0 (NaN in, NaN out), and 0 or NaN where it
    is 0; elsewhere equal to it.  check_grad=False: a known gap (tests/test_fuzz_findings.py)
    makes the gradient's values wrong here; everything else is still checked.  value_scale,
    grad_scale: the size of the terms the value / gradient elements are made of (their
    rounding errors are relative to that, not to a result that cancels or underflows)."""
    from fuzz_refs import Refused
    import pytest

    snaps = [(p, p.snapshot()) for p in case.arrays()]
    want_grad = case.entry.startswith("value_and_grad")
    go, nonfinite_go = reference_grad_output(case)
    expected = set(case.bad)
    ref = None
    try:
        # with a refused grad_output, only the other arguments' refusals are of interest
        ref = reference(want_grad and not case.bad, go)
    except Refused as r:
        expected |= set(r.args)
    mask = None if case.mask is None else case.mask.view
    x, t = case.x.view, case.t.view

    def call():
        with np.errstate(all="ignore"):
            if case.entry == "call":
                return case.loss(x, t, mask=mask), None
            if case.entry == "functional":
                return case.functional(x, t, mask=mask), None
            out = case.out[0] if case.out is not None else None
            return case.loss.value_and_grad(x, t, case.go_value(), out, mask=mask)

    if expected:
        with pytest.raises((ValueError, TypeError)) as info:
            call()
        assert_names(info.value, *sorted(expected))
        if case.out is not None:
            assert np.all(case.out[1] == 0x5A), "a refused call wrote into out="
        ref = None
    else:
        value, grad = call()
        dtype = np.asarray(x).dtype
        assert_close(value, ref[0], dtype, "value", magnitude=mag, scale=value_scale, k=k)
        if want_grad:
            assert grad.shape == x.shape, f"gradient shape {grad.shape}, input {x.shape}"
            if not check_grad:
                pass
            elif nonfinite_go:
                g = np.asarray(grad, np.float64)
                r = np.asarray(ref[1])
                tol = tolerance(dtype, mag, k)
                # relative to the terms' size, as below: a gradient that is 0 in exact
                # arithmetic (one class, probability targets) is a rounding residue
                gs = max(grad_scale or 0.0, np.max(np.abs(r[np.isfinite(r)]), initial=0.0))
                near = np.abs(g - r) <= tol * (np.abs(r) + gs) + SUBNORMAL_SLACK[np.dtype(dtype)]
                ok = np.where(r != 0, ~np.isfinite(g) | near,
                              (g == 0) | ~np.isfinite(g) | near)   # 0 * inf, or a residue
                assert np.all(ok), (f"gradient with a NaN / inf grad_output: {g[~ok][:4]} where "
                                    f"the finite gradient is {r[~ok][:4]}")
            else:
                r = np.asarray(ref[1], np.float64)
                fin = r[np.isfinite(r)]
                gs = max(grad_scale or 0.0, float(np.max(np.abs(fin))) if fin.size else 0.0)
                # grad_output 0: the library's product is 0 where a factor is 0, IEEE's NaN
                zero_go = go is not None and not np.any(np.asarray(go))
                assert_close(grad, ref[1], dtype, "gradient", magnitude=mag, scale=gs, k=k,
                             zero_ok=True if zero_go else None)
            if case.out is not None:
                assert grad is case.out[0], "value_and_grad(out=...) did not return out"
                check_out_surroundings(case.out[0], case.out[1], case.out[2], grad)
    for p, snap in snaps:
        assert p.unchanged_since(snap), f"the call changed an argument's bytes: {p.layout!r}"
    return ref


def value_scale(per, value):
    """Scale of a reduced value whose terms `per` may cancel: |value| * sum|per| / |sum per|."""
    per = np.asarray(per, np.float64)
    per = per[np.isfinite(per)]
    total = per.sum()
    v = float(np.abs(value)) if np.isfinite(value) else 0.0
    if total == 0 or not np.isfinite(total):
        return None
    return v * float(np.abs(per).sum()) / abs(float(total))


@st.composite
def grad_outputs(draw, reduction, loss_shape, *, allow_bad=True):
    """(grad_output, bad) for value_and_grad: None, a scalar of some Python / NumPy kind, or
    for reduction "none" an array of the loss's shape in some layout; occasionally of a type
    that must be refused (bad = ("grad_output",))."""
    kind = draw(st.sampled_from(["none", "value", "value", "special"] +
                                (["bad"] if allow_bad else [])))
    if kind == "none":
        return None, ()
    if kind == "bad":
        choice = draw(st.sampled_from(["complex", "str", "bool", "object", "shape"]))
        if reduction == "none":
            shape = loss_shape
            if choice == "shape":
                shape = tuple(loss_shape) + (2,)
                return np.ones(shape), ("grad_output",)
            dt = {"complex": np.complex128, "str": "U3", "bool": bool, "object": object}[choice]
            return np.ones(shape, dtype=dt), ("grad_output",)
        val = {"complex": 1 + 2j, "str": "1.0", "bool": True, "object": object(),
               "shape": np.ones(3)}[choice]
        return val, ("grad_output",)
    if reduction == "none":
        rng = rng_from(draw)
        vals = rng.standard_normal(loss_shape)
        if kind == "special" and vals.size:
            vals.flat[draw(st.integers(0, vals.size - 1))] = draw(
                st.sampled_from([np.nan, np.inf, 0.0, -0.0, 1e30]))
        dt = draw(st.sampled_from(FLOATS))
        lay = draw(layouts(len(loss_shape)))
        return place(vals, dt, lay), ()
    if kind == "special":
        return draw(st.sampled_from([np.nan, np.inf, 0.0, -0.0, -1e30])), ()
    v = draw(st.sampled_from([2.5, -1.0, 3, np.float32(0.5), np.float64(-2.0), np.array(1.5),
                              np.float16(2.0)]))
    return v, ()


@st.composite
def outs(draw, shape, dtype):
    """(out_buffer(...), bad): mostly a good out= in some layout inside a larger buffer,
    sometimes one of another dtype or shape, or read-only (bad = ("out",))."""
    kind = draw(st.sampled_from(["ok"] * 6 + ["dtype", "shape", "readonly"]))
    lay = draw(layouts(len(shape), allow_broadcast=False, allow_readonly=False))
    if kind == "dtype":
        other = draw(st.sampled_from([d for d in FLOATS + (np.int32,) if np.dtype(d) != dtype]))
        return out_buffer(shape, other, lay), ("out",)
    if kind == "shape":
        wrong = tuple(shape) + (1,) if draw(st.booleans()) or not shape else tuple(shape)[1:]
        lay = Layout(perm=tuple(range(len(wrong))))
        return out_buffer(wrong, dtype, lay), ("out",)
    out = out_buffer(shape, dtype, lay)
    if kind == "readonly":
        out[0].flags.writeable = False
        return out, ("out",)
    return out, ()


ENTRIES = ("call", "functional", "value_and_grad", "value_and_grad_out")


@st.composite
def entries(draw):
    """An entry point, uniformly (sampled_from leans to its first element as it explores)."""
    return ENTRIES[int(rng_from(draw).integers(len(ENTRIES)))]
