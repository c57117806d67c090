"""Independent references for every loss: the oracles of the parity harness and the tests.

Two per loss, neither calling the code under test (they read only ``loss.config`` and
``type(loss)``):

- a float64 NumPy reference written from the formulas in the README and the docstrings,
  value and gradient (the derivative written out from the formula; exact to float64
  rounding, checked against central differences in ``tests/test_references.py``);
- a PyTorch reference: PyTorch's own loss where it has one, else the loss composed from
  torch ops, the gradient by autograd.  torch is imported only when it runs; without torch,
  or for a case PyTorch cannot express, it raises ``Unavailable``.

Both have the signature ``ref(loss, input, target, mask=None, grad_output=None) ->
(value, grad)``: ``grad`` is d sum(grad_output * loss) / d input, with the input's shape;
grad_output defaults to 1 (for reduction "none", one per loss element).  A batch the loss
refuses (a counted class index outside [0, C), a BCE probability outside [0, 1]) raises
ValueError as the loss does.

``REFERENCES`` maps each loss class to its pair: the one table to move into the loss
registry.

>>> import numpy as np
>>> from onnxlosses import CrossEntropyLoss
>>> from onnxlosses.references import numpy_reference
>>> value, grad = numpy_reference(CrossEntropyLoss(), np.zeros((1, 2)), np.array([0]))
>>> round(float(value), 6), grad.tolist()
(0.693147, [[-0.5, 0.5]])
"""
from typing import Callable, NamedTuple

from ..bce import BCELoss, BCEWithLogitsLoss
from ..cross_entropy import CrossEntropyLoss, NLLLoss
from ..dice import DiceLoss, GeneralizedDiceLoss, JaccardLoss, TverskyLoss
from ..focal import FocalLoss, SigmoidFocalLoss
from . import bce, cross_entropy, dice, focal, pytorch
from .pytorch import Unavailable

__all__ = ["REFERENCES", "Reference", "Unavailable", "numpy_reference", "reference_for",
           "torch_reference"]


class Reference(NamedTuple):
    numpy: Callable      # float64 NumPy, from the formula
    torch: Callable      # PyTorch: its loss, or composed from its ops (autograd)


REFERENCES = {
    CrossEntropyLoss: Reference(cross_entropy.cross_entropy, pytorch.cross_entropy),
    NLLLoss: Reference(cross_entropy.cross_entropy, pytorch.cross_entropy),
    BCELoss: Reference(bce.bce, pytorch.bce),
    BCEWithLogitsLoss: Reference(bce.bce_with_logits, pytorch.bce),
    FocalLoss: Reference(focal.focal, pytorch.focal),
    SigmoidFocalLoss: Reference(focal.sigmoid_focal, pytorch.sigmoid_focal),
    DiceLoss: Reference(dice.dice_family, pytorch.dice_family),
    JaccardLoss: Reference(dice.dice_family, pytorch.dice_family),
    TverskyLoss: Reference(dice.dice_family, pytorch.dice_family),
    GeneralizedDiceLoss: Reference(dice.dice_family, pytorch.dice_family),
}

# which of PyTorch's references is PyTorch's own loss (not composed from its ops)
TORCH_LIBRARY_LOSSES = (CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss)


def reference_for(loss):
    """The Reference of this loss's class; TypeError for a loss without one."""
    try:
        return REFERENCES[type(loss)]
    except KeyError:
        raise TypeError(f"no reference for {type(loss).__name__}") from None


def numpy_reference(loss, input, target, mask=None, grad_output=None):
    """(value, grad) in float64 from the loss's formula; see the module docstring."""
    return reference_for(loss).numpy(loss, input, target, mask=mask, grad_output=grad_output)


def torch_reference(loss, input, target, mask=None, grad_output=None):
    """(value, grad) from PyTorch, in the input's dtype; raises Unavailable."""
    return reference_for(loss).torch(loss, input, target, mask=mask, grad_output=grad_output)
