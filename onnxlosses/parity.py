"""Parity harness: one loss, one batch, every path, one report.

Paths: the kernel (in the input's dtype), each requested onnxruntime provider running the
exported graph, onnx's ReferenceEvaluator, and PyTorch when it is installed and has the loss.
The oracle is the float64 kernel on the same data upcast to float64, rounded to the tested
dtype (so a value beyond float16's range is inf on the oracle too).  A provider that is not
there, or a session whose loss math did not run on the requested provider, is reported as
such, never as a pass.

Documented differences (README, "Parity"):
- onnx.reference computes LogSoftmax as log(softmax): a position whose logits span more than
  the exponent range (about 87 in float32, 708 in float64) gives inf there.  Such a run is a
  "known-difference", not a failure.  Its NegativeLogLikelihoodLoss (impl="native") divides
  the mean by the wrong count when ignore_index is negative: also a known difference.
- onnxruntime nodes that only compute shapes may sit on CPU under any provider; any other
  node on another provider makes the run "fallback".
- onnx.reference before onnx 1.23 raises on an empty batch: a "known-difference" there.
"""
import math
import re
from dataclasses import dataclass, field

import numpy as np

TOLERANCES = {  # |got - want| <= atol * max(1, |want|) + rtol * |want|
    "float64": dict(rtol=1e-9, atol=1e-12),
    "float32": dict(rtol=2e-5, atol=2e-6),
    "float16": dict(rtol=1e-2, atol=2e-3),
}
SHAPE_OPS = {"Shape", "Size"}


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


@dataclass
class ParityReport:
    loss: str
    dtype: str
    shape: tuple
    opset: int
    impl: str
    tolerance: dict
    results: list

    @property
    def ok(self):
        """No path failed, fell back or errored (unavailable paths are not passes either,
        but they are not mismatches)."""
        return all(r.status in ("pass", "unavailable", "known-difference") for r in self.results)

    def table(self):
        head = f"{self.loss} {self.dtype} {self.shape} opset {self.opset} ({self.impl})"
        lines = [head, f"  {'path':<38} {'status':<17} {'value':>14} {'max abs':>10} "
                       f"{'max rel':>10} {'grad abs':>10}  note"]
        for r in self.results:
            v = "" if r.value is None else (f"{float(r.value):.7g}" if np.ndim(r.value) == 0
                                             else f"array{np.shape(r.value)}")
            lines.append(f"  {r.path:<38} {r.status:<17} {v:>14} {r.max_abs:10.2e} "
                         f"{r.max_rel:10.2e} {r.grad_max_abs:10.2e}  {r.note}")
        return "\n".join(lines)

    def as_dict(self):
        def clean(v):
            if isinstance(v, np.ndarray):
                return v.tolist() if v.size <= 16 else f"array{v.shape}"
            if isinstance(v, (np.floating, float)):
                return None if math.isnan(v) else float(v)
            return v
        return dict(loss=self.loss, dtype=self.dtype, shape=list(self.shape), opset=self.opset,
                    impl=self.impl, ok=self.ok, tolerance=self.tolerance,
                    results=[{k: clean(v) for k, v in r.__dict__.items()} for r in self.results])


def _diff(got, want):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return math.inf, math.inf, False
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    d = np.where(same, 0.0, np.abs(got - want))
    rel = np.where(same, 0.0, d / np.maximum(np.abs(want), 1e-300))
    max_abs = float(np.max(d)) if d.size else 0.0
    max_rel = float(np.max(rel)) if rel.size else 0.0
    return (0.0 if math.isnan(max_abs) else max_abs), max_rel, True


def _within(got, want, tol):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return False
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    finite = np.isfinite(got) & np.isfinite(want)
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


def _reference_known_issue(loss, x, impl):
    """Why onnx.reference may legitimately disagree on this input, or None."""
    if loss.spec.name in ("cross_entropy", "focal_loss") or impl == "native":
        xs = np.asarray(x, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            gap = np.nanmax(xs, axis=1) - np.nanmin(xs, axis=1) if xs.size else np.zeros(0)
        limit = 708.0 if x.dtype == np.float64 else 87.0
        if gap.size and np.nanmax(gap) > limit:
            return "onnx.reference computes log(softmax): logit gaps beyond the exponent range"
    if impl == "native" and loss.config["ignore_index"] < 0 and \
            loss.config["reduction"] == "mean" and loss.spec.name == "nll_loss":
        return "onnx.reference NegativeLogLikelihoodLoss miscounts a negative ignore_index"
    return None


def _run_torch(loss, x, target, mask, grad):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return PathResult("torch", "unavailable", note="PyTorch is not installed")
    cfg = loss.config
    name = loss.spec.name
    if name not in ("cross_entropy", "nll_loss", "binary_cross_entropy",
                    "binary_cross_entropy_with_logits"):
        return PathResult("torch", "unavailable", note="PyTorch has no such loss")
    target = np.asarray(target)
    if mask is not None:
        if target.dtype.kind == "f":
            return PathResult("torch", "unavailable",
                              note="PyTorch has no mask for probability targets")
        target = np.where(mask, target, cfg["ignore_index"])
    xt = torch.tensor(np.asarray(x)).requires_grad_(True)
    tt = torch.tensor(target if target.dtype.kind == "f" else target.astype(np.int64))
    w = None if cfg["weight"] is None else torch.tensor(cfg["weight"], dtype=xt.dtype)
    try:
        if name == "nll_loss":
            v = F.nll_loss(xt, tt, weight=w, ignore_index=cfg["ignore_index"],
                           reduction=cfg["reduction"])
        elif name == "cross_entropy":
            v = F.cross_entropy(xt, tt, weight=w, ignore_index=cfg["ignore_index"],
                                reduction=cfg["reduction"],
                                label_smoothing=cfg["label_smoothing"])
        elif name == "binary_cross_entropy":
            v = F.binary_cross_entropy(xt, tt, reduction=cfg["reduction"],
                                       weight=None if w is None else w.expand_as(xt))
        else:
            pw = cfg["pos_weight"]
            v = F.binary_cross_entropy_with_logits(
                xt, tt, weight=w, reduction=cfg["reduction"],
                pos_weight=None if pw is None else torch.tensor(pw, dtype=xt.dtype))
        g = None
        if grad:
            v.sum().backward()
            g = xt.grad.numpy()
    except Exception as exc:  # noqa: BLE001
        return PathResult("torch", "error", note=str(exc).splitlines()[0][:200])
    res = PathResult("torch", "pending", value=v.detach().numpy())
    res.grad = g
    return res


def check(loss, input, target, providers=None, *, mask=None, grad=True, opset=None,
          impl="composed"):
    """Run `loss` on (input, target[, mask]) through every path; return a ParityReport.

    providers: onnxruntime providers to try (default: CPU and CUDA; one this machine's
    onnxruntime cannot run is reported "unavailable", never left out and never a pass).
    grad: also compare gradients (d sum(loss) / d input).
    """
    x = np.asarray(input)
    t = np.asarray(target)
    dtype = x.dtype.name
    tol = TOLERANCES[dtype]
    probabilities = t.dtype.kind == "f"
    if providers is None:
        providers = ["CPUExecutionProvider", "CUDAExecutionProvider"]
    from .onnx import DEFAULT_OPSET
    opset = DEFAULT_OPSET if opset is None else opset

    x64 = x.astype(np.float64)
    t64 = t.astype(np.float64) if probabilities else t
    want_v, want_g = loss.value_and_grad(x64, t64, mask=mask)
    # The best a path can return is the oracle rounded to the tested dtype: a float16
    # gradient of 1e12 is inf on every path, and that is agreement, not a mismatch.
    with np.errstate(over="ignore"):
        want_v = np.asarray(want_v).astype(dtype).astype(np.float64)
        want_g = np.asarray(want_g).astype(dtype).astype(np.float64)
    results = []

    def finish(res, known=None):
        if res.status != "pending":
            results.append(res)
            return
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
        elif known:
            res.status, res.note = "known-difference", known
        else:
            res.status = "fail"
        results.append(res)

    try:
        kv, kg = loss.value_and_grad(x, t, mask=mask)
        res = PathResult("kernel", "pending", value=kv)
        res.grad = kg
    except Exception as exc:  # noqa: BLE001
        res = PathResult("kernel", "error", note=str(exc).splitlines()[0][:200])
    finish(res)

    try:
        model = loss.to_onnx(opset=opset, dtype=dtype,
                             target_dtype=dtype if probabilities else t.dtype.name,
                             ndim=x.ndim, grad=grad and impl == "composed", impl=impl,
                             mask=mask is not None)
    except Exception as exc:  # noqa: BLE001
        results.append(PathResult("to_onnx", "error", note=str(exc).splitlines()[0][:200]))
        model = None
    if model is not None:
        inputs = {"input": x, "target": t}
        if mask is not None:
            inputs["mask"] = np.asarray(mask, dtype=bool)
        feeds = _feeds(inputs, model)
        with_grad = grad and impl == "composed"
        for provider in providers:
            finish(_run_onnxruntime(model, feeds, provider, with_grad))
        finish(_run_reference(model, feeds, with_grad, x.size == 0),
               _reference_known_issue(loss, x, impl))
    finish(_run_torch(loss, x, t, mask, grad))
    return ParityReport(repr(loss), dtype, x.shape, opset, impl, tol, results)
