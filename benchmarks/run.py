"""The benchmark suite: every loss on every shape, forward and value+gradient, at each
thread count, against PyTorch (eager and torch.compile), MONAI / smp (where installed),
onnxruntime running the exported graphs, NumPy, and roofline passes over the same logits
(read, read+exp, read+streaming write); in one run.

    python benchmarks/run.py [--losses ...] [--shapes ...] [--threads 1 2] [--rounds 5]
                             [--contenders torch torch_compile ...] [--latency]
                             [--json FILE] [--plot FILE.png] [--markdown]
    python benchmarks/run.py --quick [--json FILE]   # S1 rows, 2 threads, eager PyTorch,
                                                     # and the latency subset: a before/after
    python benchmarks/run.py --report FILE.json [--markdown] [--plot FILE.png]
    python benchmarks/run.py --compare BEFORE.json AFTER.json

Before a contender is timed its value must agree with onnxlosses' (and onnxlosses' with
the float64 NumPy reference), and its gradient too where it has one; one that disagrees
is reported and not timed.  All of a row's callables (onnxlosses, every contender, the
roofline passes) are timed in interleaved rounds: each round times each of them once, in
turn.  A row records each one's minimum over the rounds and its spread ((median - minimum)
/ minimum).  Ratios are the contender's time over onnxlosses' (above 1: onnxlosses is
faster).  Peak extra memory is what onnxlosses allocates during the call.  The run warns
when the machine's load is high at its start or end, and ends with the performance
targets, met or not (goals, never assertions).
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# the benchmark helpers, and the package built in place (make build) from this checkout
sys.path[:0] = [HERE, os.path.dirname(HERE)]

import numpy as np  # noqa: E402
import _common  # noqa: E402
from _common import (agree, as_float, grad_gap, interleaved, load_warning,  # noqa: E402
                     machine_load, peak_extra_mb, summary, write_json)
from contenders import DEFAULT_FAMILIES, FAMILIES, LOSSES, make_case  # noqa: E402
from shapes import SHAPES, Data  # noqa: E402

import onnxlosses  # noqa: E402
from onnxlosses import _roofline  # noqa: E402

LARGE_SHAPES = [s for s in SHAPES if not SHAPES[s].get("small")]
# the quick run: S1 rows at 2 threads, onnxlosses and the rooflines in 5 rounds, eager
# PyTorch (the reference ratio) in 3, a shorter warm-up
QUICK = dict(shapes=["S1"], threads=[2], contenders=["torch"], rounds=5, contender_rounds=3,
             warmup_s=0.1)


def roofline_fns(xc, out, threads):
    """The roofline passes over a C-contiguous float32 array: read only, read+exp (glibc's
    vector expf: the targets' definition), read+exp with the kernels' own exponential, and
    read+streaming write (_roofline.read_write_pass: every element read and written to
    `out` through an L1 buffer with the kernels' streaming stores, plain ones where the CPU
    has no AVX-512)."""
    return dict(read=lambda: _roofline.read_pass(xc, threads, False),
                read_exp=lambda: _roofline.read_pass(xc, threads, True),
                read_ownexp=lambda: _roofline.read_pass(xc, threads, True, True),
                read_write=lambda: _roofline.read_write_pass(xc, out, threads, True))


def check_ours(case, ran=None):
    """onnxlosses' value against the float64 reference; its gradient (the contenders'
    reference) and the callables to time.  The seconds of the calls made go into `ran`
    ({kind: seconds}): they are the first warm-up calls."""
    x, t, loss = case.x, case.target, case.ours
    ran = {} if ran is None else ran
    start = time.perf_counter()
    value = float(loss(x, t))
    ran["fwd"] = time.perf_counter() - start
    if not agree(value, case.reference, rtol=2e-5):
        raise AssertionError(f"onnxlosses {case.loss} on {case.shape}: {value!r} but the "
                             f"float64 NumPy reference gives {case.reference!r}")
    out = np.empty_like(x)
    start = time.perf_counter()
    _, grad = loss.value_and_grad(x, t)
    ran["fwd_grad"] = time.perf_counter() - start
    fns = dict(fwd=lambda: loss(x, t),
               fwd_grad_out=lambda: loss.value_and_grad(x, t, out=out),
               fwd_grad=lambda: loss.value_and_grad(x, t))
    return grad, dict(value=value, reference=case.reference), fns


def check_contender(c, ours_value, ours_grad, ran=None):
    """Run a contender's passes once and check them: (result, callables to time).  A
    disagreement ("error") leaves that pass and what follows untimed, and so does an
    exception ("failed": e.g. a layout it does not support).  For torch.compile the first
    call of each pass compiles: its time is recorded as compile time, never timed.  The
    seconds of the other calls made go into `ran` ({kind: seconds}): they are the first
    warm-up calls."""
    expected = ours_value if c.expected is None else c.expected
    res, fns = {}, {}
    ran = {} if ran is None else ran
    try:
        start = time.perf_counter()
        value = as_float(c.fwd())
        if c.compiled:
            res["compile_s"] = time.perf_counter() - start
        else:
            ran["fwd"] = time.perf_counter() - start
    except Exception as exc:
        res["failed"] = f"forward raised {type(exc).__name__}: {exc}"[:200]
        return res, fns
    res["value"] = value
    if not agree(value, expected, rtol=c.rtol):
        res["error"] = f"value {value!r}, expected {expected!r}: not timed"
        return res, fns
    fns["fwd"] = c.fwd
    if c.fwd_grad is not None:
        try:
            start = time.perf_counter()
            grad = c.fwd_grad()
            if c.compiled:
                res["compile_grad_s"] = time.perf_counter() - start
            else:
                ran["fwd_grad"] = time.perf_counter() - start
        except Exception as exc:
            res["failed"] = f"value+gradient raised {type(exc).__name__}: {exc}"[:200]
            return res, fns
        if c.check_grad:
            gap = grad_gap(grad, ours_grad)
            res["grad_gap"] = gap
            if gap > 1e-4:
                res["error"] = f"gradient differs by {gap:.2e} of its scale: not timed"
                return res, fns
        fns["fwd_grad"] = c.fwd_grad
    return res, fns


def measure_contender(c, ours_value, ours_grad, rounds):
    """One contender checked and timed on its own (interleaved rounds of its passes)."""
    ran = {}
    res, fns = check_contender(c, ours_value, ours_grad, ran)
    _fill({(c.name, k): f for k, f in fns.items()}, {c.name: res}, rounds,
          ran={(c.name, k): v for k, v in ran.items()})
    return res


def _fill(timers, dests, rounds, contender_rounds=None, ran=None):
    """Time `timers` ({(who, kind): fn}) in interleaved rounds (the contenders in at most
    `contender_rounds`); write each one's minimum (`kind`), spread (`kind`_spread) and
    number of rounds into dests[who]."""
    caps = {key: contender_rounds for key in timers
            if contender_rounds and key[0] not in ("ours", "roofline")}
    for (who, kind), seconds in interleaved(timers, rounds, caps=caps, ran=ran).items():
        lo, _, spread = summary(seconds)
        dests[who][kind] = lo
        dests[who][kind + "_spread"] = spread
        dests[who][kind + "_rounds"] = len(seconds)


def measure_row(case, threads, rounds, roof, numpy_times, contender_rounds=None):
    """Check onnxlosses and every contender of the case, then time them all, and the
    roofline passes (`roof`: their callables), in the same interleaved rounds."""
    ran, ours_ran = {}, {}
    ours_grad, ours, ours_fns = check_ours(case, ours_ran)
    ran.update({("ours", k): v for k, v in ours_ran.items()})
    timers = {("ours", k): f for k, f in ours_fns.items()}
    timers.update({("roofline", k): f for k, f in roof.items()})
    dests = dict(ours=ours, roofline={})
    for c in case.contenders:
        if c.single_threaded and (case.loss, case.shape) in numpy_times:
            dests[c.name] = dict(numpy_times[case.loss, case.shape][0],
                                 reused_from_threads=numpy_times[case.loss, case.shape][1])
            continue
        c_ran = {}
        res, fns = check_contender(c, ours["value"], ours_grad, c_ran)
        dests[c.name] = res
        timers.update({(c.name, k): f for k, f in fns.items()})
        ran.update({(c.name, k): v for k, v in c_ran.items()})
    _fill(timers, dests, rounds, contender_rounds, ran)
    for c in case.contenders:
        if c.single_threaded and (case.loss, case.shape) not in numpy_times:
            numpy_times[case.loss, case.shape] = (dests[c.name], threads)
    x, t, loss = case.x, case.target, case.ours
    out = np.empty_like(x)
    ours.update(peak_fwd_mb=peak_extra_mb(lambda: loss(x, t)),
                peak_grad_out_mb=peak_extra_mb(lambda: loss.value_and_grad(x, t, out=out)),
                peak_grad_mb=peak_extra_mb(lambda: loss.value_and_grad(x, t)),
                gradient_mb=x.nbytes / 2**20)
    contenders = {c.name: dests[c.name] for c in case.contenders}
    return ours, dests["roofline"], contenders


def run(args):
    import contextlib
    torch = None
    with contextlib.suppress(ImportError):
        import torch
    families = tuple(getattr(args, "contenders", None) or DEFAULT_FAMILIES)
    rounds = getattr(args, "rounds", None) or getattr(args, "repeats", 5)
    rows, rooflines, numpy_times = [], {}, {}
    data = Data()
    for shape in args.shapes:
        roof_arrays = None
        for loss in args.losses:
            if shape not in LOSSES[loss][1]:
                continue
            if roof_arrays is None:
                xc = np.ascontiguousarray(data.logits(shape))
                roof_arrays = (xc, np.empty_like(xc))
            for threads in args.threads:
                onnxlosses.set_num_threads(threads)
                if torch is not None:
                    torch.set_num_threads(threads)
                start = time.perf_counter()
                case = make_case(loss, shape, threads, data, families)
                roof = roofline_fns(*roof_arrays, threads)
                ours, roofline, contenders = measure_row(
                    case, threads, rounds, roof, numpy_times,
                    getattr(args, "contender_rounds", None))
                row = dict(loss=loss, shape=shape, threads=threads, ours=ours,
                           contenders=contenders, unavailable=dict(case.unavailable),
                           exp_bound=case.exp_bound, roofline=roofline,
                           load1=os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
                           seconds=time.perf_counter() - start)
                key = f"{shape}/{threads}"
                # the run's roofline per shape and thread count: the best of its rows
                best = rooflines.setdefault(key, {})
                for k, v in roofline.items():
                    if not k.endswith(("_spread", "_rounds")):
                        best[k] = min(best.get(k, v), v)
                rows.append(row)
                print_row(row)
        data.drop(shape)
    return rows, rooflines


def _spread(res, kind):
    s = res.get(kind + "_spread")
    return "" if s is None else f" ±{100 * s:.0f}%"


def print_row(row):
    o, r = row["ours"], row["roofline"]
    print(f"\n{row['loss']} on {row['shape']}, {row['threads']} thread(s): onnxlosses fwd "
          f"{o['fwd']:.1f} ms{_spread(o, 'fwd')}, value+grad {o['fwd_grad_out']:.1f} ms"
          f"{_spread(o, 'fwd_grad_out')} into out= ({o['fwd_grad']:.1f} ms new array) | "
          f"peak extra MB: fwd {o['peak_fwd_mb']:.2f}, value+grad into out= "
          f"{o['peak_grad_out_mb']:.2f}, new array {o['peak_grad_mb']:.1f} (gradient "
          f"{o['gradient_mb']:.1f})")
    if r:
        line = (f"  {'roofline':24s} read {r['read']:.1f}, read+exp {r['read_exp']:.1f}, "
                f"read+own exp {r['read_ownexp']:.1f}, read+write {r['read_write']:.1f} ms")
        if row.get("exp_bound", True):
            line += f": onnxlosses fwd = {o['fwd'] / r['read_exp']:.2f}x read+exp"
        floor = max(r["read_exp"], r["read_write"])
        line += f", value+grad = {o['fwd_grad_out'] / floor:.2f}x max(read+exp, read+write)"
        print(line)
    for name, res in row["contenders"].items():
        if "error" in res:
            print(f"  {name:24s} DISAGREES: {res['error']}")
            continue
        if "fwd" not in res:
            print(f"  {name:24s} FAILED: {res['failed']}")
            continue
        line = (f"  {name:24s} fwd {res['fwd']:8.1f} ms{_spread(res, 'fwd'):5s} "
                f"{res['fwd'] / o['fwd']:6.1f}x")
        if "fwd_grad" in res:
            line += (f" | value+grad {res['fwd_grad']:8.1f} ms{_spread(res, 'fwd_grad'):5s} "
                     f"{res['fwd_grad'] / o['fwd_grad_out']:6.1f}x")
        if "compile_s" in res:
            line += (f" | compile {res['compile_s']:.1f} s, with backward "
                     f"{res.get('compile_grad_s', float('nan')):.1f} s (not timed)")
        if res.get("reused_from_threads"):
            line += "   (single-threaded: measured once)"
        if "failed" in res:
            line += f" | {res['failed']}"
        if "error" in res:
            line += f" | {res['error']}"
        print(line)
    for name, why in row["unavailable"].items():
        print(f"  {name:24s} not run: {why}")
    sys.stdout.flush()


def _load(busy_self, threads, when):
    load = machine_load(busy_self)
    warning = load_warning(load, threads, when)
    if warning:
        print(warning, flush=True)
    return load


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--losses", nargs="+", choices=list(LOSSES), default=list(LOSSES))
    parser.add_argument("--shapes", nargs="+", choices=LARGE_SHAPES, default=None)
    parser.add_argument("--threads", type=int, nargs="+", default=None)
    parser.add_argument("--rounds", "--repeats", dest="rounds", type=int, default=None,
                        help="interleaved timing rounds per row (default 5)")
    parser.add_argument("--contenders", nargs="+", choices=FAMILIES, default=None,
                        help="contender families (default: all but onnxlosses_torch)")
    parser.add_argument("--quick", action="store_true",
                        help="S1 rows at 2 threads against eager PyTorch, and the latency "
                             "subset: a before/after check meant to take under two minutes "
                             "on a quiet 2-core machine")
    parser.add_argument("--latency", action="store_true",
                        help="also run benchmarks/latency.py's small-input section")
    parser.add_argument("--json", help="write the rows, rooflines and settings here")
    parser.add_argument("--plot", help="draw the headline ratios into this PNG")
    parser.add_argument("--report", help="skip the timing: targets and plot from this JSON")
    parser.add_argument("--compare", nargs=2, metavar=("BEFORE", "AFTER"),
                        help="skip the timing: onnxlosses' times in two saved runs")
    parser.add_argument("--markdown", action="store_true",
                        help="also print docs/benchmarks.md's tables (every thread count)")
    args = parser.parse_args(argv)
    if args.plot:
        try:        # before the timing: an hour's run must not lose its plot at the end
            import matplotlib  # noqa: F401
        except ImportError:
            parser.error("--plot needs matplotlib (pip install matplotlib; `make bench` "
                         "installs it)")
    import latency
    import report
    if args.compare:
        runs = []
        for path in args.compare:
            with open(path) as fh:
                runs.append(json.load(fh))
        report.print_compare(*runs)
        return
    if args.report:
        with open(args.report) as fh:
            results = json.load(fh)
        rows, lat_rows = results["rows"], results.get("latency", [])
    else:
        for key, value in (QUICK if args.quick else dict(
                shapes=LARGE_SHAPES, threads=[1, 2], contenders=list(DEFAULT_FAMILIES),
                rounds=5, contender_rounds=None, warmup_s=None)).items():
            if getattr(args, key, None) is None:
                setattr(args, key, value)
        if args.warmup_s is not None:
            _common.WARMUP_S = args.warmup_s
        start = time.perf_counter()
        top = max(args.threads)
        load_start = _load(0.0, top, "start")
        rows, rooflines = run(args)
        main_s = time.perf_counter() - start
        lat_rows = []
        if args.latency or args.quick:
            lat_rows = latency.run(latency.options(quick=args.quick, threads=args.threads))
        load_end = _load(float(top), top, "end")
        seconds = time.perf_counter() - start
        print(f"\n{'quick ' if args.quick else ''}run took {seconds:.0f} s ({main_s:.0f} s "
              f"the large shapes, {seconds - main_s:.0f} s the small inputs)")
        if args.json:
            options = {k: v for k, v in vars(args).items()
                       if k not in ("json", "plot", "report", "compare", "markdown")}
            write_json(args.json, rows, rooflines, latency=lat_rows, options=options,
                       load=dict(start=load_start, end=load_end), seconds=seconds)
    report.print_targets(rows)
    report.print_round2(rows)
    if lat_rows:
        latency.print_targets(lat_rows)
    if args.markdown:
        for threads in sorted({r["threads"] for r in rows}):
            print(f"\n{threads} thread(s):\n" + report.markdown(rows, threads))
        print("\n" + report.markdown_targets(rows))
        print("\n" + report.markdown_round2(rows))
        if lat_rows:
            print("\n" + latency.markdown(lat_rows))
            print("\n" + latency.markdown_targets(lat_rows))
    if args.plot:
        print(f"plot: {report.plot(rows, args.plot)}")


if __name__ == "__main__":
    main()
