"""Per-call cost on small inputs: every loss on three small inputs, forward and
value+gradient (into `out=`), against PyTorch eager and torch.compile (forward, and
forward+backward), and through the PyTorch bridge (onnxlosses.torch), at 1 and 2 threads.

    python benchmarks/latency.py [--losses ...] [--shapes L1 L2 L3] [--threads 1 2]
                                 [--calls 2000] [--no-compile] [--json FILE] [--markdown]
    python benchmarks/latency.py --quick   # 2 threads, 500 calls, no torch.compile

Inputs (benchmarks/shapes.py): L1 (32, 10), L2 (256, 100), L3 (8, 21, 32, 32), float32
logits, int64 targets (5% ignored where the loss takes an ignore_index; none for Dice and
DiceCE), dense 0/1 targets for the sigmoid losses.  On these the work is a few
microseconds and the time is what surrounds it: argument checks, thread start-up,
allocations, Python.

Each contender's value (and gradient) is checked against onnxlosses' (and onnxlosses'
against the float64 NumPy reference) before it is timed, as in benchmarks/run.py.  Then
every callable of a row is warmed up and timed in interleaved rounds (each round: `calls /
rounds` consecutive calls of each callable, in turn; fewer for a callable whose calls
would take more than `--budget` seconds in all, 4 s, 1 s in --quick, and a round that
turns slow stops at twice its share of the budget); a row records each
one's mean per call over all its calls, its best and median rounds (a round's time: the
mean of its calls) and the spread ((median round - best round) / best round).  The
targets at the end compare median rounds (a round another process disturbed moves the
mean, not the median); they are goals, reported met or not.
"""
import argparse
import os
import sys
import time
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

import numpy as np  # noqa: E402
import _common  # noqa: E402
from _common import (interleaved, load_warning, machine_load, summary,  # noqa: E402
                     write_json)
from contenders import LOSSES, make_case  # noqa: E402
from run import check_contender, check_ours  # noqa: E402
from shapes import Data  # noqa: E402

import onnxlosses  # noqa: E402

SHAPES = ("L1", "L2", "L3")
WARMUP_S = 0.05           # per callable; thousands of calls at these sizes
TORCH = ("torch", "torch_composed", "torchvision")
DICE_VG_US = 20.0         # the Dice value+gradient target on L1, microseconds


def options(quick=False, threads=None, **kw):
    """The run's settings: the full section (2000 calls in 20 rounds, at most 4 s a
    callable, 1 and 2 threads, torch.compile) or the quick one (500 calls in 10 rounds, at
    most 1 s a callable, the given threads or 2, no torch.compile)."""
    base = dict(losses=list(LOSSES), shapes=list(SHAPES),
                threads=threads or ([2] if quick else [1, 2]),
                calls=500 if quick else 2000, rounds=10 if quick else 20,
                budget_s=1.0 if quick else 4.0,
                families=["torch", "onnxlosses_torch"] if quick
                else ["torch", "torch_compile", "onnxlosses_torch"])
    base.update({k: v for k, v in kw.items() if v is not None})
    return SimpleNamespace(**base)


def _losses_on(shape, losses):
    return [loss for loss in losses
            if not (loss == "dice_ce" and len(_shape(shape)) < 3)]


def _shape(name):
    import shapes
    return shapes.SHAPES[name]["shape"]


def run(opts):
    """The latency rows: per (loss, input, threads), each callable's mean, best and spread
    in microseconds per call, and what was not run."""
    import torch
    rows, data = [], Data()
    per_round = max(opts.calls // opts.rounds, 1)
    for shape in opts.shapes:
        for loss in _losses_on(shape, opts.losses):
            for threads in opts.threads:
                onnxlosses.set_num_threads(threads)
                torch.set_num_threads(threads)
                rows.append(_row(loss, shape, threads, data, opts, per_round))
                print_row(rows[-1])
    return rows


def _row(loss, shape, threads, data, opts, per_round):
    start = time.perf_counter()
    case = make_case(loss, shape, threads, data, tuple(opts.families))
    ours_ran = {}
    ours_grad, ours, fns = check_ours(case, ours_ran)
    timers = {("onnxlosses", "fwd"): fns["fwd"],
              ("onnxlosses", "fwd_grad_out"): fns["fwd_grad_out"]}
    ran = {("onnxlosses", "fwd"): ours_ran["fwd"]}
    results = dict(onnxlosses=ours)
    for c in case.contenders:
        c_ran = {}
        res, cfns = check_contender(c, ours["value"], ours_grad, c_ran)
        results[c.name] = res
        timers.update({(c.name, k): f for k, f in cfns.items()})
        ran.update({(c.name, k): v for k, v in c_ran.items()})
    # a callable slower than budget_s / calls a call (a composed PyTorch loss on L3, or
    # any on a loaded machine) gets fewer calls a round: its rounds take about budget_s,
    calls = {}
    for key, fn in timers.items():
        start = time.perf_counter()
        fn()
        once = time.perf_counter() - start
        calls[key] = max(1, min(per_round, int(opts.budget_s / (opts.rounds * once))))
    warmup_s = min(WARMUP_S, _common.WARMUP_S)
    # and a round that turns slow stops at twice its share of the budget
    counts = {}
    for (who, kind), seconds in interleaved(timers, opts.rounds, calls, warmup_s, ran=ran,
                                            round_budget_s=2 * opts.budget_s / opts.rounds,
                                            counts=counts).items():
        best, median, spread = summary(seconds, 1e6)
        results[who].update({kind: 1e6 * float(np.mean(seconds)), kind + "_best": best,
                             kind + "_median": median, kind + "_spread": spread,
                             kind + "_calls": counts[who, kind]})
    return dict(loss=loss, shape=shape, threads=threads, results=results,
                unavailable=dict(case.unavailable), seconds=time.perf_counter() - start)


def torch_name(row):
    return next((n for n in TORCH if n in row["results"]), "torch")


def _us(res, kind):
    if res is None:
        return "-"
    if "error" in res:
        return "disagrees"
    if kind not in res:
        return "raises" if "failed" in res else "-"
    return f"{res[kind]:.1f} ±{100 * res[kind + '_spread']:.0f}%"


COLUMNS = (("onnxlosses", "fwd", "ours fwd"), ("onnxlosses", "fwd_grad_out", "ours v+g"),
           (None, "fwd", "torch fwd"), (None, "fwd_grad", "torch f+b"),
           ("torch_compile", "fwd", "compiled fwd"), ("torch_compile", "fwd_grad",
                                                      "compiled f+b"),
           ("onnxlosses_torch", "fwd", "bridge fwd"), ("onnxlosses_torch", "fwd_grad",
                                                       "bridge f+b"))


def print_row(row):
    if print_row.first:
        print("\nper-call cost, microseconds (mean over all calls ± spread of the rounds)")
        print(f"{'loss':16s} {'input':5s} {'thr':>3s} " +
              " ".join(f"{label:>14s}" for _, _, label in COLUMNS))
        print_row.first = False
    cells = [_us(row["results"].get(who or torch_name(row)), kind) for who, kind, _ in COLUMNS]
    print(f"{row['loss']:16s} {row['shape']:5s} {row['threads']:>3d} " +
          " ".join(f"{c:>14s}" for c in cells))
    for name, res in row["results"].items():
        if "error" in res or "failed" in res:
            print(f"    {name}: {res.get('error') or res.get('failed')}")
    sys.stdout.flush()


print_row.first = True


def targets(rows):
    """The small-input targets, one (target, measured, met) per row and pass: on L1 and L2
    every loss's forward at or below PyTorch's, its value+gradient below PyTorch's
    forward+backward; Dice value+gradient on L1 under 20 us.  Each side's time is its
    median round (a round: the mean of calls / rounds consecutive calls): a round that
    another process disturbed moves the mean over all calls, not the median."""
    out = []
    for r in rows:
        ours, t = r["results"]["onnxlosses"], r["results"].get(torch_name(r), {})
        where = f"{r['loss']} {r['shape']}, {r['threads']} thr"
        if r["shape"] in ("L1", "L2"):
            for kind, theirs, rel in (("fwd", "fwd", "<="), ("fwd_grad_out", "fwd_grad", "<")):
                if theirs not in t or "error" in t:
                    out.append((f"{kind} {rel} PyTorch: {where}", "not measured", None))
                    continue
                a, b = ours[kind + "_median"], t[theirs + "_median"]
                met = a <= b if rel == "<=" else a < b
                label = "forward" if kind == "fwd" else "value+grad"
                out.append((f"{label} {rel} PyTorch's: {where}",
                            f"{a:.1f} vs {b:.1f} us ({b / a:.2f}x)", met))
        if r["loss"] == "dice" and r["shape"] == "L1":
            v = ours["fwd_grad_out_median"]
            out.append((f"Dice value+grad < {DICE_VG_US:g} us: {where}", f"{v:.1f} us",
                        v < DICE_VG_US))
    return out


def print_targets(rows):
    print("\nSmall-input targets (this run, this machine; median rounds, us per call):")
    results = targets(rows)
    width = max((len(t) for t, _, _ in results), default=0)
    for target, measured, met in results:
        flag = {True: "met", False: "NOT met", None: "not measured"}[met]
        print(f"  {target:{width}s}  {measured:>28s}  {flag}")
    met = [m for _, _, m in results if m is not None]
    print(f"  {sum(met)} of {len(met)} met")
    return results


def markdown(rows):
    head = "| loss | input | threads | " + " | ".join(label for _, _, label in COLUMNS) + " |"
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for r in rows:
        cells = [_us(r["results"].get(who or torch_name(r)), kind) for who, kind, _ in COLUMNS]
        lines.append(f"| {r['loss']} | {r['shape']} | {r['threads']} | " + " | ".join(cells)
                     + " |")
    return "\n".join(lines)


def markdown_targets(rows):
    return _common.markdown_targets(targets(rows))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--losses", nargs="+", choices=list(LOSSES), default=None)
    ap.add_argument("--shapes", nargs="+", choices=SHAPES, default=None)
    ap.add_argument("--threads", type=int, nargs="+", default=None)
    ap.add_argument("--calls", type=int, default=None, help="timed calls per callable")
    ap.add_argument("--rounds", type=int, default=None, help="interleaved rounds")
    ap.add_argument("--budget", type=float, default=None, dest="budget_s",
                    help="seconds of timed calls a callable at most (fewer calls if slower)")
    ap.add_argument("--no-compile", action="store_true", help="leave torch.compile out")
    ap.add_argument("--quick", action="store_true",
                    help="2 threads, 500 calls, no torch.compile")
    ap.add_argument("--json", default=None)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args(argv)
    opts = options(args.quick, args.threads, losses=args.losses, shapes=args.shapes,
                   calls=args.calls, rounds=args.rounds, budget_s=args.budget_s)
    if args.no_compile:
        opts.families = [f for f in opts.families if f != "torch_compile"]
    top = max(opts.threads)
    load_start = machine_load()
    for line in filter(None, [load_warning(load_start, top, "start")]):
        print(line)
    rows = run(opts)
    load_end = machine_load(float(top))
    for line in filter(None, [load_warning(load_end, top, "end")]):
        print(line)
    print_targets(rows)
    if args.markdown:
        print("\n" + markdown(rows) + "\n\n" + markdown_targets(rows))
    if args.json:
        write_json(args.json, [], {}, latency=rows, options=vars(opts),
                   load=dict(start=load_start, end=load_end))


if __name__ == "__main__":
    main()
