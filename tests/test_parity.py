"""The parity harness: passes what agrees, fails what does not, never counts a missing
provider as a pass, and applies the documented onnx.reference exceptions."""
import json

import numpy as np
import onnxruntime as ort
import pytest

from onnxlosses import BCELoss, CrossEntropyLoss, FocalLoss, NLLLoss, parity

pytest.importorskip("torch", reason="PyTorch is one of the harness's paths")


def batch(dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, 5, 4, 3)).astype(dtype)
    t = rng.integers(0, 5, (2, 4, 3)).astype(np.uint8)
    t[0, 0] = 255
    return x, t


def statuses(report):
    return {r.path: r.status for r in report.results}


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_every_path_passes_on_ordinary_data(dtype):
    x, t = batch(dtype)
    report = parity.check(CrossEntropyLoss(ignore_index=255, label_smoothing=0.1), x, t)
    got = statuses(report)
    assert got["kernel"] == got["onnxruntime:CPUExecutionProvider"] == "pass"
    assert got["onnx.reference"] == got["torch"] == "pass"
    assert report.ok
    cpu = next(r for r in report.results if r.path == "onnxruntime:CPUExecutionProvider")
    assert cpu.providers == ["CPUExecutionProvider"] and cpu.fallback_nodes == []
    json.dumps(report.as_dict())
    assert "onnxruntime:CPUExecutionProvider" in report.table()


def test_missing_provider_is_reported_unavailable_not_passed():
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA: covered by test_cuda_grid")
    x, t = batch()
    report = parity.check(CrossEntropyLoss(ignore_index=255), x, t,
                          providers=["CPUExecutionProvider", "CUDAExecutionProvider"])
    cuda = next(r for r in report.results if r.path == "onnxruntime:CUDAExecutionProvider")
    assert cuda.status == "unavailable" and "no CUDAExecutionProvider" in cuda.note
    assert cuda.value is None


def test_cuda_grid():
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        pytest.skip("onnxruntime lists no CUDAExecutionProvider here")
    x, t = batch()
    report = parity.check(CrossEntropyLoss(ignore_index=255), x, t,
                          providers=["CUDAExecutionProvider"])
    cuda = next(r for r in report.results if r.path == "onnxruntime:CUDAExecutionProvider")
    if cuda.status == "unavailable":
        pytest.skip(f"no CUDA session here: {cuda.note}")
    assert cuda.status == "pass", report.table()


def test_onnxruntime_without_placement_report_degrades(monkeypatch):
    """Before 1.24.1 onnxruntime cannot say which provider ran each node: CPU alone cannot
    have fallen back; any other provider is compared and marked "placement unknown"."""
    from onnxlosses.onnx._export import newest_onnxruntime_opset
    newest_onnxruntime_opset()          # probed (and cached) with the real sessions
    real = ort.InferenceSession

    class OldSession:
        def __init__(self, model, options, providers):
            self._session = real(model, options, providers=["CPUExecutionProvider"])
            self._providers = providers

        def get_providers(self):
            return self._providers

        def run(self, *args):
            return self._session.run(*args)

    monkeypatch.setattr(ort, "InferenceSession", OldSession)
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    x, t = batch()
    report = parity.check(CrossEntropyLoss(ignore_index=255), x, t,
                          providers=["CPUExecutionProvider", "CUDAExecutionProvider"])
    got = {r.path: r for r in report.results}
    cpu, other = got["onnxruntime:CPUExecutionProvider"], got["onnxruntime:CUDAExecutionProvider"]
    assert cpu.status == "pass" and cpu.note == ""
    assert other.status == "pass" and other.note.startswith("placement unknown")
    assert report.ok


def test_a_wrong_graph_fails(monkeypatch):
    x, t = batch()
    loss = CrossEntropyLoss(ignore_index=255)
    other = CrossEntropyLoss(ignore_index=255, label_smoothing=0.5)
    monkeypatch.setattr(loss, "to_onnx", other.to_onnx)
    report = parity.check(loss, x, t)
    got = statuses(report)
    assert got["onnxruntime:CPUExecutionProvider"] == "fail"
    assert got["onnx.reference"] == "fail"
    assert got["kernel"] == got["torch"] == "pass"
    assert not report.ok


def test_reference_log_softmax_overflow_is_a_known_difference():
    x, t = batch()
    x[0, :, 1, 1] = [300.0, -300.0, 0.0, 0.0, 0.0]
    t[0, 1, 1] = 1
    report = parity.check(CrossEntropyLoss(ignore_index=255), x, t)
    ref = next(r for r in report.results if r.path == "onnx.reference")
    assert ref.status == "known-difference" and "log(softmax)" in ref.note
    assert statuses(report)["onnxruntime:CPUExecutionProvider"] == "pass"
    assert report.ok


def test_reference_native_nll_negative_ignore_index_is_known():
    logp = np.log(np.full((4, 3), 1 / 3))
    report = parity.check(NLLLoss(ignore_index=-1), logp, np.array([0, -1, 1, 2]),
                          impl="native")
    got = statuses(report)
    assert got["onnxruntime:CPUExecutionProvider"] == "pass"
    assert got["onnx.reference"] in ("known-difference", "pass")
    assert report.ok


def test_all_ignored_and_empty_batches():
    x, t = batch()
    t[:] = 255
    report = parity.check(CrossEntropyLoss(ignore_index=255), x, t)
    assert report.ok and all(np.isnan(r.value) for r in report.results if r.value is not None)
    empty = parity.check(CrossEntropyLoss(), np.zeros((0, 5, 2, 2), np.float32),
                         np.zeros((0, 2, 2), np.int64))
    assert empty.ok


def test_mask_with_probability_targets_reports_torch_unavailable():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 4)).astype(np.float32)
    q = rng.dirichlet(np.ones(4), 3).astype(np.float32)
    report = parity.check(CrossEntropyLoss(), x, q, mask=np.array([True, False, True]))
    got = statuses(report)
    assert got["torch"] == "unavailable" and got["onnxruntime:CPUExecutionProvider"] == "pass"


def test_shape_only_nodes_are_recognised():
    model = CrossEntropyLoss(label_smoothing=0.1).to_onnx(grad=True)
    shape_only = parity._shape_only_nodes(model)
    ops = {n.name: n.op_type for n in model.graph.node}
    assert any(ops[n] == "Shape" for n in shape_only)
    assert all(ops[n] not in ("LogSoftmax", "Exp", "GatherElements") for n in shape_only)


def test_every_grid_configuration_passes_in_every_memory_layout():
    """Negative strides, channels-last, Fortran order, strided views of input, target and
    mask: the harness copies what a path cannot take (torch.tensor refused negative
    strides: the PyTorch path raised instead of reporting)."""
    from helpers import LAYOUTS, relayout

    from onnxlosses._parity_grid import SHAPES, _data, configurations
    failed = []
    for name, loss, kind, use_mask in configurations():
        x, t = _data(kind, SHAPES[4], "float32", 0, loss.spec.input)
        mask = np.random.default_rng(0).random((2, 6, 5)) < 0.8 if use_mask else None
        for layout in LAYOUTS:
            report = parity.check(
                loss, relayout(x, layout), relayout(t, layout, 1 if t.ndim == 4 else 0),
                "CPUExecutionProvider", mask=None if mask is None else relayout(mask, layout, 0))
            if not report.ok or "error" in statuses(report).values():
                failed.append(f"{name} {layout}\n{report.table()}")
    assert not failed, "\n".join(failed)


def test_masked_uint8_targets_with_a_negative_ignore_index():
    # the PyTorch path wrote ignore_index=-100 into a uint8 array (156) and failed
    x, t = batch()
    t[t == 255] = 1
    mask = np.random.default_rng(4).random(t.shape) < 0.6
    report = parity.check(CrossEntropyLoss(), x, t, mask=mask)
    assert statuses(report)["torch"] == "pass", report.table()


def test_a_single_provider_name_is_one_provider():
    x, t = batch()
    report = parity.check(CrossEntropyLoss(ignore_index=255), x, t,
                          providers="CPUExecutionProvider")
    ort_paths = [r for r in report.results if r.path.startswith("onnxruntime:")]
    assert [(r.path, r.status) for r in ort_paths] == \
        [("onnxruntime:CPUExecutionProvider", "pass")]


@pytest.mark.parametrize("providers,error,match", [
    (["CPUExecutionProvider", "CPU"], ValueError,
     r"providers must be onnxruntime provider names .*, got 'CPU'"),
    ("C", ValueError, r"providers must be onnxruntime provider names .*, got 'C'"),
    ([], ValueError, r"providers must name at least one onnxruntime provider, got \[\]"),
    (5, TypeError, r"providers must be None, a provider name or a list of them, got int"),
    ([None], TypeError, r"providers must hold provider names \(str\), got None"),
])
def test_unknown_providers_are_refused_never_passed(providers, error, match):
    x, t = batch()
    with pytest.raises(error, match=match):
        parity.check(CrossEntropyLoss(ignore_index=255), x, t, providers=providers)


@pytest.mark.parametrize("kwargs,match", [
    (dict(input=np.zeros((2, 5), np.int32)), r"input must be float16, float32 or float64, "
                                             r"got dtype int32"),
    (dict(target=np.zeros(2, np.int8)), r"target must be class indices .*, got dtype int8"),
    (dict(mask=np.ones(2, np.uint8)), r"mask must be a boolean array or None, got dtype uint8"),
    (dict(grad=1), r"grad must be True or False, got 1"),
])
def test_argument_types_are_named(kwargs, match):
    args = dict(input=np.zeros((2, 5), np.float32), target=np.zeros(2, np.int64))
    args.update(kwargs)
    with pytest.raises(TypeError, match=match):
        parity.check(CrossEntropyLoss(), **args)


def test_torch_path_takes_a_single_position():
    # (C,) logits and a 0-d target: the copy for PyTorch keeps the target 0-d
    report = parity.check(CrossEntropyLoss(), np.arange(5.0), np.array(2))
    assert statuses(report)["torch"] == "pass"


def test_focal_with_a_scalar_alpha_exports_with_the_batch_classes():
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    report = parity.check(FocalLoss(alpha=0.25), x, np.array([0, 2]),
                          ["CPUExecutionProvider"])
    assert report.ok, report.table()


def test_a_nan_where_the_oracle_is_finite_shows_as_an_infinite_difference():
    from onnxlosses.parity import _diff
    max_abs, max_rel, same_shape = _diff(np.array([1.0, np.nan]), np.array([1.0, 2.0]))
    assert same_shape and max_abs == np.inf and max_rel == np.inf


def test_float16_overflow_is_compared_as_inf_on_every_path_and_said():
    """A reference beyond float16's range is what float16 represents, -inf, for every
    path, and the report says so."""
    p = 6e-8                                    # a float16 subnormal probability
    x = np.array([[p, 0.5]], np.float16)
    t = np.ones((1, 2), np.float16)
    # BCE mean over 2 elements: d/dp of -log(p) / 2 is -1 / (2 p), by hand
    exact = -1.0 / (2 * float(x[0, 0]))
    assert exact < -float(np.finfo(np.float16).max)
    report = parity.check(BCELoss(), x, t)
    ran = [r for r in report.results if r.status != "unavailable"]
    assert {r.path for r in ran} >= {"kernel", "onnxruntime:CPUExecutionProvider",
                                     "onnx.reference", "torch"}
    for r in ran:
        assert r.status == "pass", report.table()
        assert r.grad[0, 0] == -np.inf and r.grad[0, 1] == -1.0
    assert len(report.notes) == 1, report.notes
    assert "gradient is beyond float16's range at 1 element(s)" in report.notes[0]
    assert "compared as float16 represents it" in report.table()


def test_passes_say_whether_they_needed_the_absolute_tolerance():
    x, t = batch(np.float32)
    report = parity.check(CrossEntropyLoss(ignore_index=255), x, t, "CPUExecutionProvider")
    assert {r.passed_on for r in report.results} == {"relative"}, report.table()
    # a value of 0 off by 1e-7 is within atol (2e-6) only: |1e-7| > rtol * 0
    tol = parity.TOLERANCES["float32"]
    assert parity._within(np.float64(1e-7), np.float64(0.0), tol)
    assert not parity._within(np.float64(1e-7), np.float64(0.0), dict(tol, atol=0.0))
