"""attach(): a loss appended to a small real model equals model-then-kernel."""
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from onnxlosses import CrossEntropyLoss
from onnxlosses.onnx import attach


def tiny_segmenter(opset=17, ir_version=8):
    """A 1x1 convolution from an RGB image to 4 class logits, NCHW, symbolic N/H/W."""
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3, 1, 1)).astype(np.float32), "w")
    bias = numpy_helper.from_array(rng.standard_normal(4).astype(np.float32), "b")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["image", "w", "b"], ["logits"], name="conv")], "seg",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 4, "H", "W"])],
        initializer=[w, bias])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=ir_version)


def test_attach_equals_model_then_kernel():
    model = tiny_segmenter()
    loss = CrossEntropyLoss(weight=[1.0, 2.0, 0.5, 1.0], ignore_index=255, label_smoothing=0.1)
    merged = attach(model, "logits", loss, target_name="labels", target_dtype="uint8",
                    grad=True)
    assert [o.name for o in merged.graph.output] == ["logits", "loss", "grad"]
    assert [i.name for i in merged.graph.input] == ["image", "labels"]
    assert merged.opset_import[0].version == 17
    rng = np.random.default_rng(1)
    image = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    labels = rng.integers(0, 4, (2, 5, 6)).astype(np.uint8)
    labels[0, 0, :3] = 255
    sess = ort.InferenceSession(merged.SerializeToString(), providers=["CPUExecutionProvider"])
    logits, value, grad = sess.run(None, {"image": image, "labels": labels})
    plain = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(logits, plain.run(None, {"image": image})[0])
    want_v, want_g = loss.value_and_grad(logits, labels)
    np.testing.assert_allclose(value, want_v, rtol=2e-5)
    np.testing.assert_allclose(grad, want_g, rtol=2e-5, atol=1e-7)


def test_attach_errors():
    model = tiny_segmenter()
    with pytest.raises(ValueError, match=r"output_name 'scores' is not an output"):
        attach(model, "scores", CrossEntropyLoss())
    with pytest.raises(ValueError, match=r"already has an input or output named 'image'"):
        attach(model, "logits", CrossEntropyLoss(), target_name="image")
