"""One description per loss: its parameters, their defaults and checks, and its formula.

The class API, the functional API, the ONNX exporter, the Dask front end and the command
line read the same spec, so a parameter is validated in exactly one place and documented
once, and no layer decides anything by a loss's name.
"""
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Param:
    name: str
    default: object
    check: object          # (name, value) -> normalised value; raises TypeError/ValueError
    doc: str = ""
    internal: bool = False  # set only by presets (another library's formula), never public


@dataclass(frozen=True)
class Example:
    """One of a loss's main configurations, for the grids that cover every loss (the parity
    command, the tests): a label, the configuration (keywords, or a function of the number
    of classes C returning them; with `preset`, the preset's keywords), the targets it is
    checked on ("index", "index255": uint8 with void 255 pixels, "index-1": int32 with
    ignored -1, "probabilities", "dense") and whether a mask is passed."""
    label: str = ""
    params: object = field(default_factory=dict)
    targets: str = "index"
    mask: bool = False
    preset: str = ""

    def build(self, cls, C):
        """The configured loss for inputs with C classes."""
        params = self.params(C) if callable(self.params) else self.params
        return cls.preset(self.preset, **params) if self.preset else cls(**params)


def _constant(value):
    return lambda config, *_: value


def positions(config, shape):
    """The input's shape without its class axis: (N, d1, ...); () for a (C,) input."""
    return list(shape[:1]) + list(shape[2:]) if len(shape) > 1 else []


def elements(config, shape):
    return list(shape)


def per_class(C):
    """A per-class weight for the examples: 0.5 up to 2.0 over the C classes."""
    return np.linspace(0.5, 2.0, C)


def class_weight_length(config):
    """C fixed by a per-class weight array, or None."""
    w = config.get("weight")
    return None if w is None else len(w)


@dataclass(frozen=True)
class SoftmaxTerm:
    """A loss as a per-position softmax term on class indices, in the softmax kernels'
    terms: l = w_t (lse - x_t) (label smoothing eps mixing in eps / C of every class), or
    with focal_gamma the softmax focal loss w_t (1 - p_t)^gamma (lse - x_t), w = weight
    (float64 (C,), or None for ones).  reduction "mean" divides the sum by the counted
    positions' sum of w_t (mean_over "weight"; their number without a weight), by their
    number ("positions") or by that times C ("elements")."""
    weight: object
    ignore_index: int
    label_smoothing: float
    focal_gamma: object
    reduction: str
    mean_over: str


@dataclass(frozen=True)
class LossSpec:
    """A loss as every layer sees it.

    targets: the target kinds it takes, the default first: "index" (class indices of the
    positions' shape), "probabilities" (class probabilities of the input's shape), "dense"
    (any float target of the input's shape); or a function of the configuration.
    class_axis(config, dense): the input's class axis (1) or None when it has none, for a
    dense target (dense=True) or class indices.  fixed_classes(config): the number of
    classes the configuration fixes (a per-class weight), or None.  loss_shape(config,
    shape): reduction "none"'s output shape for an input of `shape`.  mask_over:
    "positions" (the input without its class axis) or "elements" (the input's shape; class
    indices still mask positions); takes_mask: False where the loss has no mask (PyTorch's
    BCE).  emit / emit_native: "module:function" in onnxlosses.onnx, called as
    emit(builder, loss, io) -> (loss name, gradient name or None); emit_native is the ONNX
    loss operator's form where one exists.  input: what the input holds, "logits",
    "log_probabilities" or "probabilities".  examples: its main configurations (Example).
    reference / torch_reference: "module:function" in onnxlosses.references, the float64
    NumPy reference written from the formula and the PyTorch one; torch_has_loss: the
    PyTorch reference is PyTorch's own loss (not composed from its ops).  positional: the
    parameters the constructor also takes by position (every other one is keyword-only).
    local(config): reduction "none" gives one loss per position or element that depends on
    the input there only (its class vector included), so the gradient of sum(g * loss) is g,
    broadcast over the class axis, times the gradient of sum(loss): a front end that
    computes the gradient with the value scales it later instead of running the kernel
    again (onnxlosses.torch).  False (the default) where a loss depends on all of the input
    (Dice's per-class scores, a normalized focal loss).
    softmax_term(config, C): the configuration as a SoftmaxTerm, or None when it is not one
    (reduction "none"); adds_softmax_term(config): its kernel can compute a SoftmaxTerm on
    the same logits beside its own work (the Dice family over a softmax).  Together they
    let a combined loss fuse such a pair (onnxlosses/_fused.py).
    """
    name: str
    params: tuple
    formula: str = ""
    targets: object = ("index",)
    class_axis: object = _constant(1)
    fixed_classes: object = _constant(None)
    loss_shape: object = positions
    mask_over: str = "positions"
    takes_mask: bool = True
    emit: str = ""
    emit_native: str = ""
    input: str = "logits"
    examples: tuple = (Example(),)
    reference: str = ""
    torch_reference: str = ""
    torch_has_loss: bool = False
    positional: tuple = ()
    local: object = _constant(False)
    softmax_term: object = None
    adds_softmax_term: object = _constant(False)
    defaults: dict = field(init=False, repr=False, compare=False)

    def target_kinds(self, config):
        return self.targets(config) if callable(self.targets) else self.targets

    def __post_init__(self):
        object.__setattr__(self, "defaults", {p.name: p.default for p in self.params})

    @property
    def public(self):
        """The parameters a user passes: the constructor's and the functional's keywords."""
        return tuple(p for p in self.params if not p.internal)

    def bind(self, kwargs, internal=False):
        """Validated configuration: defaults filled in, every value checked and normalised.
        internal: the internal switches may be set too (presets, unpickling)."""
        allowed = self.defaults if internal else {p.name for p in self.public}
        unknown = sorted(set(kwargs) - set(allowed))
        if unknown:
            raise TypeError(f"{self.name} got unexpected keyword argument(s) {unknown}; "
                            f"it takes {[p.name for p in self.public]}")
        return {p.name: p.check(p.name, kwargs.get(p.name, p.default)) for p in self.params}
