"""Independent references for every loss: the oracles of the parity harness and the tests.

Two per loss, neither calling the code under test (they read only ``loss.config`` and
``type(loss)``):

- a float64 NumPy reference written from the formulas in docs/semantics.md and the
  docstrings, value and gradient (the derivative written out from the formula; exact to float64
  rounding, checked against central differences in ``tests/test_references.py``);
- a PyTorch reference: PyTorch's own loss where it has one, else the loss composed from
  torch ops, the gradient by autograd.  torch is imported only when it runs; without torch,
  or for a case PyTorch cannot express, it raises ``Unavailable``.

Both have the signature ``ref(loss, input, target, mask=None, grad_output=None) ->
(value, grad)``: ``grad`` is d sum(grad_output * loss) / d input, with the input's shape;
grad_output defaults to 1 (for reduction "none", one per loss element).  A batch the loss
refuses (a counted class index outside [0, C), a BCE probability outside [0, 1]) raises
ValueError as the loss does.

Each loss's spec names its two references (``reference``, ``torch_reference``).

>>> import numpy as np
>>> from onnxlosses import CrossEntropyLoss
>>> from onnxlosses.references import numpy_reference
>>> value, grad = numpy_reference(CrossEntropyLoss(), np.zeros((1, 2)), np.array([0]))
>>> round(float(value), 6), grad.tolist()
(0.693147, [[-0.5, 0.5]])
"""
import importlib

from .pytorch import Unavailable

__all__ = ["Unavailable", "numpy_reference", "torch_reference"]


def _resolve(loss, which):
    path = getattr(getattr(loss, "spec", None), which, "")
    if not path:
        raise TypeError(f"no reference for {type(loss).__name__}")
    module, name = path.split(":")
    return getattr(importlib.import_module(f"onnxlosses.references.{module}"), name)


def numpy_reference(loss, input, target, mask=None, grad_output=None):
    """(value, grad) in float64 from the loss's formula; see the module docstring."""
    return _resolve(loss, "reference")(loss, input, target, mask=mask,
                                       grad_output=grad_output)


def torch_reference(loss, input, target, mask=None, grad_output=None):
    """(value, grad) from PyTorch, in the input's dtype; raises Unavailable."""
    return _resolve(loss, "torch_reference")(loss, input, target, mask=mask,
                                             grad_output=grad_output)
