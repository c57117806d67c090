"""The benchmark suite: every loss on every shape, forward and value+gradient, at each
thread count, against PyTorch, MONAI / smp (where installed), onnxruntime running the
exported graphs, NumPy, and the read-plus-exp roofline of the same logits; in one run.

    python benchmarks/run.py [--losses ...] [--shapes ...] [--threads 1 2] [--repeats 5]
                             [--json FILE] [--plot FILE.png]
    python benchmarks/run.py --report FILE.json [--plot FILE.png]   # targets + plot again

Before a contender is timed its value must agree with onnxlosses' (and onnxlosses' with
the float64 NumPy reference), and its gradient too where it has one; one that disagrees
is reported and not timed.  Times are the minimum over repeats; ratios are the
contender's time over onnxlosses' (above 1: onnxlosses is faster).  Peak extra memory is
what onnxlosses allocates during the call.  The end of the run checks the performance targets.
"""
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# the benchmark helpers, and the package built in place (make build) from this checkout
sys.path[:0] = [HERE, os.path.dirname(HERE)]

import numpy as np  # noqa: E402
from _common import (agree, as_float, best_ms, grad_gap, peak_extra_mb,  # noqa: E402
                     write_json)
from contenders import LOSSES, make_case  # noqa: E402
from shapes import SHAPES, Data  # noqa: E402

import onnxlosses  # noqa: E402
from onnxlosses import _roofline  # noqa: E402


def roofline(x, threads, repeats):
    """Read-only and read+exp passes over the logits (C-contiguous copy if they are not)."""
    xc = np.ascontiguousarray(x)
    return dict(read=best_ms(lambda: _roofline.read_pass(xc, threads, False), repeats),
                read_exp=best_ms(lambda: _roofline.read_pass(xc, threads, True), repeats),
                read_ownexp=best_ms(lambda: _roofline.read_pass(xc, threads, True, True),
                                    repeats))


def measure_ours(case, repeats):
    x, t, loss = case.x, case.target, case.ours
    value = float(loss(x, t))
    if not agree(value, case.reference, rtol=2e-5):
        raise AssertionError(f"onnxlosses {case.loss} on {case.shape}: {value!r} but the "
                             f"float64 NumPy reference gives {case.reference!r}")
    out = np.empty_like(x)
    _, grad = loss.value_and_grad(x, t)
    return grad, dict(
        value=value, reference=case.reference,
        fwd=best_ms(lambda: loss(x, t), repeats),
        fwd_grad_out=best_ms(lambda: loss.value_and_grad(x, t, out=out), repeats),
        fwd_grad=best_ms(lambda: loss.value_and_grad(x, t), repeats),
        peak_fwd_mb=peak_extra_mb(lambda: loss(x, t)),
        peak_grad_out_mb=peak_extra_mb(lambda: loss.value_and_grad(x, t, out=out)),
        peak_grad_mb=peak_extra_mb(lambda: loss.value_and_grad(x, t)),
        gradient_mb=x.nbytes / 2**20)


def measure_contender(c, ours_value, ours_grad, repeats):
    """Check, then time; a disagreement ("error") is returned instead of times, and so is
    an exception the contender raises ("failed": e.g. a layout it does not support)."""
    expected = ours_value if c.expected is None else c.expected
    try:
        value = as_float(c.fwd())
    except Exception as exc:
        return dict(failed=f"forward raised {type(exc).__name__}: {exc}"[:200])
    if not agree(value, expected, rtol=c.rtol):
        return dict(error=f"value {value!r}, expected {expected!r}: not timed")
    res = dict(value=value, fwd=best_ms(c.fwd, repeats))
    if c.fwd_grad is not None:
        try:
            grad = c.fwd_grad()
        except Exception as exc:
            res["failed"] = f"value+gradient raised {type(exc).__name__}: {exc}"[:200]
            return res
        if c.check_grad:
            gap = grad_gap(grad, ours_grad)
            res["grad_gap"] = gap
            if gap > 1e-4:
                res["error"] = f"gradient differs by {gap:.2e} of its scale: not timed"
                return res
        res["fwd_grad"] = best_ms(c.fwd_grad, repeats)
    return res


def run(args):
    import contextlib
    torch = None
    with contextlib.suppress(ImportError):
        import torch
    rows, rooflines, numpy_times = [], {}, {}
    data = Data()
    for shape in args.shapes:
        for loss in args.losses:
            if shape not in LOSSES[loss][1]:
                continue
            for threads in args.threads:
                onnxlosses.set_num_threads(threads)
                if torch is not None:
                    torch.set_num_threads(threads)
                case = make_case(loss, shape, threads, data)
                key = f"{shape}/{threads}"
                if case.exp_bound and key not in rooflines:
                    rooflines[key] = roofline(case.x, threads, args.repeats)
                ours_grad, ours = measure_ours(case, args.repeats)
                row = dict(loss=loss, shape=shape, threads=threads, ours=ours,
                           contenders={}, unavailable=dict(case.unavailable),
                           roofline=rooflines.get(key) if case.exp_bound else None)
                for c in case.contenders:
                    if c.single_threaded:
                        if (loss, shape) in numpy_times:
                            row["contenders"][c.name] = dict(numpy_times[loss, shape],
                                                             reused_from_threads=1)
                            continue
                    res = measure_contender(c, ours["value"], ours_grad, args.repeats)
                    if c.single_threaded:
                        numpy_times[loss, shape] = res
                    row["contenders"][c.name] = res
                rows.append(row)
                print_row(row)
        data.drop(shape)
    return rows, rooflines


def print_row(row):
    o = row["ours"]
    print(f"\n{row['loss']} on {row['shape']}, {row['threads']} thread(s): onnxlosses fwd "
          f"{o['fwd']:.1f} ms, value+grad {o['fwd_grad_out']:.1f} ms into out= "
          f"({o['fwd_grad']:.1f} ms new array) | peak extra MB: fwd {o['peak_fwd_mb']:.2f}, "
          f"value+grad into out= {o['peak_grad_out_mb']:.2f}, new array "
          f"{o['peak_grad_mb']:.1f} (gradient {o['gradient_mb']:.1f})")
    if row["roofline"]:
        r = row["roofline"]
        own = f", read+own exp {r['read_ownexp']:.1f} ms" if "read_ownexp" in r else ""
        print(f"  {'roofline':24s} read {r['read']:.1f} ms, read+exp {r['read_exp']:.1f} ms"
              f"{own}: onnxlosses fwd = {o['fwd'] / r['read_exp']:.2f}x read+exp")
    for name, res in row["contenders"].items():
        if "error" in res:
            print(f"  {name:24s} DISAGREES: {res['error']}")
            continue
        if "fwd" not in res:
            print(f"  {name:24s} FAILED: {res['failed']}")
            continue
        line = f"  {name:24s} fwd {res['fwd']:8.1f} ms {res['fwd'] / o['fwd']:6.1f}x"
        if "fwd_grad" in res:
            line += (f" | value+grad {res['fwd_grad']:8.1f} ms "
                     f"{res['fwd_grad'] / o['fwd_grad_out']:6.1f}x")
        if res.get("reused_from_threads"):
            line += "   (single-threaded: measured once)"
        if "failed" in res:
            line += f" | {res['failed']}"
        print(line)
    for name, why in row["unavailable"].items():
        print(f"  {name:24s} not run: {why}")
    sys.stdout.flush()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--losses", nargs="+", choices=list(LOSSES), default=list(LOSSES))
    parser.add_argument("--shapes", nargs="+", choices=list(SHAPES), default=list(SHAPES))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="write the rows, rooflines and settings here")
    parser.add_argument("--plot", help="draw the headline ratios into this PNG")
    parser.add_argument("--report", help="skip the timing: targets and plot from this JSON")
    parser.add_argument("--markdown", action="store_true",
                        help="also print docs/benchmarks.md's tables (every thread count)")
    args = parser.parse_args(argv)
    import report
    if args.report:
        with open(args.report) as fh:
            results = json.load(fh)
        rows, rooflines = results["rows"], results["rooflines"]
    else:
        rows, rooflines = run(args)
        if args.json:
            write_json(args.json, rows, rooflines)
    report.print_targets(rows)
    if args.markdown:
        for threads in sorted({r["threads"] for r in rows}):
            print(f"\n{threads} thread(s):\n" + report.markdown(rows, threads))
        print("\n" + report.markdown_targets(rows))
    if args.plot:
        print(f"plot: {report.plot(rows, args.plot)}")


if __name__ == "__main__":
    main()
