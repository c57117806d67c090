"""References of a combined loss: the weighted sum of its terms' references.

    L = sum_k w_k L_k,   dL/dx = sum_k w_k dL_k/dx

Each term's reference is its own (written from its formula, or PyTorch's), so a combined
loss is checked against sums the code under test never computes."""
import numpy as np


def _sum(which, loss, input, target, mask=None, grad_output=None):
    from . import numpy_reference, torch_reference
    ref = numpy_reference if which == "numpy" else torch_reference
    value = grad = None
    for w, term in loss.config["terms"]:
        kwargs = {} if mask is None else {"mask": mask}
        v, g = ref(term, input, target, grad_output=grad_output, **kwargs)
        v = w * np.asarray(v, dtype=np.float64)
        g = w * np.asarray(g, dtype=np.float64)
        value = v if value is None else value + v
        grad = g if grad is None else grad + g
    return value, grad


def numpy_reference(loss, input, target, mask=None, grad_output=None):
    return _sum("numpy", loss, input, target, mask, grad_output)


def torch_reference(loss, input, target, mask=None, grad_output=None):
    return _sum("torch", loss, input, target, mask, grad_output)
