"""The one PyTorch operator behind every loss: ``onnxlosses::loss``.

    loss(Tensor input, Tensor target, Tensor? mask, Tensor[] arrays, str config,
         Tensor? grad_output, bool want_grad) -> (Tensor value, Tensor grad)

``config`` is a JSON text naming the loss by its registry name (``spec.name``) with its
whole validated configuration (internal switches of presets included, nested losses
too); every NumPy array in the configuration (a class weight, pos_weight, an alpha
vector) is a slot ``{"array": i}`` filled from ``arrays[i]``, so weights travel as tensors
(module buffers) and the text stays a constant of the graph.  One operator thus serves
every registered loss and configuration: ``torch.compile`` sees a constant string and a
list of tensors, ``torch.export`` keeps one node.  JSON, never pickle: an exported program
loaded from disk must not run code when its losses are rebuilt, and only classes of the
registry can be named.

With ``want_grad`` the kernel computes the value and the gradient of sum(loss) in one
fused call (``value_and_grad``) and the autograd formula saves that gradient; backward
scales it by grad_output (elementwise, broadcast over the class axis, for reduction
"none" of losses whose spec says ``local``).  Where reduction "none" is not local (Dice's
per-class scores, a normalized focal loss) the forward computes only the value and the
backward calls the operator again with ``grad_output``: one kernel pass each way, as
PyTorch's own.  Double backward is an error.

Inputs are read in place through ``.numpy()`` views (any strides: channels-last and
sliced tensors are not copied), integer targets in their own width, and the gradient is
written into one tensor allocated per call (``torch.empty_like(input)``, the input's
memory format).  float16 is computed in float32 by the kernels; bfloat16 (no NumPy dtype)
is converted to float32 on the way in and the gradient back on the way out.
"""
import functools
import json
from typing import List, Optional, Tuple

import numpy as np
import torch

from .. import _threads

OP = "onnxlosses::loss"


# -- the configuration as operator arguments ------------------------------------------------

def _losses():
    from .._registry import LOSSES
    return {cls.spec.name: cls for cls in LOSSES}


def encode(loss, arrays=None, inline=False):
    """(config text, arrays) of a configured loss: the text to pass as the operator's
    `config`, each array of its configuration replaced by a slot into `arrays` (or, with
    `inline`, written into the text as a list: float64 values round-trip exactly)."""
    from .._base import Loss
    arrays = [] if arrays is None else arrays
    name = loss.spec.name
    if _losses().get(name) is not type(loss):
        raise TypeError(f"onnxlosses.torch takes the losses of onnxlosses' registry, got "
                        f"{type(loss).__name__} (spec {name!r})")

    def enc(value):
        if isinstance(value, Loss):
            text, _ = encode(value, arrays, inline)
            return {"loss": json.loads(text)}
        if isinstance(value, np.ndarray) and inline:
            return {"ndarray": value.tolist()}
        if isinstance(value, np.ndarray):
            arrays.append(value)
            return {"array": len(arrays) - 1}
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, tuple):
            return {"tuple": [enc(v) for v in value]}
        if isinstance(value, list):
            return [enc(v) for v in value]
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"dict": {k: enc(v) for k, v in value.items()}}
        raise TypeError(f"{name}'s configuration holds a {type(value).__name__}, which "
                        f"onnxlosses.torch cannot pass to its operator")

    body = {"name": name, "config": {k: enc(v) for k, v in loss._config.items()}}
    return json.dumps(body, sort_keys=True, allow_nan=True), arrays


def _decode_body(body, arrays):
    cls = _losses().get(body["name"])
    if cls is None:
        raise ValueError(f"config names no registered loss: {body['name']!r}")

    def dec(value):
        if isinstance(value, list):
            return [dec(v) for v in value]
        if not isinstance(value, dict):
            return value
        (kind, inner), = value.items()
        if kind == "array":
            return None if arrays is None else arrays[inner]
        if kind == "ndarray":
            return np.array(inner)
        if kind == "tuple":
            return tuple(dec(v) for v in inner)
        if kind == "dict":
            return {k: dec(v) for k, v in inner.items()}
        nested = _decode_body(inner, arrays)           # a nested loss
        if arrays is None:     # shapes only: the term itself, its arrays left as None
            cls_, cfg_ = nested
            return cls_._from_config(cfg_)
        return nested
    config = {k: dec(v) for k, v in body["config"].items()}
    if arrays is None:       # shapes only: the configuration, arrays left as None
        return cls, config
    return cls._from_config(config)


@functools.lru_cache(maxsize=256)
def _parsed(config):
    return json.loads(config)


@functools.lru_cache(maxsize=256)
def _plan(config):
    """(loss class, configuration with arrays as None, fused): what the fake kernel and
    the autograd formula need, from the text alone."""
    cls, cfg = _decode_body(_parsed(config), None)
    fused = cfg.get("reduction", "mean") != "none" or bool(cls.spec.local(cfg))
    return cls, cfg, fused


@functools.lru_cache(maxsize=64)
def _cached_loss(config):
    return _decode_body(_parsed(config), [])


def decode(config, arrays=()):
    """The configured loss the text and arrays describe (validated as a constructor does)."""
    if not arrays:
        return _cached_loss(config)
    return _decode_body(_parsed(config), [_numpy(a) for a in arrays])


def value_shape(config, shape):
    """The shape of the value for an input of `shape`: () unless reduction is "none"."""
    cls, cfg, _ = _plan(config)
    if cfg.get("reduction", "mean") != "none":
        return []
    return list(cls.spec.loss_shape(cfg, list(shape)))


# -- tensors as NumPy views -----------------------------------------------------------------

_NUMPY_FLOATS = (torch.float16, torch.float32, torch.float64)


def _numpy(t):
    """A NumPy view of a CPU tensor (a float32 copy for bfloat16 and other floats NumPy
    lacks)."""
    if t is None:
        return None
    t = t.detach()
    if t.is_floating_point() and t.dtype not in _NUMPY_FLOATS:
        t = t.float()
    return t.resolve_conj().resolve_neg().numpy()


def check_device(*tensors, pytorch_loss="PyTorch's own loss"):
    for t in tensors:
        if isinstance(t, torch.Tensor) and t.device.type != "cpu":
            raise ValueError(
                f"onnxlosses.torch runs its kernels on CPU tensors only, got a tensor on "
                f"{t.device}; use {pytorch_loss} there (no silent copy to the host is made)")


def _threads_for_call():
    n = _threads.chosen_num_threads()
    return _threads.threads(n if n is not None else max(1, torch.get_num_threads()))


# -- the operator ---------------------------------------------------------------------------

@torch.library.custom_op(OP, mutates_args=())
def loss_op(input: torch.Tensor, target: torch.Tensor, mask: Optional[torch.Tensor],
            arrays: List[torch.Tensor], config: str, grad_output: Optional[torch.Tensor],
            want_grad: bool) -> Tuple[torch.Tensor, torch.Tensor]:
    check_device(input, target, mask, grad_output, *arrays)
    loss = decode(config, arrays)
    _, _, fused = _plan(config)
    x, t, m = _numpy(input), _numpy(target), _numpy(mask)
    if m is not None and m.dtype != np.bool_:
        raise TypeError(f"mask must be a bool tensor, got {mask.dtype}")
    with _threads_for_call():
        if want_grad and (fused or grad_output is not None):
            grad = torch.empty_like(input)
            # float16 and float32 gradients land in place; bfloat16 through float32
            buf = grad if grad.dtype in _NUMPY_FLOATS else torch.empty_like(input,
                                                                             dtype=torch.float32)
            go = None if grad_output is None else _numpy(grad_output)
            value, _ = loss.value_and_grad(x, t, go, out=buf.numpy(), mask=m)
            if buf is not grad:
                grad.copy_(buf)
        else:
            value = loss(x, t, mask=m)
            grad = input.new_empty(0)
    value = torch.from_numpy(np.array(value, order="C")).to(input.dtype)
    return value, grad


@loss_op.register_fake
def _fake(input, target, mask, arrays, config, grad_output, want_grad):
    _, _, fused = _plan(config)
    value = input.new_empty(value_shape(config, input.shape))
    grad = torch.empty_like(input) if want_grad and (fused or grad_output is not None) \
        else input.new_empty(0)
    return value, grad


def _setup_context(ctx, inputs, output):
    input, target, mask, arrays, config, grad_output, want_grad = inputs
    value, grad = output
    ctx.mark_non_differentiable(grad)
    ctx.set_materialize_grads(False)     # no zeros of the input's size for `grad`
    ctx.config = config
    ctx.arrays = len(arrays)
    ctx.fused = _plan(config)[2]
    if ctx.fused:
        ctx.save_for_backward(grad)
    else:
        ctx.save_for_backward(input, target, mask, *arrays)


def _backward(ctx, grad_value, _grad_grad):
    # (an in-place grad.mul_(g) saves nothing: AccumulateGrad copies a gradient that the
    # saved tensors still reference, and a second backward, retain_graph=True, would find
    # it scaled)
    if grad_value is None:
        return None, None, None, [None] * ctx.arrays, None, None, None
    if torch.is_grad_enabled():
        raise RuntimeError("onnxlosses.torch losses are differentiable once: the gradient "
                           "comes from the kernel, not from a graph of torch ops, so a double "
                           "backward (create_graph=True, gradient penalties, Hessians) is "
                           "not supported; use PyTorch's own loss for that")
    if ctx.fused:
        (grad,) = ctx.saved_tensors
        g = grad_value
        if g.dim() and g.dim() < grad.dim():      # per position: broadcast over classes
            g = g.unsqueeze(1)
        dinput = grad * g
    else:
        input, target, mask, *arrays = ctx.saved_tensors
        dinput = loss_op(input, target, mask, arrays, ctx.config,
                         grad_value.contiguous(), True)[1]
    return dinput, None, None, [None] * ctx.arrays, None, None, None


loss_op.register_autograd(_backward, setup_context=_setup_context)
