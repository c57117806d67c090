"""Exported graphs and out-of-range class-index targets: NaN loss and gradient when a counted
target (not ignore_index, mask True) lies outside [0, C), where the kernel raises; the
reference values otherwise, with out-of-range values allowed at ignored and masked-out
positions.  References are PyTorch (float64, autograd; onnxlosses.references)."""
import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx.reference import ReferenceEvaluator

from onnxlosses import (CrossEntropyLoss, DiceLoss, FocalLoss, GeneralizedDiceLoss,
                        JaccardLoss, NLLLoss, SigmoidFocalLoss, TverskyLoss)
from onnxlosses.onnx import DEFAULT_OPSET, attach, newest_onnxruntime_opset, \
    supported_opsets, to_onnx
from onnxlosses.references import torch_reference

pytest.importorskip("torch", reason="PyTorch is the reference for these tests")

C = 4
IGNORE = 200                     # fits every target dtype, and is itself outside [0, C)
TARGET_DTYPES = ["uint8", "int16", "int32", "int64"]
OPSETS = sorted({13, DEFAULT_OPSET, newest_onnxruntime_opset()})


# -- float64 PyTorch references (onnxlosses.references): value, d value / d x ---------------

def reference(name, x, t, mask, ignore):
    """PyTorch's value and gradient of make_loss(name) over counted positions: its own loss
    for cross-entropy and NLL, composed from its ops for the others (autograd)."""
    return torch_reference(make_loss(name, ignore_index=ignore), np.asarray(x, np.float64),
                           t, mask=mask)


CLASSES = {
    "cross_entropy": CrossEntropyLoss, "nll_loss": NLLLoss, "focal_loss": FocalLoss,
    "sigmoid_focal_loss": SigmoidFocalLoss, "dice_loss": DiceLoss,
    "jaccard_loss": JaccardLoss, "tversky_loss": TverskyLoss,
    "generalized_dice_loss": GeneralizedDiceLoss,
}


def make_loss(name, **params):
    """The loss the references above describe (sigmoid focal summed), with ignore_index."""
    defaults = dict(ignore_index=IGNORE)
    if name == "sigmoid_focal_loss":
        defaults["reduction"] = "sum"
    return CLASSES[name](**{**defaults, **params})


def batch(target_dtype, seed=0, shape=(2, C, 3, 5)):
    """Logits, in-range targets with some ignored positions, and a mask."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    pos = (shape[0],) + shape[2:]
    t = rng.integers(0, C, pos)
    t[rng.random(pos) < 0.2] = IGNORE
    mask = rng.random(pos) < 0.7
    return x, t.astype(target_dtype), mask


def out_of_range_values(target_dtype):
    info = np.iinfo(target_dtype)
    values = [C, info.max]
    if info.min < 0:
        values += [-1, info.min]
    return values


def run_all(model, feeds):
    """(onnxruntime CPU outputs, onnx.reference outputs); an onnxruntime failure is
    returned as the exception."""
    names = {i.name for i in model.graph.input}
    feeds = {k: v for k, v in feeds.items() if k in names}
    try:
        got = ort.InferenceSession(model.SerializeToString(),
                                   providers=["CPUExecutionProvider"]).run(None, feeds)
    except Exception as exc:  # noqa: BLE001 - the unchecked graph may fail here
        got = exc
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            ref = ReferenceEvaluator(model).run(None, feeds)
        except Exception as exc:  # noqa: BLE001
            ref = exc
    return got, ref


def export(name, dtype="float64", target_dtype="int64", **kw):
    return to_onnx(make_loss(name), dtype=dtype, target_dtype=target_dtype, grad=True, **kw)


def feeds_for(name, x, t, mask=None):
    if name == "nll_loss":
        x = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    out = {"input": x, "target": t}
    if mask is not None:
        out["mask"] = mask
    return out


def assert_all_nan(outputs):
    assert not isinstance(outputs, Exception), outputs
    for out in outputs:
        assert np.all(np.isnan(out)), out


NAMES = sorted(CLASSES)


@pytest.mark.parametrize("check", [True, False], ids=["checked", "unchecked"])
@pytest.mark.parametrize("use_mask", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("target_dtype", TARGET_DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_in_range_targets_match_pytorch(name, target_dtype, use_mask, check):
    """Valid batches, ignored positions included (and out-of-range values at masked-out
    positions): both settings give PyTorch's value and gradient."""
    x, t, mask = batch(target_dtype)
    if use_mask:        # every masked-out position out of range
        off = np.flatnonzero(~mask)
        other = -7 if np.iinfo(target_dtype).min < 0 else 255
        t.flat[off] = np.where(np.arange(off.size) % 2, C + 3, other)
    model = export(name, target_dtype=target_dtype, mask=use_mask, check_targets=check)
    feeds = feeds_for(name, x, t, mask if use_mask else None)
    want_v, want_g = reference(name, feeds["input"], t, mask if use_mask else None, IGNORE)
    for got in run_all(model, feeds):
        assert not isinstance(got, Exception), got
        np.testing.assert_allclose(got[0], want_v, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(got[1], want_g, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("target_dtype", TARGET_DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_counted_out_of_range_target_gives_nan(name, target_dtype):
    x, t, _ = batch(target_dtype)
    model = export(name, target_dtype=target_dtype)
    for bad in out_of_range_values(target_dtype):
        tb = t.copy()
        tb[1, 2, 4] = bad
        ort_out, ref_out = run_all(model, feeds_for(name, x, tb))
        assert_all_nan(ort_out)
        assert_all_nan(ref_out)


@pytest.mark.parametrize("name", NAMES)
def test_masked_in_out_of_range_target_gives_nan(name):
    x, t, mask = batch("int32", seed=1)
    mask[0, 1, 1] = True
    t[0, 1, 1] = C
    model = export(name, target_dtype="int32", mask=True)
    for outputs in run_all(model, feeds_for(name, x, t, mask)):
        assert_all_nan(outputs)


@pytest.mark.parametrize("name", NAMES)
def test_unchecked_graph_has_no_check(name):
    """check_targets=False: the graph of before, with its runtime-dependent answer on an
    out-of-range target (onnxruntime's error, or a plausible number: README)."""
    checked, unchecked = export(name), export(name, check_targets=False)
    ops = lambda m: [n.name for n in m.graph.node]
    check_nodes = ("target_any_bad", "target_in_range", "loss_checked", "grad_checked")
    assert all(any(n.endswith(c) for n in ops(checked)) for c in check_nodes)
    assert not any(n.endswith(c) for n in ops(unchecked) for c in check_nodes)
    meta = lambda m: {p.key: p.value for p in m.metadata_props}
    assert meta(checked)["onnxlosses.check_targets"] == "true"
    assert meta(unchecked)["onnxlosses.check_targets"] == "false"
    x, t, _ = batch("int64")
    t[0, 0, 0] = C
    got = run_all(unchecked, feeds_for(name, x, t))[0]
    assert isinstance(got, Exception) or not np.isnan(got[0]).all()


@pytest.mark.parametrize("opset", supported_opsets())
@pytest.mark.parametrize("name", ["cross_entropy", "dice_loss", "sigmoid_focal_loss"])
def test_every_opset(name, opset):
    x, t, _ = batch("uint8", seed=opset)
    model = export(name, target_dtype="uint8", opset=opset)
    want = reference(name, feeds_for(name, x, t)["input"], t, None, IGNORE)
    for got in run_all(model, feeds_for(name, x, t)):
        np.testing.assert_allclose(got[0], want[0], rtol=1e-10)
    t[0, 0, 0] = 255
    for outputs in run_all(model, feeds_for(name, x, t)):
        assert_all_nan(outputs)


@pytest.mark.parametrize("name", ["cross_entropy", "focal_loss", "sigmoid_focal_loss",
                                  "dice_loss"])
def test_reduction_none_and_float16_are_all_nan(name):
    x, t, _ = batch("int16")
    t[1, 0, 0] = -3
    loss, loss_none = make_loss(name), make_loss(name, reduction="none")
    for model, dtype in [(to_onnx(loss_none, dtype="float32", target_dtype="int16", grad=True),
                          np.float32),
                         (to_onnx(loss, dtype="float16", target_dtype="int16", grad=True),
                          np.float16)]:
        feeds = feeds_for(name, x, t)
        feeds["input"] = feeds["input"].astype(dtype)
        for outputs in run_all(model, feeds):
            assert_all_nan(outputs)
            assert outputs[1].shape == x.shape


@pytest.mark.parametrize("name", ["cross_entropy", "nll_loss"])
def test_native_operators_are_checked(name):
    x, t, mask = batch("int64")
    feeds = feeds_for(name, x, t, mask)
    model = to_onnx(make_loss(name), dtype="float64", impl="native", mask=True)
    want = reference(name, feeds["input"], t, mask, IGNORE)[0]
    for got in run_all(model, feeds):
        np.testing.assert_allclose(got[0], want, rtol=1e-10)
    t[0, 0, 0], mask[0, 0, 0] = -1, True
    for outputs in run_all(model, feeds_for(name, x, t, mask)):
        assert_all_nan(outputs)


def test_empty_and_all_ignored_batches_are_not_flagged():
    x = np.zeros((0, C, 3, 3))
    t = np.zeros((0, 3, 3), np.int64)
    for name in NAMES:
        got = run_all(export(name), feeds_for(name, x, t))[0]
        assert got[1].shape == x.shape
    x, t, _ = batch("int64")
    t[:] = IGNORE
    got = run_all(export("cross_entropy"), {"input": x, "target": t})[0]
    assert np.isnan(got[0]) and np.all(got[1] == 0)     # nothing counted: 0 / 0, as the kernel


def test_byte_identical_and_check_adds_few_nodes():
    for name in NAMES:
        a = export(name, target_dtype="uint8").SerializeToString()
        assert a == export(name, target_dtype="uint8").SerializeToString()
        off = export(name, target_dtype="uint8", check_targets=False)
        on = onnx.load_from_string(a)
        assert a != off.SerializeToString()
        assert len(on.graph.node) - len(off.graph.node) <= 16, name


def test_attach_checks_targets():
    rng = np.random.default_rng(3)
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["logits"], name="id")], "m",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", C, "H"])],
        [onnx.helper.make_tensor_value_info("logits", onnx.TensorProto.FLOAT, ["N", C, "H"])])
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)],
                                   ir_version=8)
    x = rng.standard_normal((2, C, 5)).astype(np.float32)
    t = np.array([[0, 1, 2, 3, C], [1, 1, 0, 0, 2]], np.int64)
    for check in (True, False):
        merged = attach(model, "logits", CrossEntropyLoss(), grad=True, check_targets=check)
        sess = ort.InferenceSession(merged.SerializeToString(),
                                    providers=["CPUExecutionProvider"])
        if check:
            _, v, g = sess.run(None, {"x": x, "target": t})
            assert np.isnan(v) and np.isnan(g).all()
        else:   # onnxruntime's own GatherElements error
            with pytest.raises(Exception, match="GatherElements"):
                sess.run(None, {"x": x, "target": t})


def test_loss_method_takes_check_targets():
    model = CrossEntropyLoss().to_onnx(check_targets=False)
    assert {p.key: p.value for p in model.metadata_props}["onnxlosses.check_targets"] == \
        "false"
