"""loss.to_onnx(): one configured loss as a checked ONNX model."""
import functools
import json

import numpy as np
import onnx
from onnx import helper

from .._checks import boolean, integer
from . import _cross_entropy, _dice, _elementwise
from ._builder import NP_TO_ONNX, GraphBuilder, check, value_info
from ._targets import check_targets as _check_targets, poison

DEFAULT_OPSET = 18
MIN_OPSET = 13
FLOAT_NAMES = {"float16": np.float16, "float32": np.float32, "float64": np.float64}
INDEX_NAMES = {"int64": np.int64, "int32": np.int32, "int16": np.int16, "uint8": np.uint8}


@functools.lru_cache(maxsize=None)
def newest_onnxruntime_opset():
    """The newest default-domain opset the installed onnxruntime loads (probed once)."""
    import onnxruntime as ort
    for opset in range(onnx.defs.onnx_opset_version(), MIN_OPSET - 1, -1):
        graph = helper.make_graph(
            [helper.make_node("Identity", ["x"], ["y"])], "probe",
            [value_info("x", np.float32, [1])], [value_info("y", np.float32, [1])])
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  ir_version=ir_version_for(opset))
        try:
            ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
            return opset
        except Exception:
            continue
    return MIN_OPSET


def ir_version_for(opset):
    return 8 if opset == DEFAULT_OPSET else helper.find_min_ir_version_for(
        [helper.make_opsetid("", opset)])


def supported_opsets():
    """Opsets to_onnx emits: 13 up to the newest the installed onnxruntime runs."""
    return list(range(MIN_OPSET, newest_onnxruntime_opset() + 1))


def _dtype(name, table, what):
    """A dtype from `table` given by name or as a NumPy dtype / scalar type (None is
    refused: np.dtype(None) would silently mean float64)."""
    if name is None:
        raise TypeError(f"{what} must be one of {sorted(table)}, got None")
    if isinstance(name, str):
        key = name
    else:
        try:
            key = np.dtype(name).name
        except TypeError:
            raise TypeError(f"{what} must be one of {sorted(table)} (a name or a NumPy "
                            f"dtype), got {name!r}") from None
    if key not in table:
        raise ValueError(f"{what} must be one of {sorted(table)}, got {name!r}")
    return np.dtype(table[key])


def _is_float_dtype(value):
    """Whether target_dtype names a float type (so probabilities / dense targets)."""
    if isinstance(value, str):
        return value in FLOAT_NAMES
    try:
        return np.dtype(value).kind == "f"
    except TypeError:
        raise TypeError(f"target_dtype must be None or one of "
                        f"{sorted(INDEX_NAMES) + sorted(FLOAT_NAMES)} (a name or a NumPy "
                        f"dtype), got {value!r}") from None


def _input_shape(shape, ndim, n_classes):
    if ndim is not None:
        ndim = integer("ndim", ndim)
    if shape is not None:
        if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__"):
            raise TypeError(f"shape must be a sequence of dims (ints >= 0, names or None), "
                            f"got {shape!r}")
        shape = list(shape)
        for i, d in enumerate(shape):
            if d is None or isinstance(d, str):
                continue
            if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)):
                raise TypeError(f"shape[{i}] must be an int >= 0, a name or None, got {d!r}")
            if d < 0:
                raise ValueError(f"shape[{i}] must be >= 0, got {d}")
        if ndim is not None and len(shape) != ndim:
            raise ValueError(f"ndim={ndim} disagrees with shape={shape!r}")
        if len(shape) < 2:
            raise ValueError(f"shape must be (N, C, d1, ...) with rank >= 2, got {shape!r}")
        shape = [int(d) if isinstance(d, (int, np.integer)) else (d or f"d{i}")
                 for i, d in enumerate(shape)]
        if n_classes is not None and isinstance(shape[1], (int, np.integer)) \
                and shape[1] != n_classes:
            raise ValueError(f"shape[1]={shape[1]} disagrees with the weight's {n_classes} classes")
        return shape
    ndim = 4 if ndim is None else ndim
    if ndim < 2:
        raise ValueError(f"ndim must be >= 2, got {ndim}")
    spatial = ["H", "W"] if ndim == 4 else [f"d{i + 1}" for i in range(ndim - 2)]
    return ["N", n_classes if n_classes is not None else "C"] + spatial


# How each loss takes its target: "index" (class indices), "index|probabilities"
# (indices, or probabilities in the input's float type), "dense" (the input's shape and
# float type), "dense|index" (dense, or class indices compared one-vs-rest).
FAMILIES = {
    "cross_entropy": "index|probabilities",
    "nll_loss": "index",
    "focal_loss": "index",
    "binary_cross_entropy": "dense",
    "binary_cross_entropy_with_logits": "dense",
    "sigmoid_focal_loss": "dense|index",
    "dice_loss": "dice",
    "jaccard_loss": "dice",
    "tversky_loss": "dice",
    "generalized_dice_loss": "dice",
}


def _target_kind(spec_name, target_dtype, dt, mode=None):
    """('index' | 'float', target numpy dtype) for this loss and requested target_dtype."""
    family = FAMILIES[spec_name]
    if family == "dice":   # multiclass: class indices by default; other modes: dense
        family = "index|probabilities" if mode == "multiclass" else "dense"
    if target_dtype is None:
        return ("index", np.dtype(np.int64)) if family.startswith("index") else ("float", dt)
    if _is_float_dtype(target_dtype):
        if family == "index":
            raise ValueError(f"{spec_name} takes class indices: target_dtype must be one of "
                             f"{sorted(INDEX_NAMES)}, got {target_dtype!r}")
        tdt = _dtype(target_dtype, FLOAT_NAMES, "target_dtype")
        if tdt != dt:
            what = "probability" if family.startswith("index") else "dense"
            raise ValueError(f"{what} targets come in the input's float type: target_dtype "
                             f"must be {dt.name!r}, got {target_dtype!r}")
        return "float", tdt
    if family == "dense":
        raise ValueError(f"{spec_name} takes targets of the input's shape and float type: "
                         f"target_dtype must be {dt.name!r} (or None), got {target_dtype!r}")
    return "index", _dtype(target_dtype, INDEX_NAMES, "target_dtype")


def to_onnx(loss, opset=None, dtype="float32", target_dtype=None, shape=None, *, ndim=None,
            grad=False, impl="composed", mask=False, check_targets=True, ir_version=None):
    """Export `loss` as a checked ModelProto; see Loss.to_onnx.

    check_targets (class-index targets only): the graph returns NaN for the loss and the
    gradient when a counted target (not ignore_index, mask True) lies outside [0, C),
    where the kernel raises ValueError; False leaves the check out (see _targets.py for
    what the runtimes do then).
    """
    spec = loss.spec
    if spec.name not in FAMILIES:
        raise NotImplementedError(f"{type(loss).__name__} has no ONNX emitter yet")
    config = loss.config
    grad = boolean("grad", grad)
    mask = boolean("mask", mask)
    check_targets = boolean("check_targets", check_targets)
    opset = DEFAULT_OPSET if opset is None else integer("opset", opset)
    newest = newest_onnxruntime_opset()
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"opset must be in [{MIN_OPSET}, {newest}] (the newest the installed "
                         f"onnxruntime runs), got {opset}")
    if impl not in ("composed", "native"):
        raise ValueError(f"impl must be 'composed' or 'native', got {impl!r}")
    dt = _dtype(dtype, FLOAT_NAMES, "dtype")
    kind, tdt = _target_kind(spec.name, target_dtype, dt, config.get("mode"))
    family = FAMILIES[spec.name]
    dice = family == "dice"
    index_like = family.startswith("index")           # per-position losses, class axis 1
    probabilities = index_like and kind == "float"
    if probabilities and (config["ignore_index"] or 0) >= 0 and not dice:
        raise ValueError("ignore_index is not supported with class-probability targets")
    if mask and family == "dense" and not dice:
        raise ValueError(f"{spec.name} takes no mask")
    weight = config.get("weight") if spec.name in ("cross_entropy", "nll_loss") else None
    if spec.name == "focal_loss" and config["alpha"] is not None and np.ndim(config["alpha"]):
        weight = config["alpha"]
    in_shape = _input_shape(shape, ndim, None if weight is None else len(weight))
    rank = len(in_shape)
    pos_shape = [in_shape[0]] + in_shape[2:]
    if dice and config["weight"] is not None:
        weight = config["weight"]
    for name in ("weight", "pos_weight"):
        if family == "dense" and config.get(name) is not None and config[name].ndim > rank:
            raise ValueError(f"{name} of shape {config[name].shape} has more dimensions than "
                             f"the input's rank {rank}")
    reduction = config["reduction"]
    if impl == "native":
        reasons = [why for cond, why in [
            (spec.name not in ("cross_entropy", "nll_loss"), f"{spec.name}"),
            (probabilities, "probability targets"),
            (config.get("label_smoothing", 0.0) > 0, "label_smoothing"),
            (grad, "grad=True")] if cond]
        if reasons:
            raise ValueError(f"impl='native' cannot express {', '.join(reasons)}; "
                             "use impl='composed'")
    log_probs = spec.name == "nll_loss"
    compute = np.dtype(np.float32) if dt == np.float16 else dt
    b = GraphBuilder(spec.name, compute, opset)
    x = "input" if compute == dt else b.cast("input", compute, name="input_f32")
    t = "target"
    if kind == "float" and compute != tdt:
        t = b.cast(t, compute, name="target_f32")
    elif kind == "index" and tdt != np.int64:
        t = b.cast(t, np.int64, name="target_i64")
    m = "mask" if mask else None
    any_bad = None
    if kind == "index" and check_targets:
        # out-of-range positions are masked out of the loss math, then everything is NaN
        m, any_bad = _check_targets(b, t, m, ignore_index=config.get("ignore_index"),
                                    n_classes=in_shape[1], x=x)
    if impl == "native":
        loss_name = _cross_entropy.emit_native(b, config, x, t, m, log_probs=log_probs,
                                               reduction=reduction)
        grad_name = None
    elif index_like:
        cfg = config
        gamma = None
        if spec.name == "focal_loss":
            alpha = config["alpha"]
            if alpha is not None and np.ndim(alpha) == 0:
                if isinstance(in_shape[1], str):
                    raise ValueError("a scalar alpha needs the number of classes: give shape= "
                                     "with a fixed C, or alpha per class")
                alpha = np.full(in_shape[1], alpha)
            cfg = dict(weight=alpha, ignore_index=config["ignore_index"],
                       reduction=reduction, label_smoothing=0.0)
            gamma = float(config["gamma"])
        loss_name, grad_name = _cross_entropy.emit(
            b, cfg, x, t, m, rank=rank, log_probs=log_probs, probabilities=probabilities,
            reduction=reduction, grad=grad, gamma=gamma)
    elif dice:
        loss_name, grad_name = _dice.emit_dice(b, loss, config, x, t, m, rank=rank,
                                               indices=kind == "index",
                                               reduction=reduction, grad=grad)
    else:
        emitter = {"binary_cross_entropy": _elementwise.emit_bce,
                   "binary_cross_entropy_with_logits": _elementwise.emit_bce_logits,
                   "sigmoid_focal_loss": _elementwise.emit_sigmoid_focal}[spec.name]
        loss_name, grad_name = emitter(b, config, x, t, m, reduction=reduction, grad=grad,
                                       rank=rank, indices=kind == "index")

    none_shape = pos_shape if index_like else in_shape
    if dice:
        C = in_shape[1]
        n_cls = len(config["classes"]) if config.get("classes") else C
        if spec.name == "generalized_dice_loss":
            none_shape = [in_shape[0]] if config["per_image"] else []
        elif config["mode"] == "binary":
            none_shape = [in_shape[0]] if config["per_image"] else []
        else:
            none_shape = ([in_shape[0]] if config["per_image"] else []) + [n_cls]
    if any_bad is not None:
        loss_name = poison(b, loss_name, any_bad, "loss_checked")
        if grad:
            grad_name = poison(b, grad_name, any_bad, "grad_checked")
    outputs = [("loss", loss_name, none_shape if reduction == "none" else [])]
    if grad:
        outputs.append(("grad", grad_name, in_shape))
    for name, src, _ in outputs:
        if compute == dt:
            b.nodes.append(helper.make_node("Identity", [src], [name], name=b.fresh(f"out_{name}")))
        else:
            b.nodes.append(helper.make_node("Cast", [src], [name], name=b.fresh(f"out_{name}"),
                                            to=NP_TO_ONNX[dt]))
    inputs = [value_info("input", dt, in_shape),
              value_info("target", tdt, in_shape if kind == "float" else pos_shape)]
    if mask:
        inputs.append(value_info("mask", np.bool_,
                                 pos_shape if index_like or dice or kind == "index" else in_shape))
    meta = {
        "onnxlosses.loss": type(loss).__name__,
        "onnxlosses.config": json.dumps(
            {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in config.items()},
            sort_keys=True),
        "onnxlosses.impl": impl,
        "onnxlosses.grad": str(bool(grad)).lower(),
        "onnxlosses.target": "indices" if kind == "index" else
        ("probabilities" if probabilities else "dense"),
    }
    if kind == "index":
        meta["onnxlosses.check_targets"] = str(check_targets).lower()
    model = b.model(inputs, [value_info(n, dt, s) for n, _, s in outputs], opset,
                    ir_version if ir_version is not None else ir_version_for(opset), meta,
                    doc=f"{repr(loss)}\n{spec.formula}")
    return check(model)
