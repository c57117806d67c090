"""`python -m onnxlosses placement`: onnxruntime-gpu's CUDA placement of the exported
losses, without a GPU.  Needs onnxruntime-gpu in its own virtualenv (ONNXLOSSES_PLACEMENT_VENV,
default build/placement-venv, made by `python -m onnxlosses placement`); CI creates it with
that command first and fails when these tests are skipped (.ci/run)."""
import os
import shutil

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from onnxlosses import placement

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.environ.get("ONNXLOSSES_PLACEMENT_VENV", os.path.join(ROOT, "build", "placement-venv"))


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    if not os.path.exists(placement.venv_python(VENV)):
        pytest.skip(f"placement: no onnxruntime-gpu virtualenv at {VENV} "
                    "(python -m onnxlosses placement makes it)")
    if shutil.which("gcc") is None:
        pytest.skip("placement: no gcc to build the CUDA stubs")
    python, version, library = placement.gpu_runtime(VENV)
    stubs = placement.build_stubs(library, str(tmp_path_factory.mktemp("stubs")))
    return python, version, stubs


def test_stubs_stand_in_for_every_cuda_library_the_provider_needs(runtime):
    python, version, stubs = runtime
    library = placement.gpu_runtime(VENV)[2]
    for soname in placement.cuda_imports(library):
        assert os.path.exists(os.path.join(stubs, soname)), soname


def test_a_node_without_a_cuda_kernel_is_found(runtime, tmp_path):
    """StringNormalizer works on strings: onnxruntime has a CPU kernel only."""
    python, version, stubs = runtime
    node = helper.make_node("StringNormalizer", ["x"], ["y"], name="normalize",
                            case_change_action="LOWER", locale="C")
    graph = helper.make_graph([node], "g",
                              [helper.make_tensor_value_info("x", TensorProto.STRING, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.STRING, [2])])
    path = str(tmp_path / "strings.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                                ir_version=8), path)
    (result,) = placement._worker(python, stubs, [path])
    assert "CUDAExecutionProvider" in result["providers"]
    assert result["missing"] == ["normalize"]
    assert placement.classify(result, set()) == {"normalize": ("StringNormalizer",
                                                               "no CUDA kernel")}


def test_the_losses_keep_every_node_on_cuda(runtime, capsys):
    """Opsets 13 and 18 (the default): every node of every exported loss has a CUDA kernel
    in onnxruntime-gpu 1.27 and later (1.26 lacks Equal from opset 19 on, among others);
    CI runs the whole grid with `python -m onnxlosses placement`."""
    python, version, stubs = runtime
    if tuple(int(p) for p in version.split(".")[:2]) < (1, 27):
        pytest.skip(f"onnxruntime-gpu {version} has known gaps")
    status = placement.run(venv=VENV, opsets=[13, 18])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "every node of every model has a CUDA kernel" in out
