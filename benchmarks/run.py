"""The benchmark suite: every loss against its alternatives, in one run, and a plot.

    python benchmarks/run.py [--suites cross_entropy focal_bce dice] [--threads 1 2]
                             [--repeats 5] [--json FILE] [--plot FILE.png]
    python benchmarks/run.py --plot-only [--plot FILE.png]   # redraw from results_*.json

Each suite (bench_cross_entropy.py, bench_focal_bce.py, bench_dice.py) checks every
contender's value before timing it and reports the minimum over repeats.  The plot shows
the headline ratios (contender time / onnxlosses time, above 1: onnxlosses is faster),
forward and value+gradient, per loss and thread count.
"""
import argparse
import glob
import json
import os
import sys
from types import SimpleNamespace

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

SUITES = ("cross_entropy", "focal_bce", "dice")


def _ratios(rows):
    """(label, ratio) pairs: every contender's forward and value+gradient ratio."""
    out = []
    for row in rows:
        name = row.get("loss") or f"cross-entropy {row.get('shape')}"
        # value+gradient into out= where the suite measured it (cross-entropy)
        ours_f = row["onnxlosses_fwd"]
        ours_g = row.get("onnxlosses_fwd_grad_out", row.get("onnxlosses_fwd_grad"))
        for key, value in row.items():
            if key.startswith("onnxlosses") or not isinstance(value, float) or "MB" in key:
                continue
            base = key.rsplit("_fwd", 1)[0]
            grad = key.endswith(("fwd_grad", "fwd_bwd"))
            ratio = value / (ours_g if grad else ours_f)
            out.append((f"{name}, {row['threads']} thr: {base} {'fwd+grad' if grad else 'fwd'}",
                        ratio))
    return out


def plot(results, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    pairs = [p for rows in results.values() for p in _ratios(rows)]
    labels, ratios = zip(*pairs)
    fig, ax = plt.subplots(figsize=(11, 0.28 * len(pairs) + 1.5))
    colors = ["tab:green" if r >= 1 else "tab:red" for r in ratios]
    ax.barh(range(len(pairs)), ratios, color=colors)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks(range(len(pairs)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("contender time / onnxlosses time (log scale; > 1: onnxlosses faster)")
    settings = next(iter(results.values()))
    ax.set_title("onnxlosses speed-ups, 2-core AMD EPYC (AVX2), float32", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path, settings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", nargs="+", choices=SUITES, default=list(SUITES))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="write every suite's rows here")
    parser.add_argument("--plot", default=os.path.join(HERE, "ratios.png"))
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw the plot from benchmarks/results_*.json")
    args = parser.parse_args(argv)
    results = {}
    if args.plot_only:
        for path in sorted(glob.glob(os.path.join(HERE, "results_*.json"))):
            with open(path) as fh:
                results[os.path.basename(path)] = json.load(fh)["rows"]
    else:
        import importlib
        for suite in args.suites:
            module = importlib.import_module(f"bench_{suite}")
            ns = SimpleNamespace(threads=args.threads, repeats=args.repeats,
                                 shapes=["S1", "K1"], json=None)
            results[suite] = module.run(ns)
        if args.json:
            from _common import write_json
            write_json(args.json, [dict(suite=s, **r) for s, rows in results.items()
                                   for r in rows])
    print(f"plot: {plot(results, args.plot)[0]}")


if __name__ == "__main__":
    main()
