"""Parity harness: one loss, one batch, every path, one report.

Paths: the kernel (in the input's dtype), each requested onnxruntime provider running the
exported graph, onnx's ReferenceEvaluator, and PyTorch (its own loss, or the loss composed
from its ops: `onnxlosses.references`).  The oracle of every path is the loss's float64
NumPy reference, written from its formula independently of the kernels
(`onnxlosses.references.numpy_reference`), rounded to the tested dtype (so a value beyond
float16's range is inf on the oracle too); each result names it in `oracle`.  A provider
that is not there, PyTorch missing, or a session whose loss math did not run on the
requested provider, is reported as such, never as a pass.

Documented differences (docs/parity.md):
- onnx.reference computes LogSoftmax as log(softmax): a position whose logits span more than
  the exponent range (about 87 in float32, 708 in float64) gives inf there.  Such a run is a
  "known-difference", not a failure.  Its NegativeLogLikelihoodLoss (impl="native") divides
  the mean by the wrong count when ignore_index is negative: also a known difference.
- onnxruntime nodes that only compute shapes may sit on CPU under any provider; any other
  node on another provider makes the run "fallback".
- PyTorch (docs/semantics.md, "Where onnxlosses deliberately differs"): a probability target 0 on a
  class whose logit is -inf is NaN there (0 * -inf), and non-finite logits at positions
  that are not counted give a NaN gradient there: "known-difference" when they mismatch.
- onnx.reference before onnx 1.23 raises on an empty batch: a "known-difference" there.
"""
import math
import re
import warnings
from dataclasses import dataclass, field

import numpy as np

TOLERANCES = {  # |got - want| <= atol * max(1, |want|) + rtol * |want|
    "float64": dict(rtol=1e-9, atol=1e-12),
    "float32": dict(rtol=2e-5, atol=2e-6),
    "float16": dict(rtol=1e-2, atol=2e-3),
}
SHAPE_OPS = {"Shape", "Size"}
ORACLE = "numpy-float64"     # onnxlosses.references.numpy_reference, rounded to the dtype


@dataclass
class PathResult:
    path: str
    status: str                 # pass | fail | fallback | unavailable | error | known-difference
    value: object = None
    max_abs: float = math.nan   # of the value(s)
    max_rel: float = math.nan
    grad_max_abs: float = math.nan
    providers: list = None      # onnxruntime: session.get_providers()
    fallback_nodes: list = field(default_factory=list)
    note: str = ""
    oracle: str = ""            # what value and gradient were checked against
    passed_on: str = ""         # a pass: "relative" (within rtol everywhere) or "absolute"
                                # (some value needed the atol term)


@dataclass
class ParityReport:
    loss: str
    dtype: str
    shape: tuple
    opset: int
    impl: str
    tolerance: dict
    results: list
    oracle: str = ORACLE
    notes: list = field(default_factory=list)   # about the comparison itself (overflow)

    @property
    def ok(self):
        """No path failed, fell back or errored (unavailable paths are not passes either,
        but they are not mismatches)."""
        return all(r.status in ("pass", "unavailable", "known-difference") for r in self.results)

    def table(self):
        head = f"{self.loss} {self.dtype} {self.shape} opset {self.opset} ({self.impl})"
        lines = [head, f"  {'path':<38} {'status':<17} {'value':>14} {'max abs':>10} "
                       f"{'max rel':>10} {'grad abs':>10}  {'oracle':<13}  note"]
        for r in self.results:
            v = "" if r.value is None else (f"{float(r.value):.7g}" if np.ndim(r.value) == 0
                                             else f"array{np.shape(r.value)}")
            lines.append(f"  {r.path:<38} {r.status:<17} {v:>14} {r.max_abs:10.2e} "
                         f"{r.max_rel:10.2e} {r.grad_max_abs:10.2e}  {r.oracle or '-':<13}  "
                         f"{r.note}")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def as_dict(self):
        def clean(v):
            if isinstance(v, np.ndarray):
                return v.tolist() if v.size <= 16 else f"array{v.shape}"
            if isinstance(v, (np.floating, float)):
                return None if math.isnan(v) else float(v)
            return v
        return dict(loss=self.loss, dtype=self.dtype, shape=list(self.shape), opset=self.opset,
                    impl=self.impl, ok=self.ok, tolerance=self.tolerance, oracle=self.oracle,
                    notes=self.notes,
                    results=[{k: clean(v) for k, v in r.__dict__.items()} for r in self.results])


def _diff(got, want):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return math.inf, math.inf, False
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    with np.errstate(invalid="ignore"):     # inf - inf, in entries `same` already decides
        return _diff_of(got, want, same)


def _diff_of(got, want, same):
    # NaN on one side only is the largest difference there is, never 0
    d = np.where(same, 0.0, np.where(np.isnan(got) | np.isnan(want), math.inf,
                                     np.abs(got - want)))
    rel = np.where(same, 0.0, d / np.maximum(np.abs(want), 1e-300))
    max_abs = float(np.max(d)) if d.size else 0.0
    max_rel = float(np.max(rel)) if rel.size else 0.0
    return max_abs, max_rel, True


def _within(got, want, tol):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return False
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    finite = np.isfinite(got) & np.isfinite(want)
    with np.errstate(invalid="ignore"):     # inf entries: decided by `same` alone
        bound = tol["atol"] * np.maximum(1.0, np.abs(want)) + tol["rtol"] * np.abs(want)
        close = finite & (np.abs(got - want) <= np.where(finite, bound, 0))
    return bool(np.all(same | close))


def _shape_only_nodes(model):
    """Names of nodes whose inputs come only from Shape/Size outputs and constants."""
    derived = {init.name for init in model.graph.initializer}
    names = set()
    for node in model.graph.node:
        if node.op_type in SHAPE_OPS or all(i in derived for i in node.input if i):
            derived.update(node.output)
            names.add(node.name)
    return names


def _feeds(loss_inputs, model):
    names = [i.name for i in model.graph.input]
    return {n: loss_inputs[n] for n in names}


def _run_onnxruntime(model, feeds, provider, grad):
    import onnxruntime as ort
    path = f"onnxruntime:{provider}"
    available = ort.get_available_providers()
    if provider not in available:
        return PathResult(path, "unavailable",
                          note=f"this onnxruntime build has no {provider} ({available})")
    opts = ort.SessionOptions()
    opts.add_session_config_entry("session.record_ep_graph_assignment_info", "1")
    order = [provider] + (["CPUExecutionProvider"] if provider != "CPUExecutionProvider" else [])
    try:
        sess = ort.InferenceSession(model.SerializeToString(), opts, providers=order)
    except Exception as exc:  # noqa: BLE001 - reported, not hidden
        return PathResult(path, "error", note=f"session: {exc}".splitlines()[0][:200])
    used = sess.get_providers()
    if provider not in used:
        # onnxruntime-gpu lists CUDA even without a GPU and falls back silently.
        return PathResult(path, "unavailable", providers=used,
                          note=f"session did not get {provider} (fell back to {used})")
    fallback, note = [], ""
    if hasattr(sess, "get_provider_graph_assignment_info"):
        shape_only = _shape_only_nodes(model)
        for sub in sess.get_provider_graph_assignment_info():
            if sub.ep_name != provider:
                fallback += [f"{n.op_type}:{n.name}" for n in sub.get_nodes()
                             if n.name not in shape_only]
    elif provider != "CPUExecutionProvider":
        # onnxruntime reports per-node providers from 1.24.1 on; CPU alone cannot fall back
        note = (f"placement unknown: onnxruntime {ort.__version__} does not report which "
                "provider ran each node (1.24.1 and later do)")
    try:
        outs = sess.run(None, feeds)
    except Exception as exc:  # noqa: BLE001
        return PathResult(path, "error", providers=used, note=str(exc).splitlines()[0][:200])
    res = PathResult(path, "pending", value=outs[0], providers=used, fallback_nodes=fallback,
                     note=note)
    res.grad = outs[1] if grad else None
    return res


def _run_reference(model, feeds, grad, empty):
    import onnx
    from onnx.reference import ReferenceEvaluator
    try:
        with np.errstate(all="ignore"):  # its log(softmax) overflows by design; reported
            outs = ReferenceEvaluator(model).run(None, feeds)
    except Exception as exc:  # noqa: BLE001
        note = str(exc).splitlines()[0][:200]
        if empty and _version(onnx.__version__) < (1, 23):
            return PathResult("onnx.reference", "known-difference",
                              note=f"onnx.reference before 1.23 fails on an empty batch "
                                   f"(onnx {onnx.__version__}: {note})")
        return PathResult("onnx.reference", "error", note=note)
    res = PathResult("onnx.reference", "pending", value=outs[0])
    res.grad = outs[1] if grad else None
    return res


def _version(text):
    """(major, minor) of a version string such as '1.22.0' or '1.23.0rc1'."""
    return tuple(int(part) for part in re.findall(r"\d+", text)[:2])


def _reference_known_issue(model, x):
    """Why onnx.reference may legitimately disagree on this input, or None: decided by the
    operators the exported graph holds, not by which loss it is."""
    nodes = {n.op_type: n for n in model.graph.node}
    if nodes.keys() & {"LogSoftmax", "SoftmaxCrossEntropyLoss", "NegativeLogLikelihoodLoss"}:
        xs = np.asarray(x, dtype=np.float64)
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)     # an all-NaN position
            gap = np.nanmax(xs, axis=1) - np.nanmin(xs, axis=1) if xs.size else np.zeros(0)
        limit = 708.0 if x.dtype == np.float64 else 87.0
        if gap.size and np.nanmax(gap) > limit:
            return "onnx.reference computes log(softmax): logit gaps beyond the exponent range"
    nll = nodes.get("NegativeLogLikelihoodLoss")
    if nll is not None:
        from onnx.helper import get_attribute_value
        attrs = {a.name: get_attribute_value(a) for a in nll.attribute}
        if attrs.get("ignore_index", 0) < 0 and attrs.get("reduction", b"mean") == b"mean":
            return "onnx.reference NegativeLogLikelihoodLoss miscounts a negative ignore_index"
    return None


def _c_order(a):
    """`a` if it is C-ordered and aligned, else a C-ordered copy (np.ascontiguousarray
    would turn a 0-d target into shape (1,))."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous and a.flags.aligned else np.array(a, order="C")


def _torch_known_issue(x, target):
    """Why PyTorch may legitimately disagree on this input (docs/semantics.md, "Where onnxlosses
    deliberately differs from PyTorch"), or None."""
    xs = np.asarray(x, dtype=np.float64)
    t = np.asarray(target)
    if t.dtype.kind == "f" and t.shape == xs.shape and np.any(np.isneginf(xs)):
        return "PyTorch: a probability target 0 where the logit is -inf gives 0 * -inf = NaN"
    if not np.all(np.isfinite(xs)):
        return "PyTorch: non-finite input at positions not counted gives a NaN gradient there"
    return None


def _run_torch(loss, x, target, mask, grad):
    from .references import Unavailable, torch_reference
    try:
        with np.errstate(all="ignore"):
            v, g = torch_reference(loss, x, target, mask=mask)
    except Unavailable as exc:
        return PathResult("torch", "unavailable", note=str(exc))
    except Exception as exc:  # noqa: BLE001
        return PathResult("torch", "error", note=str(exc).splitlines()[0][:200])
    res = PathResult("torch", "pending", value=v)
    res.grad = g if grad else None
    return res


def _providers(providers):
    """The providers to try, as a list: None is CPU and CUDA, one name is that provider;
    a name onnxruntime does not know is an error (it could never run, so never pass)."""
    if providers is None:
        return ["CPUExecutionProvider", "CUDAExecutionProvider"]
    if isinstance(providers, str):
        providers = [providers]
    elif not isinstance(providers, (list, tuple)):
        raise TypeError(f"providers must be None, a provider name or a list of them, "
                        f"got {type(providers).__name__}")
    import onnxruntime as ort
    known = ort.get_all_providers()
    for p in providers:
        if not isinstance(p, str):
            raise TypeError(f"providers must hold provider names (str), got {p!r}")
        if p not in known:
            raise ValueError(f"providers must be onnxruntime provider names such as "
                             f"'CPUExecutionProvider' (onnxruntime knows {', '.join(known)}), "
                             f"got {p!r}")
    if not providers:
        raise ValueError("providers must name at least one onnxruntime provider, got []")
    return list(providers)


def export_for(loss, x, t, *, mask=None, opset=None, impl="composed", grad=True):
    """The graph `check` runs for this batch: the batch's C fixed in the graph (a scalar
    alpha needs it), the other dims symbolic; a gradient output only in the composed form
    (the native operators have none).  Raises ValueError where `impl` cannot express the
    loss."""
    return loss.to_onnx(opset=opset, dtype=x.dtype.name,
                        target_dtype=x.dtype.name if t.dtype.kind == "f" else t.dtype.name,
                        shape=[None, x.shape[1]] + [None] * (x.ndim - 2)
                        if x.ndim >= 2 else None,
                        ndim=x.ndim, grad=grad and impl == "composed", impl=impl,
                        mask=mask is not None)


def check(loss, input, target, providers=None, *, mask=None, grad=True, opset=None,
          impl="composed"):
    """Run `loss` on (input, target[, mask]) through every path; return a ParityReport.

    providers: onnxruntime providers to try, a list or one name (default: CPU and CUDA;
    one this machine's onnxruntime cannot run is reported "unavailable", never left out
    and never a pass; a name onnxruntime does not know is a ValueError).
    grad: also compare gradients (d sum(loss) / d input).
    Arrays may come in any memory layout; the paths that need C order get a copy.

    Raises TypeError for an input that is not float16/32/64, a target that is neither
    integer class indices nor floats, a mask that is not boolean, providers that are not
    names; ValueError for a provider onnxruntime does not know.
    """
    from ._checks import FLOAT_DTYPES, INDEX_DTYPES, boolean
    x = np.asarray(input)
    t = np.asarray(target)
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"input must be float16, float32 or float64, got dtype {x.dtype}")
    if t.dtype not in FLOAT_DTYPES + INDEX_DTYPES:
        raise TypeError(f"target must be class indices (uint8, int16, int32, int64) or "
                        f"float16/32/64, got dtype {t.dtype}")
    if mask is not None and np.asarray(mask).dtype != np.bool_:
        raise TypeError(f"mask must be a boolean array or None, got dtype "
                        f"{np.asarray(mask).dtype}")
    grad = boolean("grad", grad)
    providers = _providers(providers)
    dtype = x.dtype.name
    tol = TOLERANCES[dtype]
    from .onnx import DEFAULT_OPSET
    opset = DEFAULT_OPSET if opset is None else opset

    from .references import numpy_reference
    # the oracle: the loss's formula in float64 (a batch the loss refuses raises here)
    with np.errstate(all="ignore"):
        want_v, want_g = numpy_reference(loss, x, t, mask=mask)
    # The best a path can return is the oracle rounded to the tested dtype: a float16
    # gradient of 1e12 is inf on every path, and that is agreement, not a mismatch.
    notes = []
    with np.errstate(over="ignore", invalid="ignore"):
        for what, exact in (("value", want_v), ("gradient", want_g)):
            exact = np.asarray(exact, dtype=np.float64)
            beyond = int(np.count_nonzero(np.isfinite(exact)
                                          & np.isinf(exact.astype(dtype))))
            if beyond:
                notes.append(f"the oracle's {what} is beyond {dtype}'s range at {beyond} "
                             f"element(s) (largest {np.max(np.abs(exact[np.isfinite(exact)])):.3g}"
                             f"): compared as {dtype} represents it, +-inf, on every path")
        want_v = np.asarray(want_v).astype(dtype).astype(np.float64)
        want_g = np.asarray(want_g).astype(dtype).astype(np.float64)
    relative = dict(rtol=tol["rtol"], atol=0.0)
    results = []

    def finish(res, known=None):
        if res.status != "pending":
            results.append(res)
            return
        res.oracle = ORACLE
        res.max_abs, res.max_rel, same_shape = _diff(res.value, want_v)
        ok = same_shape and _within(res.value, want_v, tol)
        g = getattr(res, "grad", None)
        if grad and g is not None:
            res.grad_max_abs = _diff(g, want_g)[0]
            ok = ok and _within(g, want_g, tol)
        if res.fallback_nodes:
            res.status = "fallback"
            res.note = (f"{len(res.fallback_nodes)} loss node(s) ran on another provider: "
                        + ", ".join(sorted({n.split(':')[0] for n in res.fallback_nodes})))
        elif ok:
            res.status = "pass"
            on_rel = _within(res.value, want_v, relative) and (
                not grad or g is None or _within(g, want_g, relative))
            res.passed_on = "relative" if on_rel else "absolute"
        elif known:
            res.status, res.note = "known-difference", known
        else:
            res.status = "fail"
        results.append(res)

    try:
        with np.errstate(over="ignore"):    # a float16 result beyond range is inf: compared
            kv, kg = loss.value_and_grad(x, t, mask=mask)
        res = PathResult("kernel", "pending", value=kv)
        res.grad = kg
    except Exception as exc:  # noqa: BLE001
        res = PathResult("kernel", "error", note=str(exc).splitlines()[0][:200])
    finish(res)

    try:
        model = export_for(loss, x, t, mask=mask, opset=opset, impl=impl, grad=grad)
    except Exception as exc:  # noqa: BLE001
        results.append(PathResult("to_onnx", "error", note=str(exc).splitlines()[0][:200]))
        model = None
    if model is not None:
        # runtimes get C-ordered copies: the graph sees values, never strides
        inputs = {"input": _c_order(x), "target": _c_order(t)}
        if mask is not None:
            inputs["mask"] = _c_order(mask)
        feeds = _feeds(inputs, model)
        with_grad = grad and impl == "composed"
        for provider in providers:
            finish(_run_onnxruntime(model, feeds, provider, with_grad))
        finish(_run_reference(model, feeds, with_grad, x.size == 0),
               _reference_known_issue(model, x))
    finish(_run_torch(loss, x, t, mask, grad), _torch_known_issue(x, t))
    return ParityReport(repr(loss), dtype, x.shape, opset, impl, tol, results, notes=notes)
