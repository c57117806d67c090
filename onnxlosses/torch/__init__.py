"""onnxlosses' kernels inside PyTorch training on CPU: an ``nn.Module`` and a functional per
loss, through autograd, ``torch.compile(fullgraph=True)`` and ``torch.export``.

>>> import torch
>>> import onnxlosses.torch as olt
>>> x = torch.randn(2, 3, 4, 4, requires_grad=True)
>>> t = torch.randint(0, 3, (2, 4, 4), dtype=torch.uint8)
>>> olt.CrossEntropyLoss(ignore_index=255)(x, t).backward()
>>> x.grad.shape
torch.Size([2, 3, 4, 4])

Every loss of the registry has a module here under its onnxlosses name (PyTorch's name
where PyTorch has the loss: ``CrossEntropyLoss``, ``NLLLoss``, ``BCELoss``,
``BCEWithLogitsLoss``) taking the same keyword arguments as the NumPy class (PyTorch's
names), weights as tensors or arrays; a functional under the loss's name
(``cross_entropy``, ``dice_loss``, ...); and ``from_loss(loss)`` wraps any configured
onnxlosses loss (presets included).  All of them call one custom operator,
``torch.ops.onnxlosses.loss`` (see onnxlosses/torch/_op.py and docs/torch.md): the value
and the gradient come from one fused kernel call in the forward, the backward scales the
saved gradient.  CPU tensors only; importing this module imports torch, ``import
onnxlosses`` does not.
"""
import functools
import inspect

import numpy as np
import torch

from .._registry import LOSSES
from ._op import check_device, decode, encode, loss_op

__all__ = ["Loss", "from_loss"]


def _pytorch_counterpart(cls, functional=False):
    if cls.spec.torch_has_loss:
        return f"torch.nn.functional.{cls.spec.name}" if functional else f"torch.nn.{cls.__name__}"
    return "a loss composed from PyTorch's ops"


def _as_array(value):
    """Tensors given as configuration (weights) become NumPy arrays; the rest is kept."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return (value.float() if value.dtype == torch.bfloat16 else value).numpy()
    return value


def _call(config, arrays, input, target, mask, counterpart):
    if not isinstance(input, torch.Tensor):
        raise TypeError(f"input must be a torch.Tensor, got {type(input).__name__}")
    if not isinstance(target, torch.Tensor):
        target = torch.as_tensor(target)
    if mask is not None and not isinstance(mask, torch.Tensor):
        mask = torch.as_tensor(mask)
    check_device(input, target, mask, *arrays, pytorch_loss=counterpart)
    if target.requires_grad and torch.is_grad_enabled():
        raise ValueError("target requires grad, but onnxlosses.torch differentiates with "
                         "respect to input only; pass target.detach() (or use "
                         f"{counterpart} for a gradient with respect to the target)")
    want_grad = input.requires_grad and torch.is_grad_enabled()
    return loss_op(input, target, mask, arrays, config, None, want_grad)[0]


class Loss(torch.nn.Module):
    """A configured onnxlosses loss as a ``torch.nn.Module``:
    ``forward(input, target, mask=None)`` returns the loss as a tensor of the input's
    dtype, differentiable with respect to ``input``.  Array parameters (class weights,
    ``pos_weight``) are buffers, as in PyTorch's modules; the others are read-only
    attributes (build a new module to change them)."""

    loss_class = None       # the NumPy loss class, set on each generated subclass

    def __init__(self, **params):
        super().__init__()
        self._adopt(self.loss_class(**{k: _as_array(v) for k, v in params.items()}))

    @classmethod
    def _wrapping(cls, loss):
        module = cls.__new__(cls)
        torch.nn.Module.__init__(module)
        module._adopt(loss)
        return module

    def _adopt(self, loss):
        config, arrays = encode(loss)
        names = []
        for i, a in enumerate(arrays):
            name = next((k for k, v in loss._config.items() if v is a), f"_array{i}")
            self.register_buffer(name, torch.from_numpy(np.array(a)))
            names.append(name)
        object.__setattr__(self, "_config_text", config)
        object.__setattr__(self, "_array_names", tuple(names))
        object.__setattr__(self, "_counterpart", _pytorch_counterpart(type(loss)))
        frozen = [k for k in loss._config if k not in names and not k.startswith("_")]
        for k in frozen:
            object.__setattr__(self, k, loss._config[k])
        object.__setattr__(self, "_frozen", frozenset(frozen))

    def __setattr__(self, name, value):
        if name in self.__dict__.get("_frozen", ()):
            raise AttributeError(f"{name} is set when the loss is built; build a new "
                                 f"{type(self).__name__} to change it")
        super().__setattr__(name, value)

    @property
    def loss(self):
        """The configured onnxlosses loss (NumPy API), with the buffers' current values."""
        return decode(self._config_text, [getattr(self, n) for n in self._array_names])

    @property
    def config(self):
        return self.loss.config

    def extra_repr(self):
        text = repr(self.loss)
        return text[text.index("(") + 1:-1]

    def forward(self, input, target, mask=None):
        return _call(self._config_text, [getattr(self, n) for n in self._array_names],
                     input, target, mask, self._counterpart)


def from_loss(loss):
    """The ``torch.nn.Module`` of a configured onnxlosses loss (a preset, or one built
    with the NumPy API)."""
    module = _MODULES.get(type(loss))
    if module is None:
        raise TypeError(f"from_loss takes a loss of onnxlosses' registry, got "
                        f"{type(loss).__name__}")
    return module._wrapping(loss)


def _freeze(value):
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


@torch.compiler.assume_constant_result
def _functional_config(cls_name, frozen, tensor_names):
    return _functional_config_cached(cls_name, frozen, tensor_names)


@functools.lru_cache(maxsize=256)
def _functional_config_cached(cls_name, frozen, tensor_names):
    """The operator's config text for functional `cls_name` called with the constant
    keywords `frozen` and tensors for `tensor_names` (checked when the operator runs; the
    rest is checked here, once per distinct call)."""
    import json
    cls = _BY_CLASS_NAME[cls_name]
    loss = cls(**dict(frozen))
    config, _ = encode(loss, inline=True)
    body = json.loads(config)
    for i, name in enumerate(tensor_names):
        body["config"][name] = {"array": i}
    return json.dumps(body, sort_keys=True, allow_nan=True)


def _functional(cls):
    ctor = list(inspect.signature(cls.__init__).parameters.values())[1:]
    counterpart = _pytorch_counterpart(cls, functional=True)
    name = cls.spec.name

    def loss(input, target, *, mask=None, **params):
        tensors = {k: (v if isinstance(v, torch.Tensor) else torch.from_numpy(np.asarray(v)))
                   for k, v in params.items() if isinstance(v, (torch.Tensor, np.ndarray))}
        rest = tuple(sorted((k, _freeze(v)) for k, v in params.items() if k not in tensors))
        names = tuple(sorted(tensors))
        config = _functional_config(cls.__name__, rest, names)
        return _call(config, [tensors[k] for k in names], input, target, mask, counterpart)

    P = inspect.Parameter
    loss.__signature__ = inspect.Signature(
        [P("input", P.POSITIONAL_OR_KEYWORD), P("target", P.POSITIONAL_OR_KEYWORD)]
        + [p.replace(kind=P.KEYWORD_ONLY) for p in ctor] + [P("mask", P.KEYWORD_ONLY, default=None)])
    loss.__name__ = loss.__qualname__ = name
    loss.__module__ = __name__
    loss.__doc__ = (f"{cls.__name__} of onnxlosses as a PyTorch functional: "
                    f"{name}(input, target, *, <{cls.__name__}'s keywords>, mask=None); "
                    f"tensors as configuration (weights) are checked when it runs.")
    return loss


def _module_class(cls):
    ctor = inspect.signature(cls.__init__)
    doc = (f"``onnxlosses.{cls.__name__}`` as a ``torch.nn.Module``: the same keyword "
           f"arguments (weights as tensors or arrays); ``forward(input, target, "
           f"mask=None)``.\n\n" + Loss.__doc__)
    namespace = {"loss_class": cls, "__doc__": doc, "__module__": __name__,
                 "__qualname__": cls.__name__}
    module = type(cls.__name__, (Loss,), namespace)

    def __init__(self, **params):
        Loss.__init__(self, **params)
    __init__.__signature__ = ctor
    __init__.__qualname__ = f"{cls.__name__}.__init__"
    module.__init__ = __init__
    preset = getattr(cls, "preset", None)
    if preset is not None:
        def _preset(klass, name, **overrides):
            return klass._wrapping(preset(name, **{k: _as_array(v) for k, v in overrides.items()}))
        _preset.__doc__ = inspect.getdoc(preset)
        _preset.__name__ = _preset.__qualname__ = "preset"
        module.preset = classmethod(_preset)
    return module


_MODULES = {cls: _module_class(cls) for cls in LOSSES}
_BY_CLASS_NAME = {cls.__name__: cls for cls in LOSSES}
for _cls, _module in _MODULES.items():
    globals()[_cls.__name__] = _module
    globals()[_cls.spec.name] = _functional(_cls)
    __all__ += [_cls.__name__, _cls.spec.name]
del _cls, _module
