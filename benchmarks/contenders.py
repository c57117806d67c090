"""What each loss is timed against: one `Case` per (loss, shape, thread count).

A case holds onnxlosses' loss object and data, the float64 NumPy reference value, and the
contenders, by family:

- "torch": PyTorch eager (its own loss where it has one, composed from torch ops where
  not); "torch_compile": the same function through `torch.compile` (inductor, default
  mode, static shapes), compiled for the case's thread count (inductor's CPU kernels fix
  their thread count when they are compiled);
- "monai", "smp": MONAI and segmentation_models_pytorch where they are installed;
- "onnxruntime": onnxruntime CPU running onnxlosses' exported graphs (composed, with the
  gradient output; and the ONNX loss operators where they express the loss);
- "numpy": the loss written in NumPy, one thread;
- "onnxlosses_torch": the same onnxlosses loss through the PyTorch bridge
  (`onnxlosses.torch.from_loss`); not in the main suite by default (benchmarks/latency.py
  and benchmarks/torch_bridge.py time it).

Each contender says how to run its forward pass and, where it has one, its value+gradient,
and what value (and gradient) it must reproduce before it is timed.
"""
import importlib
import importlib.util
import sys
import types
from dataclasses import dataclass, field
from typing import Callable, Optional

import numpy as np
import numpy_losses as npl
import shapes

import onnxlosses as ol
from onnxlosses.presets import monai as ol_monai

FAMILIES = ("torch", "torch_compile", "monai", "smp", "onnxruntime", "numpy",
            "onnxlosses_torch")
DEFAULT_FAMILIES = FAMILIES[:-1]


@dataclass
class Contender:
    name: str
    fwd: Callable
    fwd_grad: Optional[Callable] = None   # returns the gradient (array or tensor)
    expected: Optional[float] = None      # the value fwd() must give; None: onnxlosses'
    check_grad: bool = True               # compare fwd_grad()'s gradient with ours
    single_threaded: bool = False         # NumPy: timed at the first thread count only
    rtol: float = 1e-4                    # value agreement
    compiled: bool = False                # torch.compile: the first call of each compiles


@dataclass
class Case:
    loss: str
    shape: str
    ours: object                          # the onnxlosses Loss
    x: np.ndarray
    target: np.ndarray
    reference: float                      # float64 NumPy value of the same loss
    exp_bound: bool                       # one exp per logit: the read+exp roofline applies
    contenders: list = field(default_factory=list)
    unavailable: dict = field(default_factory=dict)   # name -> why it was not run


def _torch():
    try:
        import torch
        return torch
    except ImportError:
        return None


def _import(module, name):
    try:
        return getattr(__import__(module, fromlist=[name]), name), None
    except Exception as exc:              # not installed, or broken beside this torch
        return None, f"{module} not importable ({type(exc).__name__}: {exc})"[:160]


SMP = "segmentation_models_pytorch"
_smp = []


def _smp_losses():
    """smp's `losses` subpackage, or (None, why).  Its package `__init__` imports timm and
    torchvision for its models, which do not install beside torch 2.13; the losses need
    torch only.  As tests/live_libraries.py does: a bare module with the installed
    package's directory as its `__path__` stands in for the package while the subpackage
    imports, and leaves `sys.modules` again afterwards."""
    if _smp:
        return _smp[0], None
    if SMP in sys.modules:
        try:
            return importlib.import_module(SMP + ".losses"), None
        except Exception as exc:
            return None, f"{SMP}.losses not importable ({type(exc).__name__}: {exc})"[:160]
    before = set(sys.modules)
    try:
        spec = importlib.util.find_spec(SMP)
        if spec is None or not spec.submodule_search_locations:
            return None, f"{SMP} not installed"
        package = types.ModuleType(SMP)
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        sys.modules[SMP] = package
        _smp.append(importlib.import_module(SMP + ".losses"))
        return _smp[0], None
    except Exception as exc:
        return None, f"{SMP}.losses not importable ({type(exc).__name__}: {exc})"[:160]
    finally:
        for name in set(sys.modules) - before:
            if name == SMP or name.startswith(SMP + "."):
                del sys.modules[name]


def _torch_pair(torch, fn, x):
    """(forward, forward+backward returning x.grad) for a torch loss fn of a tensor x."""
    def fwd_grad():
        xg = x.detach().requires_grad_(True)
        fn(xg).backward()
        return xg.grad
    return (lambda: fn(x)), fwd_grad


def _ort(case, threads, target, impl="composed", grad=True):
    """onnxruntime CPU running the loss as onnxlosses exports it."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    model = case.ours.to_onnx(ndim=case.x.ndim, target_dtype=target.dtype.name, impl=impl,
                              grad=grad)
    sess = ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    feed = {"input": case.x, "target": target}
    fwd = lambda: sess.run(["loss"], feed)[0]                       # noqa: E731
    fwd_grad = (lambda: sess.run(["loss", "grad"], feed)[1]) if grad else None  # noqa: E731
    return fwd, fwd_grad


def _add_ort(case, threads, native_target=None):
    """The exported composed graph (value+gradient), and the ONNX loss operator where the
    loss has one (value only; it takes int64 class indices)."""
    try:
        fwd, fwd_grad = _ort(case, threads, case.target)
        # float32 graphs: ORT's ReduceSum adds millions of float32 terms in float32 (we add
        # in float64), off by up to ~2e-4 relative here; the gradients are elementwise
        # and checked as strictly as every other contender's.
        case.contenders.append(Contender("onnxruntime_composed", fwd, fwd_grad, rtol=1e-3))
    except Exception as exc:
        case.unavailable["onnxruntime_composed"] = f"{type(exc).__name__}: {exc}"[:160]
    if native_target is not None:
        try:
            fwd, _ = _ort(case, threads, native_target, impl="native", grad=False)
            case.contenders.append(Contender("onnxruntime_native_op", fwd, rtol=1e-3))
        except Exception as exc:
            case.unavailable["onnxruntime_native_op"] = f"{type(exc).__name__}: {exc}"[:160]


def _add_torch(case, torch, fn, name, xt, families):
    """PyTorch eager and, the same function, through torch.compile."""
    if "torch" in families:
        fwd, fwd_grad = _torch_pair(torch, fn, xt)
        case.contenders.append(Contender(name, fwd, fwd_grad))
    if "torch_compile" in families:
        # default mode (inductor), static shapes: one graph per case, compiled on the first
        # call of each pass (forward alone; forward+backward), which the measurement
        # records as compile time and excludes from the timing
        fwd, fwd_grad = _torch_pair(torch, torch.compile(fn, dynamic=False), xt)
        case.contenders.append(Contender("torch_compile", fwd, fwd_grad, compiled=True))


def _add_bridge(case, torch, xt, families):
    """The same onnxlosses loss through onnxlosses.torch (targets in their own dtype)."""
    if "onnxlosses_torch" not in families:
        return
    try:
        import onnxlosses.torch as olt
        module = olt.from_loss(case.ours)
    except Exception as exc:
        case.unavailable["onnxlosses_torch"] = f"{type(exc).__name__}: {exc}"[:160]
        return
    tt = torch.from_numpy(case.target)
    fwd, fwd_grad = _torch_pair(torch, lambda z: module(z, tt), xt)
    case.contenders.append(Contender("onnxlosses_torch", fwd, fwd_grad))


def _numpy(case, fwd, fwd_grad=None):
    case.contenders.append(Contender("numpy", fwd, fwd_grad, single_threaded=True))


INDEX_LOSSES = ("cross_entropy", "cross_entropy_ls", "nll", "focal", "dice", "dice_ce")


def _index_case(loss, shape, threads, data, families=DEFAULT_FAMILIES):
    """Cross-entropy, label-smoothed cross-entropy, NLL, softmax focal, multiclass Dice,
    and MONAI's DiceCE (cross-entropy + Dice, one combined loss)."""
    torch = _torch()
    ii = shapes.SHAPES[shape]["ignore_index"]
    x = data.logits(shape)
    # MONAI's Dice and DiceCE have no ignore_index: their targets have no ignored pixels
    t = data.class_targets(shape, ignored=loss not in ("dice", "dice_ce"))
    t64 = t.astype(np.int64)
    pooled = x.ndim < 3
    if loss == "cross_entropy":
        ours = ol.CrossEntropyLoss(ignore_index=ii)
        ref = data.reference(loss, shape, lambda: npl.cross_entropy(x.astype(np.float64), t, ii))
    elif loss == "cross_entropy_ls":
        ours = ol.CrossEntropyLoss(ignore_index=ii, label_smoothing=0.1)
        ref = data.reference(loss, shape, lambda: npl.cross_entropy(
            x.astype(np.float64), t, ii, 0.1))
    elif loss == "nll":
        x = data.log_probs(shape)
        ours = ol.NLLLoss(ignore_index=ii)
        ref = data.reference(loss, shape, lambda: npl.nll(x.astype(np.float64), t, ii))
    elif loss == "focal":
        ours = ol.FocalLoss(gamma=2.0, ignore_index=ii)
        ref = data.reference(loss, shape, lambda: npl.focal(x.astype(np.float64), t, ii))
    elif loss == "dice":
        # per image, MONAI's default; pooled over the batch (MONAI's batch=True) for
        # (N, C) data, where one position per sample makes per-image Dice meaningless
        ours = ol.DiceLoss.preset("monai", softmax=True, batch=pooled)
        ref = data.reference(loss, shape, lambda: npl.dice(x.astype(np.float64), t,
                                                           pooled=pooled))
    elif loss == "dice_ce":
        if pooled:
            raise ValueError("dice_ce is MONAI's DiceCELoss: images, not (N, C) rows")
        # CrossEntropyLoss() + DiceLoss.preset("monai", softmax=True): smooth 1e-5, per
        # image, Dice mean over images and classes, plus the mean cross-entropy
        ours = ol_monai.DiceCELoss(to_onehot_y=True, softmax=True)
        ref = data.reference(loss, shape, lambda: npl.cross_entropy(
            x.astype(np.float64), t, ii) + npl.dice(x.astype(np.float64), t))
    else:
        raise KeyError(loss)
    case = Case(loss, shape, ours, x, t, ref, exp_bound=loss != "nll")

    if torch is not None:
        xt, tt = torch.from_numpy(x), torch.from_numpy(t64)
        fn, name = _torch_index_fn(torch, loss, tt, ii, pooled)
        _add_torch(case, torch, fn, name, xt, families)
        _add_monai_smp(case, torch, xt, tt, t, families)
        _add_bridge(case, torch, xt, families)
    else:
        for family in set(families) & {"torch", "torch_compile", "onnxlosses_torch"}:
            case.unavailable[family] = "torch not importable"

    if "onnxruntime" in families:
        _add_ort(case, threads, native_target=t64 if loss in ("cross_entropy", "nll") else None)

    if "numpy" in families:
        if loss == "cross_entropy":
            _numpy(case, lambda: npl.cross_entropy(x, t, ii),
                   lambda: npl.cross_entropy_grad(x, t, ii)[1])
        elif loss == "cross_entropy_ls":
            _numpy(case, lambda: npl.cross_entropy(x, t, ii, 0.1))
        elif loss == "nll":
            _numpy(case, lambda: npl.nll(x, t, ii))
        elif loss == "focal":
            _numpy(case, lambda: npl.focal(x, t, ii))
        elif loss == "dice":
            _numpy(case, lambda: npl.dice(x, t, pooled=pooled))
        else:
            _numpy(case, lambda: npl.cross_entropy(x, t, ii) + npl.dice(x, t))
    return case


def _torch_index_fn(torch, loss, tt, ii, pooled):
    """(fn of the logits tensor, contender name): PyTorch's own loss or one composed from
    torch ops, with the targets tt (int64) bound."""
    F = torch.nn.functional
    if loss == "cross_entropy":
        return (lambda z: F.cross_entropy(z, tt, ignore_index=ii)), "torch"
    if loss == "cross_entropy_ls":
        return (lambda z: F.cross_entropy(z, tt, ignore_index=ii, label_smoothing=0.1)), "torch"
    if loss == "nll":
        return (lambda z: F.nll_loss(z, tt, ignore_index=ii)), "torch"
    if loss == "focal":
        return (lambda z: _torch_softmax_focal(torch, z, tt, ii, 2.0)), "torch_composed"
    if loss == "dice":
        return (lambda z: _torch_dice(torch, z, tt, pooled=pooled)), "torch_composed"
    if loss == "dice_ce":
        return (lambda z: F.cross_entropy(z, tt) + _torch_dice(torch, z, tt)), "torch_composed"
    raise KeyError(loss)


def _add_monai_smp(case, torch, xt, tt, t, families):
    """MONAI's FocalLoss / DiceLoss / DiceCELoss and smp's DiceLoss, checked against the
    onnxlosses configuration that reproduces each."""
    if case.loss == "focal" and "monai" in families:
        MonaiFocal, why = _import("monai.losses", "FocalLoss")
        if MonaiFocal is None:
            case.unavailable["monai"] = why
            return
        # MONAI has no ignore_index and averages over N*C*spatial: it runs on the targets
        # with ignored positions set to class 0, and must give sum / numel of ours there.
        t0 = np.where(t == shapes.SHAPES[case.shape]["ignore_index"], 0, t)
        t0t = torch.from_numpy(t0.astype(np.int64))[:, None]
        mon = MonaiFocal(use_softmax=True, to_onehot_y=True, gamma=2.0)
        expected = float(ol.FocalLoss(gamma=2.0, reduction="sum")(case.x, t0)) / case.x.size
        fwd, fwd_grad = _torch_pair(torch, lambda z: mon(z, t0t), xt)
        case.contenders.append(Contender("monai", fwd, fwd_grad, expected=expected,
                                         check_grad=False))
    elif case.loss == "dice_ce" and "monai" in families:
        MonaiDiceCE, why = _import("monai.losses", "DiceCELoss")
        if MonaiDiceCE is None:
            case.unavailable["monai"] = why
        else:
            # MONAI's targets carry a channel axis: (N, 1, H, W)
            mon = MonaiDiceCE(to_onehot_y=True, softmax=True)
            fwd, fwd_grad = _torch_pair(torch, lambda z: mon(z, tt[:, None]), xt)
            case.contenders.append(Contender("monai", fwd, fwd_grad))
    elif case.loss == "dice":
        if "monai" in families:
            MonaiDice, why = _import("monai.losses", "DiceLoss")
            if case.x.ndim < 3:
                # its reduce axes are then the empty list, and torch.sum(dim=[]) sums all
                case.unavailable["monai"] = ("MONAI's DiceLoss needs spatial dims "
                                             "(sums all else)")
            elif MonaiDice is None:
                case.unavailable["monai"] = why
            else:
                mon = MonaiDice(softmax=True, to_onehot_y=True)
                fwd, fwd_grad = _torch_pair(torch, lambda z: mon(z, tt[:, None]), xt)
                case.contenders.append(Contender("monai", fwd, fwd_grad))
        if "smp" in families:
            losses, why = _smp_losses()
            if losses is None:
                case.unavailable["smp"] = why
            else:
                smp = losses.DiceLoss("multiclass")
                expected = float(ol.DiceLoss.preset("smp")(case.x, t))
                fwd, fwd_grad = _torch_pair(torch, lambda z: smp(z, tt), xt)
                case.contenders.append(Contender("smp", fwd, fwd_grad, expected=expected,
                                                 check_grad=False))


def _torch_softmax_focal(torch, x, t, ignore, gamma):
    lp = torch.nn.functional.log_softmax(x, dim=1)
    keep = t != ignore
    tc = torch.where(keep, t, torch.zeros_like(t))
    lpt = lp.gather(1, tc.unsqueeze(1)).squeeze(1)
    per = torch.where(keep, -(1 - lpt.exp()) ** gamma * lpt, torch.zeros_like(lpt))
    return per.sum() / keep.sum()


def _torch_dice(torch, x, t, smooth=1e-5, pooled=False):
    """MONAI-style soft Dice from torch ops (softmax, one-hot, sums), per sample or pooled."""
    C = x.shape[1]
    p = torch.softmax(x, 1)
    onehot = torch.nn.functional.one_hot(t, C).movedim(-1, 1).to(p.dtype)
    axes = ((0,) if pooled else ()) + tuple(range(2, x.ndim))
    inter = (p * onehot).sum(axes) if axes else p * onehot
    den = (p.sum(axes) + onehot.sum(axes)) if axes else p + onehot
    return (1 - (2 * inter + smooth) / (den + smooth)).mean()


def _dense_case(loss, shape, threads, data, families=DEFAULT_FAMILIES):
    """BCE-with-logits, sigmoid focal, BCE on probabilities; dense 0/1 targets."""
    torch = _torch()
    y = data.dense_targets(shape)
    if loss == "bce":
        x = data.probabilities(shape)
        ours = ol.BCELoss()
        ref = data.reference(loss, shape, lambda: npl.bce(x.astype(np.float64), y))
    elif loss == "bce_logits":
        x = data.logits(shape)
        ours = ol.BCEWithLogitsLoss()
        ref = data.reference(loss, shape, lambda: npl.bce_with_logits(x.astype(np.float64), y))
    elif loss == "sigmoid_focal":
        x = data.logits(shape)
        ours = ol.SigmoidFocalLoss(reduction="mean")
        ref = data.reference(loss, shape, lambda: npl.sigmoid_focal(x.astype(np.float64), y))
    else:
        raise KeyError(loss)
    case = Case(loss, shape, ours, x, y, ref, exp_bound=False)
    if torch is not None:
        F = torch.nn.functional
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        if loss == "bce":
            fn, name = (lambda z: F.binary_cross_entropy(z, yt)), "torch"
        elif loss == "bce_logits":
            fn, name = (lambda z: F.binary_cross_entropy_with_logits(z, yt)), "torch"
        else:
            tv_focal, _ = _import("torchvision.ops", "sigmoid_focal_loss")
            if tv_focal is not None:
                fn, name = (lambda z: tv_focal(z, yt, reduction="mean")), "torchvision"
            else:
                fn, name = (lambda z: _torch_sigmoid_focal(torch, z, yt)), "torch_composed"
        _add_torch(case, torch, fn, name, xt, families)
        _add_bridge(case, torch, xt, families)
    else:
        for family in set(families) & {"torch", "torch_compile", "onnxlosses_torch"}:
            case.unavailable[family] = "torch not importable"
    if "onnxruntime" in families:
        _add_ort(case, threads)
    if "numpy" in families:
        if loss == "bce":
            _numpy(case, lambda: npl.bce(x, y))
        elif loss == "bce_logits":
            _numpy(case, lambda: npl.bce_with_logits(x, y),
                   lambda: npl.bce_with_logits_grad(x, y)[1])
        else:
            _numpy(case, lambda: npl.sigmoid_focal(x, y))
    return case


def _torch_sigmoid_focal(torch, x, y, alpha=0.25, gamma=2.0):
    """torchvision.ops.sigmoid_focal_loss's formula, mean reduction."""
    F = torch.nn.functional
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * ((1 - p_t) ** gamma)
    return ((alpha * y + (1 - alpha) * (1 - y)) * loss).mean()


INDEX_SHAPES = ("S1", "S1_NHWC", "S1_NC", "S2", "S3", "K1")
IMAGE_SHAPES = ("S1", "S1_NHWC", "S2", "S3")
DENSE_SHAPES = ("B1", "S1")
LOSSES = {
    "cross_entropy": (_index_case, INDEX_SHAPES),
    "cross_entropy_ls": (_index_case, INDEX_SHAPES),
    "nll": (_index_case, INDEX_SHAPES),
    "focal": (_index_case, INDEX_SHAPES),
    "dice": (_index_case, INDEX_SHAPES),
    "dice_ce": (_index_case, IMAGE_SHAPES),
    "bce_logits": (_dense_case, DENSE_SHAPES),
    "sigmoid_focal": (_dense_case, DENSE_SHAPES),
    "bce": (_dense_case, DENSE_SHAPES),
}


def make_case(loss, shape, threads, data, families=DEFAULT_FAMILIES):
    """The case of `loss` on `shape` at `threads` threads, with the contenders of the
    given families (FAMILIES).  torch.compile's caches are cleared first: every case
    compiles its own graphs, for its own shapes and thread count."""
    if "torch_compile" in families:
        torch = _torch()
        if torch is not None:
            torch._dynamo.reset()
    builder, _ = LOSSES[loss]
    return builder(loss, shape, threads, data, families)
