"""attach(): append a loss to an existing model, fed by one of its outputs."""
import onnx
from onnx import compose

from ._export import to_onnx

_ONNX_TO_NAME = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.DOUBLE: "float64",
                 onnx.TensorProto.FLOAT16: "float16"}


def attach(model, output_name, loss, target_name="target", *, target_dtype=None,
           grad=False, mask_name=None, check_targets=True):
    """Return a model whose outputs are `model`'s plus `loss` (and `grad` when asked).

    `output_name` is the model output holding the logits (N, C, d..); the loss graph takes
    it as its input, a new graph input `target_name` (and `mask_name` when given) feeds the
    targets.  The model's opset and IR version are kept.  `check_targets`: as in
    `to_onnx`, NaN loss and gradient for a counted class index outside [0, C).
    """
    outputs = {o.name: o for o in model.graph.output}
    if output_name not in outputs:
        raise ValueError(f"output_name {output_name!r} is not an output of the model; "
                         f"it has {sorted(outputs)}")
    taken = {i.name for i in model.graph.input} | set(outputs)
    for name in [target_name, mask_name, "loss"] + (["grad"] if grad else []):
        if name is not None and name in taken:
            raise ValueError(f"the model already has an input or output named {name!r}")
    tensor = outputs[output_name].type.tensor_type
    if tensor.elem_type not in _ONNX_TO_NAME:
        raise ValueError(f"output {output_name!r} must be float16/32/64, "
                         f"got ONNX type {tensor.elem_type}")
    shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
             for d in tensor.shape.dim] if tensor.HasField("shape") else None
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    dtype = _ONNX_TO_NAME[tensor.elem_type]
    loss_model = to_onnx(loss, opset=opset, dtype=dtype, target_dtype=target_dtype,
                         shape=shape, grad=grad, mask=mask_name is not None,
                         check_targets=check_targets, ir_version=model.ir_version)
    renames = {"target": target_name}
    if mask_name is not None:
        renames["mask"] = mask_name
    for vi in loss_model.graph.input:
        vi.name = renames.get(vi.name, vi.name)
    for node in loss_model.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
    merged = compose.merge_models(
        model, loss_model, io_map=[(output_name, "input")],
        outputs=[o.name for o in model.graph.output] + [o.name for o in loss_model.graph.output],
        producer_name="onnxlosses")
    present = {p.key for p in merged.metadata_props}
    for prop in loss_model.metadata_props:  # merge_models keeps them in some onnx versions
        if prop.key not in present:
            entry = merged.metadata_props.add()
            entry.key, entry.value = prop.key, prop.value
    onnx.checker.check_model(merged, full_check=True)
    return merged
