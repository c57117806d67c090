"""The ONNX graph of a combined loss: each term's emitter on the same builder and inputs,
their outputs weighted and added.

    loss = sum_k w_k loss_k,   grad = sum_k w_k grad_k

The builder merges identical nodes (the same operator on the same inputs with the same
attributes, see GraphBuilder.op), so the terms share what they compute alike: the
log-softmax of the logits, the one-hot of the targets."""
import dataclasses

import numpy as np

from ._export import _emitter


def emit(b, loss, io):
    total = grad = None
    for k, (w, term) in enumerate(loss.config["terms"]):
        term_io = dataclasses.replace(io, reduction=term.config.get("reduction", io.reduction))
        name, g = _emitter(term.spec.emit)(b, term, term_io)
        if w != 1:
            weight = b.const(np.array(w), f"weight_{k}")
            name = b.op("Mul", name, weight, name=f"weighted_loss_{k}")
            if g is not None:
                g = b.op("Mul", g, weight, name=f"weighted_grad_{k}")
        total = name if total is None else b.op("Add", total, name, name="loss_sum")
        if io.grad:
            grad = g if grad is None else b.op("Add", grad, g, name="grad_sum")
    return total, grad
