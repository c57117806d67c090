"""python -m onnxlosses: export, parity, demo."""
import json
import subprocess
import sys

import onnx
import onnxruntime as ort
import pytest

pytest.importorskip("torch", reason="the demo and the parity grid compare with PyTorch")


def run(*args):
    return subprocess.run([sys.executable, "-m", "onnxlosses", *args], capture_output=True,
                          text=True, timeout=300)


def test_export_writes_a_model(tmp_path):
    path = tmp_path / "ce.onnx"
    res = run("export", "cross_entropy", "--param", "weight=[1,2,3]", "--param",
              "ignore_index=255", "--param", "label_smoothing=0.1", "--target-dtype", "uint8",
              "--grad", "-o", str(path))
    assert res.returncode == 0, res.stderr
    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    assert json.loads(meta["onnxlosses.config"])["weight"] == [1.0, 2.0, 3.0]
    assert [o.name for o in model.graph.output] == ["loss", "grad"]


def test_export_any_loss(tmp_path):
    path = tmp_path / "dice.onnx"
    res = run("export", "dice_loss", "--param", "mode=multiclass", "--param", "per_image=True",
              "--param", "ignore_index=255", "--target-dtype", "uint8", "-o", str(path))
    assert res.returncode == 0, res.stderr
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["onnxlosses.loss"] == "DiceLoss"
    assert json.loads(meta["onnxlosses.config"])["per_image"] is True


def test_export_reports_bad_options():
    res = run("export", "nll_loss", "--opset", "12", "-o", "/dev/null")
    assert res.returncode == 2 and "opset must be in [13," in res.stderr
    res = run("export", "focal_loss", "--param", "gamma=-1", "-o", "/dev/null")
    assert res.returncode == 2 and "gamma must be finite and >= 0" in res.stderr
    res = run("export", "focal_loss", "--param", "gama", "-o", "/dev/null")
    assert res.returncode == 2 and "--param takes KEY=VALUE" in res.stderr


def test_parity_grid_writes_json_and_exits_zero(tmp_path):
    path = tmp_path / "parity.json"
    res = run("parity", "--dtypes", "float32", "--ranks", "2", "--opsets", "18",
              "--json", str(path))
    assert res.returncode == 0, res.stdout + res.stderr
    reports = json.loads(path.read_text())
    assert len(reports) >= 8 and all(r["ok"] for r in reports)
    assert "0 of" in res.stdout and "had a mismatch" in res.stdout


def test_demo_runs():
    res = run("demo")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "CrossEntropyLoss" in res.stdout
    # the CUDA provider is always asked for: where it cannot run it is named, not passed
    assert "onnxruntime:CUDAExecutionProvider" in res.stdout
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        assert "not run here (unavailable, not passes): onnxruntime:CUDAExecutionProvider" \
            in res.stdout
        # why CUDA did not run is said once; the other losses point back to it
        cuda = [line for line in res.stdout.splitlines()
                if line.strip().startswith("onnxruntime:CUDAExecutionProvider")]
        assert len(cuda) >= 8
        assert sum("(as above)" not in line for line in cuda) == 1
    # every repr is whole: the weight list of the weighted cross-entropy is not cut
    assert "ignore_index=255, label_smoothing=0.1" in res.stdout.replace("\n    ", " ")


def test_demo_wraps_reprs_between_parameters():
    from onnxlosses._demo import wrap_repr
    text = "Loss(weight=[0.5, 0.575, ..., 2.0], ignore_index=255, name='a, b', reduction='mean')"
    lines = wrap_repr(text, 40)
    assert lines == ["Loss(weight=[0.5, 0.575, ..., 2.0],",
                     "    ignore_index=255, name='a, b',", "    reduction='mean')"]
    assert wrap_repr("Short(a=1)", 40) == ["Short(a=1)"]


def cli(capsys, *args):
    """main() in-process: (exit status, stderr); an exception escaping is a test failure,
    as it would be a traceback on the command line."""
    from onnxlosses.__main__ import main
    try:
        status = main(list(args))
    except SystemExit as exc:           # argparse's own errors
        status = exc.code
    return status, capsys.readouterr().err


def test_unwritable_output_is_one_line_not_a_traceback(tmp_path):
    for path in [tmp_path / "missing" / "ce.onnx", tmp_path]:
        res = run("export", "cross_entropy", "-o", str(path))
        assert res.returncode == 2, res.stderr
        assert "Traceback" not in res.stderr
        assert res.stderr.startswith(f"error: -o {path}: cannot write: ")
        assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "missing").exists()


@pytest.mark.parametrize("args,match", [
    (["--param", "ignore_index=100000000000000000000000"], "error: "),
    (["--param", "weight=[1,2]", "--param", "weight=[1,2,3]"],
     "error: --param weight is given twice"),
    (["--param", "_weight_mean=count"], "error: --param takes the loss's parameters; "
                                        "_weight_mean is internal"),
    (["--ndim", "1"], "error: ndim must be >= 2, got 1"),
    (["--target-dtype", "int8"], "error: target_dtype must be one of"),
])
def test_export_bad_input_is_one_line(capsys, tmp_path, args, match):
    name = "dice_loss" if "_weight_mean=count" in args else "cross_entropy"
    status, err = cli(capsys, "export", name, *args, "-o", str(tmp_path / "x.onnx"))
    assert status == 2 and err.startswith(match), err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("args,match", [
    (["--ranks", "6"], "argument --ranks: invalid choice: 6 (choose from 2, 3, 4, 5)"),
    (["--dtypes", "bfloat16"], "argument --dtypes: invalid choice: 'bfloat16' (choose from "
                               "'float32', 'float64', 'float16')"),
    (["--opsets", "12"], "error: --opsets must be in [13, "),
    # a misspelled provider is an error, never an "unavailable" run that exits 0
    (["--providers", "CUDA"], "argument --providers: invalid choice: 'CUDA' (choose from "),
    (["--require", "CUDA"], "argument --require: invalid choice: 'CUDA' (choose from "),
    (["--losses", "dice"], "argument --losses: invalid choice: 'dice' (choose from "),
    (["--config", "{mode: 1}"], "error: --config must be JSON, got '{mode: 1}'"),
    (["--config", '{"loss": "dice"}'], "error: --config's \"loss\" must be one of "),
    (["--config", '{"loss": "dice_loss", "gamma": 2}'],
     "error: dice_loss got unexpected keyword argument(s) ['gamma']; it takes ['mode', "),
    (["--config", '{"loss": "focal_loss", "gamma": -1}'],
     "error: gamma must be finite and >= 0"),
    (["--config", '{"loss": "dice_loss"}', "--losses", "dice_loss"],
     "error: --config and --losses exclude each other"),
    (["--input", "x.npy"], "error: --input and --target go together"),
    (["--input", "/nonexistent/x.npy", "--target", "t.npy", "--losses", "dice_loss"],
     "error: --input /nonexistent/x.npy: cannot read a .npy array: "),
    (["--json", "/nonexistent-dir/parity.json"],
     "error: --json /nonexistent-dir/parity.json: cannot write: "),
])
def test_parity_bad_options_fail_before_running(capsys, args, match):
    status, err = cli(capsys, "parity", *args)
    assert status == 2 and match in err, err
    assert "Traceback" not in err
    # one line (argparse puts its usage above it), before the progress bar
    assert [line for line in err.splitlines() if "error" in line] == \
        [err.strip().splitlines()[-1]], err
    assert "parity [#" not in err and "parity [." not in err


def test_input_files_and_dtypes_exclude_each_other(capsys, tmp_path):
    import numpy as np
    np.save(tmp_path / "x.npy", np.zeros((2, 3), np.float32))
    np.save(tmp_path / "t.npy", np.zeros(2, np.int64))
    status, err = cli(capsys, "parity", "--input", str(tmp_path / "x.npy"), "--target",
                      str(tmp_path / "t.npy"), "--losses", "cross_entropy", "--dtypes",
                      "float16")
    assert status == 2 and "error: --dtypes does not apply with --input" in err, err


def test_parity_checks_ones_own_batch_and_configuration(tmp_path):
    import numpy as np
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 3, 3)).astype(np.float32)
    t = rng.integers(0, 4, (2, 3, 3)).astype(np.uint8)
    t[0, 0, 0] = 255
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "t.npy", t)
    res = run("parity", "--input", str(tmp_path / "x.npy"), "--target",
              str(tmp_path / "t.npy"), "--config",
              '{"loss": "dice_loss", "mode": "multiclass", "ignore_index": 255}',
              "--opsets", "18", "--providers", "CPUExecutionProvider",
              "--json", str(tmp_path / "r.json"))
    assert res.returncode == 0, res.stdout + res.stderr
    reports = json.loads((tmp_path / "r.json").read_text())
    assert [(r["loss"], r["shape"], r["dtype"]) for r in reports] == \
        [("DiceLoss(ignore_index=255)", [2, 4, 3, 3], "float32")]
    # the same batch through the Python API, independently of the command line
    from onnxlosses import DiceLoss
    want = float(DiceLoss(mode="multiclass", ignore_index=255)(x, t))
    kernel = next(r for r in reports[0]["results"] if r["path"] == "kernel")
    assert kernel["value"] == want


def test_parity_config_takes_a_combined_loss(tmp_path):
    config = {"loss": "combined_loss",
              "terms": [[1.0, {"loss": "cross_entropy", "ignore_index": 255,
                               "label_smoothing": 0.1}],
                        [0.5, {"loss": "dice_loss", "ignore_index": 255}]]}
    res = run("parity", "--config", json.dumps(config), "--dtypes", "float32", "--ranks", "4",
              "--opsets", "18", "--providers", "CPUExecutionProvider",
              "--json", str(tmp_path / "r.json"))
    assert res.returncode == 0, res.stdout + res.stderr
    reports = json.loads((tmp_path / "r.json").read_text())
    assert {r["loss"] for r in reports} == {
        "CrossEntropyLoss(ignore_index=255, label_smoothing=0.1) + "
        "0.5 * DiceLoss(ignore_index=255)"}
    paths = {r["path"] for rep in reports for r in rep["results"]}
    assert {"kernel", "torch"} <= paths, paths


def test_parity_config_names_a_bad_term(capsys):
    status, err = cli(capsys, "parity", "--config",
                      '{"loss": "combined_loss", "terms": [[1, {"loss": "dice"}]]}')
    assert status == 2 and "error: --config's \"loss\" must be one of " in err, err


def test_require_fails_on_an_unavailable_provider():
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    args = ("parity", "--losses", "nll_loss", "--dtypes", "float32", "--ranks", "2",
            "--opsets", "18", "--providers", "CPUExecutionProvider")
    assert run(*args).returncode == 0
    res = run(*args, "--require", "CUDAExecutionProvider")
    assert res.returncode == 1, res.stdout + res.stderr
    assert "CUDAExecutionProvider is required (--require) but was unavailable" in res.stdout


def test_a_subset_of_the_grid_draws_the_same_data_as_the_whole(tmp_path):
    """Seeds follow the configuration, not the run's place in the grid: the float16 BCE
    runs of a subset are the very runs of a larger grid, value for value."""
    common = ("--opsets", "18", "--providers", "CPUExecutionProvider")
    small = run("parity", "--losses", "binary_cross_entropy", "--dtypes", "float16",
                "--ranks", "4", "5", *common, "--json", str(tmp_path / "small.json"))
    large = run("parity", "--losses", "cross_entropy", "binary_cross_entropy", "--dtypes",
                "float32", "float16", "--ranks", "2", "4", "5", *common,
                "--json", str(tmp_path / "large.json"))
    assert small.returncode == 0, small.stdout + small.stderr
    assert large.returncode == 0, large.stdout + large.stderr

    def runs(path):
        return {(r["loss"], r["dtype"], tuple(r["shape"])): r
                for r in json.loads(path.read_text())}
    a, b = runs(tmp_path / "small.json"), runs(tmp_path / "large.json")
    assert len(a) == 2 and a.keys() <= b.keys()
    for key in a:
        assert a[key]["results"] == b[key]["results"], key
        assert a[key]["notes"] == b[key]["notes"], key


def test_export_check_targets_switch(capsys, tmp_path):
    for extra, want in [([], "true"), (["--no-check-targets"], "false")]:
        path = tmp_path / "ce.onnx"
        status, err = cli(capsys, "export", "cross_entropy", *extra, "-o", str(path))
        assert status == 0, err
        meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert meta["onnxlosses.check_targets"] == want


def test_parity_grid_checks_the_native_operators_where_they_apply(tmp_path):
    """--impls native runs SoftmaxCrossEntropyLoss / NegativeLogLikelihoodLoss for the
    configurations they express, and leaves out the rest (label smoothing, probability
    targets) instead of failing them."""
    res = run("parity", "--losses", "cross_entropy", "nll_loss", "--impls", "composed",
              "native", "--dtypes", "float64", "--ranks", "2", "--opsets", "18",
              "--providers", "CPUExecutionProvider", "--json", str(tmp_path / "r.json"))
    assert res.returncode == 0, res.stdout + res.stderr
    reports = json.loads((tmp_path / "r.json").read_text())
    by_impl = {impl: {r["loss"] for r in reports if r["impl"] == impl}
               for impl in ("composed", "native")}
    assert by_impl["native"] and by_impl["native"] < by_impl["composed"], by_impl
    assert not any("label_smoothing" in name for name in by_impl["native"])
    assert any("label_smoothing" in name for name in by_impl["composed"])
    assert all(r["ok"] for r in reports)
    assert all(any(p["path"] == "onnxruntime:CPUExecutionProvider" and p["status"] == "pass"
                   for p in r["results"]) for r in reports if r["impl"] == "native")
