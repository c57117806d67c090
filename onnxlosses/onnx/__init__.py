"""ONNX export of configured losses: `loss.to_onnx(...)`, `attach(model, ...)`."""
from ._attach import attach
from ._export import DEFAULT_OPSET, newest_onnxruntime_opset, supported_opsets, to_onnx

__all__ = ["DEFAULT_OPSET", "attach", "newest_onnxruntime_opset", "supported_opsets", "to_onnx"]
