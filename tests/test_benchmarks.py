"""The benchmark suite (benchmarks/) on tiny shapes: every loss runs against every
contender, each contender's value and gradient agree before timing, the timing loop
interleaves its contenders, and the target reports read the rows correctly.  Timings
themselves are never asserted."""
import json
import os
import sys
from types import SimpleNamespace

import numpy as np
import pytest

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks")
sys.path.insert(0, BENCH)

import _common  # noqa: E402
import contenders  # noqa: E402
import latency  # noqa: E402
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
# every family but torch.compile, whose compiling takes seconds a case: it has a test of
# its own on one case
NO_COMPILE = [f for f in contenders.DEFAULT_FAMILIES if f != "torch_compile"]


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setattr(_common, "WARMUP_S", 0.0)   # tiny shapes: no settling needed
    for name, spec in TINY.items():
        monkeypatch.setitem(shapes.SHAPES, name, spec)
    for loss, (builder, _) in list(contenders.LOSSES.items()):
        if builder is contenders._dense_case:
            on = ("T_BIN",)
        elif loss == "dice_ce":                     # MONAI's DiceCE: images only
            on = ("T_IDX", "T_NHWC")
        else:
            on = ("T_IDX", "T_NHWC", "T_K")
        monkeypatch.setitem(contenders.LOSSES, loss, (builder, on))


def test_every_loss_runs_and_every_contender_agrees(tiny):
    pytest.importorskip("torch")  # CI requires it: see conftest
    args = SimpleNamespace(losses=list(contenders.LOSSES), shapes=list(TINY), threads=[1, 2],
                           rounds=1, contenders=NO_COMPILE)
    rows, rooflines = bench_run.run(args)
    assert len(rows) == 2 * (5 * 3 + 1 * 2 + 3 * 1)
    for row in rows:
        names = set(row["contenders"])
        assert {"numpy", "onnxruntime_composed"} <= names, row["loss"]
        assert names & {"torch", "torch_composed", "torchvision"}, row["loss"]
        assert "torch_compile" not in names and "onnxlosses_torch" not in names
        for name, res in row["contenders"].items():
            assert "error" not in res, (row["loss"], row["shape"], name, res)
            assert res["fwd"] > 0
            if not res.get("reused_from_threads"):
                assert res["fwd_rounds"] == 1 and res["fwd_spread"] == 0.0
            if "failed" in res:
                # PyTorch's NLL backward rejects channels-last log-probabilities
                assert (row["loss"], row["shape"], name) == ("nll", "T_NHWC", "torch"), res
                assert "contiguous" in res["failed"]
        o = row["ours"]
        assert np.isclose(o["value"], o["reference"], rtol=2e-5)
        assert {"fwd", "fwd_grad_out", "fwd_grad", "fwd_spread"} <= set(o)
        # every row has the roofline passes, timed in its own rounds
        assert {"read", "read_exp", "read_ownexp", "read_write"} <= set(row["roofline"])
        assert row["exp_bound"] == (row["loss"] != "nll" and row["shape"] != "T_BIN")
    assert set(rooflines) == {f"{s}/{t}" for s in TINY for t in (1, 2)}
    # the native ONNX operators run where they express the loss
    ce = [r for r in rows if r["loss"] == "cross_entropy"]
    assert all("onnxruntime_native_op" in r["contenders"] for r in ce)
    # MONAI / smp: either run and agreed, or reported as not run, never silently absent
    for r in rows:
        if r["loss"] in ("dice", "dice_ce"):
            assert "monai" in set(r["contenders"]) | set(r["unavailable"])
        if r["loss"] == "dice":
            assert "smp" in set(r["contenders"]) | set(r["unavailable"])
    # DiceCE is timed against MONAI's DiceCELoss where MONAI imports
    for r in rows:
        if r["loss"] == "dice_ce" and "monai" in r["contenders"]:
            assert "fwd_grad" in r["contenders"]["monai"]
    # the tables and the round-2 targets read these rows
    assert report.markdown(rows, 2).count("\n") == len(rows) // 2 + 1
    assert "dice_ce" in report.markdown_round2(rows)


def test_torch_compile_contender_compiles_checks_and_times_one_case(tiny):
    """The one compiling test (seconds): the first call of each pass is recorded as compile
    time, the value and gradient are checked, then both passes are timed."""
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    case = contenders.make_case("cross_entropy", "T_IDX", 1, shapes.Data(),
                                families=("torch", "torch_compile"))
    roof = bench_run.roofline_fns(np.ascontiguousarray(case.x), np.empty_like(case.x), 1)
    _, _, found = bench_run.measure_row(case, 1, 1, roof, {})
    res = found["torch_compile"]
    assert "error" not in res and "failed" not in res, res
    assert res["compile_s"] > 0 and res["compile_grad_s"] > 0
    assert res["grad_gap"] <= 1e-4
    assert res["fwd"] > 0 and res["fwd_grad"] > 0


def test_latency_rows_check_time_and_report(tiny):
    torch = pytest.importorskip("torch")
    opts = latency.options(quick=True, threads=[1], losses=["cross_entropy", "dice"],
                           shapes=["L1"], calls=4, rounds=2)
    assert "torch_compile" not in opts.families and "onnxlosses_torch" in opts.families
    rows = latency.run(opts)
    assert [(r["loss"], r["shape"], r["threads"]) for r in rows] == [
        ("cross_entropy", "L1", 1), ("dice", "L1", 1)]
    for r in rows:
        for name in ("onnxlosses", latency.torch_name(r), "onnxlosses_torch"):
            res = r["results"][name]
            assert "error" not in res and "failed" not in res, (name, res)
            kinds = ("fwd", "fwd_grad_out") if name == "onnxlosses" else ("fwd", "fwd_grad")
            for kind in kinds:
                # 2 rounds of 2 calls, or of 1 for a call slower than the 1 s budget allows
                assert 2 <= res[kind + "_calls"] <= 4
                assert res[kind + "_best"] <= res[kind + "_median"]
    found = {t: met for t, _, met in latency.targets(rows)}
    assert set(found) == {"forward <= PyTorch's: cross_entropy L1, 1 thr",
                          "value+grad < PyTorch's: cross_entropy L1, 1 thr",
                          "forward <= PyTorch's: dice L1, 1 thr",
                          "value+grad < PyTorch's: dice L1, 1 thr",
                          "Dice value+grad < 20 us: dice L1, 1 thr"}
    assert None not in found.values()
    assert latency.markdown(rows).count("\n") == 3
    del torch


def test_a_disagreeing_contender_is_reported_not_timed():
    c = contenders.Contender("wrong", lambda: 1.5)
    res = bench_run.measure_contender(c, 1.0, None, rounds=1)
    assert "error" in res and "fwd" not in res


def test_rounds_interleave_the_contenders(monkeypatch):
    """Each round times every callable once, in turn (after its one untimed settling
    call), starting one further on each round: not all the repeats of one callable, then
    the next."""
    monkeypatch.setattr(_common, "WARMUP_S", 0.0)
    calls = []
    fns = {k: (lambda k=k: calls.append(k)) for k in "abc"}
    times = _common.interleaved(fns, rounds=3)
    assert calls[:3] == ["a", "b", "c"]                    # the warm-up, one each
    # each round starts one callable further on
    assert calls[3:] == ["a", "a", "b", "b", "c", "c", "b", "b", "c", "c", "a", "a",
                         "c", "c", "a", "a", "b", "b"]
    assert all(len(v) == 3 for v in times.values())
    calls.clear()
    _common.interleaved(fns, rounds=2, calls=5)
    assert calls[3:] == ["a"] * 6 + ["b"] * 6 + ["c"] * 6 + ["b"] * 6 + ["c"] * 6 + ["a"] * 6


def test_slow_calls_are_timed_in_at_most_two_rounds(monkeypatch):
    monkeypatch.setattr(_common, "WARMUP_S", 0.0)
    monkeypatch.setattr(_common, "SLOW_S", -1.0)   # every call counts as slow
    times = _common.interleaved({"a": lambda: None}, rounds=5)
    assert len(times["a"]) == _common.SLOW_ROUNDS


def test_summary_minimum_and_spread():
    lo, med, spread = _common.summary([0.004, 0.002, 0.0025, 0.010, 0.003])
    assert (lo, med) == pytest.approx((2.0, 3.0))
    assert spread == pytest.approx(0.5)


def test_load_warning_when_the_others_leave_too_few_cores():
    quiet = dict(load1=0.1, load5=0.1, cores=2, others=0.1)
    assert _common.load_warning(quiet, 2, "start") is None and quiet["high"] is False
    busy = dict(load1=1.0, load5=0.5, cores=2, others=1.0)
    assert "load" in _common.load_warning(busy, 2, "start") and busy["high"] is True
    many = dict(load1=8.0, load5=8.0, cores=64, others=8.0)
    assert _common.load_warning(many, 2, "end") is None
    end = _common.machine_load(busy_self=2.0)
    assert end["others"] is None or end["others"] >= 0


def _row(loss, shape, threads, ours_fwd, ours_grad, roofline=None, exp_bound=True,
         **contenders_ms):
    return dict(loss=loss, shape=shape, threads=threads, exp_bound=exp_bound,
                ours=dict(fwd=ours_fwd, fwd_grad_out=ours_grad, peak_fwd_mb=0.1,
                          peak_grad_out_mb=0.1, peak_grad_mb=16.2, gradient_mb=16.0),
                contenders={k: dict(fwd=v[0], fwd_grad=v[1]) for k, v in contenders_ms.items()},
                unavailable={},
                roofline=roofline or dict(read=5.0, read_exp=10.0, read_write=8.0))


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


def test_round2_targets_by_hand():
    roof = dict(read=5.0, read_exp=15.0, read_write=20.0)
    rows = [_row("cross_entropy", "S1", 2, 12.0, 30.0, roof, torch=(80.0, 200.0),
                 torch_compile=(40.0, 120.0)),
            _row("cross_entropy", "S1_NHWC", 2, 26.0, 36.0, roof),
            _row("cross_entropy", "S1_NC", 2, 13.0, 33.0, roof),
            _row("nll", "K1", 1, 1.0, 40.0, roof, exp_bound=False),
            _row("dice", "S1", 2, 18.0, 48.0, roof),
            _row("dice_ce", "S1", 2, 20.0, 66.0, roof)]
    got = {(e["item"], e["loss"], e["shape"], e["kind"]): e for e in report.round2(rows)}
    e = got[1, "cross_entropy", "S1", "value+grad"]       # 30 / max(15, 20) = 1.5 <= 1.6
    assert (e["bound_ms"], e["met"]) == (20.0, True) and e["ratio"] == pytest.approx(1.5)
    assert e["torch_x"] == pytest.approx(200 / 30) and e["torch_compile_x"] == 4.0
    e = got[1, "nll", "K1", "value+grad"]                 # 40 / 20 = 2 > 1.6
    assert e["met"] is False
    assert got[2, "cross_entropy", "S1_NHWC", "forward"]["met"] is False     # 26 / 12
    assert got[2, "cross_entropy", "S1_NHWC", "value+grad"]["met"] is True   # 36 / 30
    assert got[2, "cross_entropy", "S1_NC", "forward"]["ratio"] == pytest.approx(13 / 12)
    assert got[3, "cross_entropy", "S1", "forward"]["met"] is True           # 12 / 15
    assert (3, "nll", "K1", "forward") not in got                            # no exp
    e = got[3, "dice", "S1", "value+grad"]                # floor 2 * 15 + 20 - 5 = 45
    assert e["bound_ms"] == 45.0 and e["met"] is True
    assert got["DiceCE", "dice_ce", "S1", "forward"]["ratio"] == pytest.approx(20 / 18)
    assert got["DiceCE", "dice_ce", "S1", "value+grad"]["met"] is False      # 66 / 48
    table = report.markdown_round2(rows)
    assert table.count("\n") == len(report.round2(rows)) + 1


def test_compare_two_runs(tmp_path, capsys):
    before = dict(rows=[_row("cross_entropy", "S1", 2, 20.0, 40.0)])
    after = dict(rows=[_row("cross_entropy", "S1", 2, 10.0, 40.0,
                            dict(read=5.0, read_exp=5.0, read_write=8.0))])
    found = report.compare(before, after)
    assert [(k, r, rel) for _, k, _, _, r, rel, _ in found] == [
        ("fwd", 0.5, 1.0), ("fwd_grad_out", 1.0, 2.0)]
    paths = []
    for name, run in (("before", before), ("after", after)):
        paths.append(tmp_path / f"{name}.json")
        paths[-1].write_text(json.dumps(run))
    bench_run.main(["--compare", *map(str, paths)])
    assert "cross_entropy" in capsys.readouterr().out


def test_the_check_call_counts_as_the_first_warm_up_call(monkeypatch):
    monkeypatch.setattr(_common, "WARMUP_S", 0.0)
    calls = []
    fns = {k: (lambda k=k: calls.append(k)) for k in "ab"}
    _common.interleaved(fns, rounds=1, ran={"a": 1e-6})
    assert calls == ["b", "a", "a", "b", "b"]     # no warm-up call of a: its check ran


def test_a_measurement_stops_at_its_round_budget(monkeypatch):
    monkeypatch.setattr(_common, "WARMUP_S", 0.0)
    counts = {}
    times = _common.interleaved({"a": lambda: None}, rounds=3, calls=1000,
                                round_budget_s=-1.0, counts=counts)
    assert counts == {"a": 3} and len(times["a"]) == 3      # one call a round
