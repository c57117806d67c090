"""The benchmark suite (benchmarks/) on tiny shapes: every loss runs against every
contender, each contender's value and gradient agree before timing, and the performance
target report reads the rows correctly.  Timings themselves are never asserted."""
import os
import sys
from types import SimpleNamespace

import numpy as np
import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCH)

import _common  # noqa: E402
import contenders  # noqa: E402
import report  # noqa: E402
import run as bench_run  # noqa: E402
import shapes  # noqa: E402

TINY = {
    "T_IDX": dict(shape=(2, 5, 6, 7), target=np.uint8, ignore_index=255, about="tiny"),
    "T_NHWC": dict(shape=(2, 5, 6, 7), target=np.int32, ignore_index=-100,
                   channels_last=True, about="tiny, channels-last"),
    "T_K": dict(shape=(40, 9), target=np.int64, ignore_index=-100, about="tiny (N, C)"),
    "T_BIN": dict(shape=(3, 1, 8, 8), target=None, ignore_index=None, about="tiny binary"),
}


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(_common, "WARMUP_S", 0.0)   # tiny shapes: no settling needed
    for name, spec in TINY.items():
        monkeypatch.setitem(shapes.SHAPES, name, spec)
    for loss, (builder, _) in list(contenders.LOSSES.items()):
        dense = builder is contenders._dense_case
        monkeypatch.setitem(contenders.LOSSES, loss,
                            (builder, ("T_BIN",) if dense else ("T_IDX", "T_NHWC", "T_K")))


def test_every_loss_runs_and_every_contender_agrees(tiny):
    pytest.importorskip("torch")  # CI requires it: see conftest
    args = SimpleNamespace(losses=list(contenders.LOSSES), shapes=list(TINY), threads=[1, 2],
                           repeats=1)
    rows, rooflines = bench_run.run(args)
    assert len(rows) == 2 * (5 * 3 + 3 * 1)
    for row in rows:
        names = set(row["contenders"])
        assert {"numpy", "onnxruntime_composed"} <= names, row["loss"]
        assert names & {"torch", "torch_composed", "torchvision"}, row["loss"]
        for name, res in row["contenders"].items():
            assert "error" not in res, (row["loss"], row["shape"], name, res)
            assert res["fwd"] > 0
            if "failed" in res:
                # PyTorch's NLL backward rejects channels-last log-probabilities
                assert (row["loss"], row["shape"], name) == ("nll", "T_NHWC", "torch"), res
                assert "contiguous" in res["failed"]
        o = row["ours"]
        assert np.isclose(o["value"], o["reference"], rtol=2e-5)
        assert (row["roofline"] is not None) == (row["loss"] != "nll"
                                                 and row["shape"] != "T_BIN")
    assert set(rooflines) == {f"{s}/{t}" for s in ("T_IDX", "T_NHWC", "T_K") for t in (1, 2)}
    # the native ONNX operators run where they express the loss
    ce = [r for r in rows if r["loss"] == "cross_entropy"]
    assert all("onnxruntime_native_op" in r["contenders"] for r in ce)
    # MONAI / smp: either run and agreed, or reported as not run, never silently absent
    for r in rows:
        if r["loss"] == "dice":
            assert {"monai", "smp"} <= set(r["contenders"]) | set(r["unavailable"])


def test_a_disagreeing_contender_is_reported_not_timed():
    c = contenders.Contender("wrong", lambda: 1.5)
    res = bench_run.measure_contender(c, 1.0, None, repeats=1)
    assert "error" in res and "fwd" not in res


def _row(loss, shape, threads, ours_fwd, ours_grad, **contenders_ms):
    return dict(loss=loss, shape=shape, threads=threads,
                ours=dict(fwd=ours_fwd, fwd_grad_out=ours_grad, peak_fwd_mb=0.1,
                          peak_grad_out_mb=0.1, peak_grad_mb=16.2, gradient_mb=16.0),
                contenders={k: dict(fwd=v[0], fwd_grad=v[1]) for k, v in contenders_ms.items()},
                unavailable={}, roofline=dict(read=5.0, read_exp=10.0))


def test_target_report_reads_ratios_by_hand():
    rows = [_row("cross_entropy", "S1", 1, 40.0, 60.0, torch=(200.0, 500.0)),
            _row("cross_entropy", "S1", 2, 25.0, 40.0, torch=(210.0, 380.0))]
    got = {t: (m, met) for t, m, met in report.targets(rows)}
    # 210 / 25 = 8.4 >= 8; 380 / 40 = 9.5 < 10; 25 / 10 = 2.5 > 2; 40 / 25 = 1.6 >= 1.6
    assert got["CE forward: >= 8x torch (S1, 2 thr)"] == ("8.40x", True)
    assert got["CE value+grad: >= 10x torch (S1, 2 thr)"] == ("9.50x", False)
    assert got["CE forward: <= 2x read+exp (S1, 2 thr)"] == ("2.50x", False)
    assert got["1 -> 2 threads >= 1.6x: cross_entropy fwd on S1"] == ("1.60x (read+exp: 1.00x)", True)
    assert got["CE forward: >= 8x torch (S2, 2 thr)"] == ("not measured", None)
    memory = [met for t, _, met in report.targets(rows) if "memory" in t or "allocat" in t]
    assert memory == [True, True, True]
