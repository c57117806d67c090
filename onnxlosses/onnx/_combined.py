"""The ONNX graph of a combined loss: each term's emitter on the same builder and inputs,
their outputs weighted and added.

    loss = sum_k w_k loss_k,   grad = sum_k w_k grad_k

The builder merges identical nodes (the same operator on the same inputs with the same
attributes, see GraphBuilder.op), so the terms share what they compute alike: the
log-softmax of the logits, the one-hot of the targets.  A preset's combined loss that
refuses a single-channel input (`_refuse_one_channel`) gives NaN for one where the graph's
C is symbolic, and refuses a fixed C = 1 at export."""
import dataclasses

import numpy as np

from ._export import _emitter
from ._targets import poison


def emit(b, loss, io):
    why = loss.config["_refuse_one_channel"]
    if why is not None and io.shape[1] == 1:
        raise ValueError(f"shape[1] is 1, a single channel: {why}")
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
    if why is not None and not isinstance(io.shape[1], (int, np.integer)):
        # a graph cannot raise: NaN for a single-channel input, as for a bad target
        c = b.op("Gather", b.op("Shape", io.x, name="shape"), b.const(np.int64(1), "class_axis"),
                 name="num_classes_i", axis=0)
        one = b.op("Equal", c, b.const(np.int64(1), "one_i64"), name="single_channel")
        total = poison(b, total, one, "loss_channels_checked")
        if grad is not None:
            grad = poison(b, grad, one, "grad_channels_checked")
    return total, grad
