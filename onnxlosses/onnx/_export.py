"""loss.to_onnx(): one configured loss as a checked ONNX model."""
import functools
import importlib
import json
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from .._checks import boolean, integer
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


def _target_kind(spec, config, target_dtype, dt):
    """('index' | 'float', target numpy dtype) for this loss and requested target_dtype."""
    kinds = spec.target_kinds(config)
    if target_dtype is None:
        return ("index", np.dtype(np.int64)) if kinds[0] == "index" else ("float", dt)
    if _is_float_dtype(target_dtype):
        if kinds == ("index",):
            raise ValueError(f"{spec.name} takes class indices: target_dtype must be one of "
                             f"{sorted(INDEX_NAMES)}, got {target_dtype!r}")
        tdt = _dtype(target_dtype, FLOAT_NAMES, "target_dtype")
        if tdt != dt:
            what = "probability" if "probabilities" in kinds else "dense"
            raise ValueError(f"{what} targets come in the input's float type: target_dtype "
                             f"must be {dt.name!r}, got {target_dtype!r}")
        return "float", tdt
    if "index" not in kinds:
        raise ValueError(f"{spec.name} takes targets of the input's shape and float type: "
                         f"target_dtype must be {dt.name!r} (or None), got {target_dtype!r}")
    return "index", _dtype(target_dtype, INDEX_NAMES, "target_dtype")


@dataclass(frozen=True)
class EmitIO:
    """What an emitter works on: the builder's names of the input (compute dtype, (N, C,
    d..) or the loss's own layout), the target (int64 class indices or the compute dtype)
    and the mask (or None), and the input's shape, the target kind, the reduction and
    whether the gradient is wanted."""
    x: str
    target: str
    mask: object
    rank: int
    shape: list
    kind: str
    reduction: str
    grad: bool


def _jsonable(value):
    """A configuration as JSON can hold it: arrays as lists, a combined loss's terms as
    [weight, {"loss": name, ...its configuration}] pairs."""
    from .._base import Loss
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Loss):
        return {"loss": value.spec.name, **_jsonable(value.config)}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _emitter(path):
    module, name = path.split(":")
    return getattr(importlib.import_module(f"onnxlosses.onnx.{module}"), name)


def to_onnx(loss, opset=None, dtype="float32", target_dtype=None, shape=None, *, ndim=None,
            grad=False, impl="composed", mask=False, check_targets=True, ir_version=None):
    """Export `loss` as a checked ModelProto; see Loss.to_onnx.

    check_targets (class-index targets only): the graph returns NaN for the loss and the
    gradient when a counted target (not ignore_index, mask True) lies outside [0, C),
    where the kernel raises ValueError; False leaves the check out (see _targets.py for
    what the runtimes do then).
    """
    spec = loss.spec
    if not spec.emit:
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
    kind, tdt = _target_kind(spec, config, target_dtype, dt)
    if mask and not spec.takes_mask:
        raise ValueError(f"{spec.name} takes no mask")
    in_shape = _input_shape(shape, ndim, spec.fixed_classes(config))
    rank = len(in_shape)
    pos_shape = [in_shape[0]] + in_shape[2:]
    reduction = config["reduction"]
    if impl == "native":
        reasons = [why for cond, why in [
            (not spec.emit_native, f"{spec.name}"),
            (kind == "float", "probability targets"),
            (config.get("label_smoothing", 0.0) > 0, "label_smoothing"),
            (grad, "grad=True")] if cond]
        if reasons:
            raise ValueError(f"impl='native' cannot express {', '.join(reasons)}; "
                             "use impl='composed'")
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
    io = EmitIO(x, t, m, rank, in_shape, kind, reduction, grad)
    loss_name, grad_name = _emitter(spec.emit_native if impl == "native" else spec.emit)(
        b, loss, io)
    if any_bad is not None:
        loss_name = poison(b, loss_name, any_bad, "loss_checked")
        if grad:
            grad_name = poison(b, grad_name, any_bad, "grad_checked")
    outputs = [("loss", loss_name,
                spec.loss_shape(config, in_shape) if reduction == "none" else [])]
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
        over_positions = spec.mask_over == "positions" or kind == "index"
        inputs.append(value_info("mask", np.bool_, pos_shape if over_positions else in_shape))
    meta = {
        "onnxlosses.loss": type(loss).__name__,
        "onnxlosses.config": json.dumps(_jsonable(config), sort_keys=True),
        "onnxlosses.impl": impl,
        "onnxlosses.grad": str(bool(grad)).lower(),
        "onnxlosses.target": "indices" if kind == "index" else
        ("probabilities" if "probabilities" in spec.target_kinds(config) else "dense"),
    }
    if kind == "index":
        meta["onnxlosses.check_targets"] = str(check_targets).lower()
    model = b.model(inputs, [value_info(n, dt, s) for n, _, s in outputs], opset,
                    ir_version if ir_version is not None else ir_version_for(opset), meta,
                    doc=f"{repr(loss)}\n{spec.formula}")
    return check(model)
