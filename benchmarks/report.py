"""The performance targets checked against one run's rows (the first round's, and performance
round 2's: roofline, layout and DiceCE bounds per shape and thread count), the comparison
of two runs, the markdown tables and the plot of the headline ratios.  Targets are goals:
reported met or not, never asserted."""
import _common


TORCH = ("torch", "torch_composed", "torchvision")
MEMORY_SLACK_MB = 1.0   # "O(threads * C)": far below one megabyte for every shape here


def exp_bound(row):
    """Whether the read+exp roofline applies (one exp per logit); older runs recorded a
    roofline for those rows only."""
    return row.get("exp_bound", bool(row.get("roofline")))


def _row(rows, loss, shape, threads):
    for r in rows:
        if (r["loss"], r["shape"], r["threads"]) == (loss, shape, threads):
            return r
    return None


def _ratio(row, contender, kind):
    """contender time / onnxlosses time for kind 'fwd' or 'fwd_grad' (None: not measured)."""
    res = row["contenders"].get(contender) if row else None
    if not res or kind not in res or "error" in res:
        return None
    ours = row["ours"]["fwd" if kind == "fwd" else "fwd_grad_out"]
    return res[kind] / ours


def _torch_name(row):
    return next((n for n in TORCH if row and n in row["contenders"]), "torch")


def targets(rows):
    """(target, measured, met) triples; met is None when the run lacks the numbers."""
    out = []
    top = max((r["threads"] for r in rows), default=1)

    def speedup(loss, shape, contender, kind, minimum, what):
        row = _row(rows, loss, shape, top)
        name = _torch_name(row) if contender == "torch" else contender
        ratio = _ratio(row, name, kind)
        out.append((f"{what}: >= {minimum}x {name} ({shape}, {top} thr)",
                    "not measured" if ratio is None else f"{ratio:.2f}x",
                    None if ratio is None else ratio >= minimum))

    for shape in ("S1", "S2"):
        speedup("cross_entropy", shape, "torch", "fwd", 8, "CE forward")
        row = _row(rows, "cross_entropy", shape, top)
        if row and row["roofline"] and exp_bound(row):
            k = row["ours"]["fwd"] / row["roofline"]["read_exp"]
            out.append((f"CE forward: <= 2x read+exp ({shape}, {top} thr)", f"{k:.2f}x", k <= 2))
    for ort in ("onnxruntime_native_op", "onnxruntime_composed"):
        speedup("cross_entropy", "K1", ort, "fwd", 1, "CE forward K1 faster than")
    speedup("cross_entropy", "S1", "torch", "fwd_grad", 10, "CE value+grad")
    for kind in ("fwd", "fwd_grad"):
        speedup("focal", "S1", "torch", kind, 8, f"softmax focal {kind}")
    for name in ("torch", "monai"):
        speedup("dice", "S1", name, "fwd_grad", 20, "multiclass Dice value+grad")
    for loss in ("bce_logits", "sigmoid_focal"):
        for kind in ("fwd", "fwd_grad"):
            speedup(loss, "B1", "torch", kind, 3, f"{loss} {kind}")
    for r1 in rows:
        r2 = _row(rows, r1["loss"], r1["shape"], 2)
        if r1["threads"] == 1 and r1["roofline"] and exp_bound(r1) and r2:
            s = r1["ours"]["fwd"] / r2["ours"]["fwd"]
            # the roofline's own scaling is this machine's ceiling for exp-bound work
            ceiling = r1["roofline"]["read_exp"] / r2["roofline"]["read_exp"]
            out.append((f"1 -> 2 threads >= 1.6x: {r1['loss']} fwd on {r1['shape']}",
                        f"{s:.2f}x (read+exp: {ceiling:.2f}x)", s >= 1.6))
    worst_fwd = max(rows, key=lambda r: r["ours"]["peak_fwd_mb"], default=None)
    worst_out = max(rows, key=lambda r: r["ours"]["peak_grad_out_mb"], default=None)
    worst_new = max(rows, key=lambda r: r["ours"]["peak_grad_mb"] - r["ours"]["gradient_mb"],
                    default=None)
    if worst_fwd:
        o = worst_fwd["ours"]
        out.append(("forward extra memory O(threads*C) (< 1 MB), worst row",
                    f"{o['peak_fwd_mb']:.2f} MB ({worst_fwd['loss']} {worst_fwd['shape']})",
                    o["peak_fwd_mb"] < MEMORY_SLACK_MB))
        o = worst_out["ours"]
        out.append(("value+grad into out= allocates nothing N*C-sized (< 1 MB), worst row",
                    f"{o['peak_grad_out_mb']:.2f} MB ({worst_out['loss']} {worst_out['shape']})",
                    o["peak_grad_out_mb"] < MEMORY_SLACK_MB))
        o = worst_new["ours"]
        out.append(("value+grad allocates only the gradient (+ < 1 MB), worst row",
                    f"{o['peak_grad_mb']:.1f} MB for a {o['gradient_mb']:.1f} MB gradient "
                    f"({worst_new['loss']} {worst_new['shape']})",
                    o["peak_grad_mb"] - o["gradient_mb"] < MEMORY_SLACK_MB))
    return out


def print_targets(rows):
    print("\nFirst-round targets (this run, this machine):")
    results = targets(rows)
    shown = [r for r in results if r[2] is not None]
    width = max((len(t) for t, _, _ in shown), default=0)
    for target, measured, met in shown:
        print(f"  {target:{width}s}  {measured:>28s}  {'met' if met else 'NOT met'}")
    if len(shown) < len(results):
        print(f"  ({len(results) - len(shown)} more need rows this run did not measure)")
    return results


def plot(rows, path):
    """Speed-up over PyTorch eager and torch.compile (forward, value+gradient) and over
    onnxruntime running the exported graph (forward), per loss and shape, at the run's
    highest thread count."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from _common import settings
    top = max(r["threads"] for r in rows)
    sel = [r for r in rows if r["threads"] == top]
    bars = [("PyTorch, forward", lambda r: _ratio(r, _torch_name(r), "fwd"), "tab:blue"),
            ("PyTorch, value+gradient", lambda r: _ratio(r, _torch_name(r), "fwd_grad"),
             "tab:orange"),
            ("torch.compile, forward", lambda r: _ratio(r, "torch_compile", "fwd"),
             "tab:purple"),
            ("torch.compile, value+gradient", lambda r: _ratio(r, "torch_compile", "fwd_grad"),
             "tab:pink"),
            ("onnxruntime (exported graph), forward",
             lambda r: _ratio(r, "onnxruntime_composed", "fwd"), "tab:green")]
    # a contender this run did not time (the quick run's torch.compile) gets no bar
    bars = [b for b in bars if any(b[1](r) for r in sel)]
    fig, ax = plt.subplots(figsize=(10, 0.12 * len(bars) * len(sel) + 1.6))
    h = 0.8 / len(bars)
    for j, (label, get, color) in enumerate(bars):
        ys = [i + (j - (len(bars) - 1) / 2) * h for i in range(len(sel))]
        vals = [get(r) or 0 for r in sel]
        ax.barh(ys, vals, height=h, color=color, label=label)
    ax.axvline(1.0, color="black", lw=0.8)
    ax.set_yticks(range(len(sel)), [f"{r['loss']} {r['shape']}" for r in sel], fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ticks = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}x")
    ax.xaxis.set_major_formatter(ticks)
    ax.xaxis.set_minor_formatter(ticks)
    ax.tick_params(axis="x", which="minor", labelsize=6)
    ax.set_xlabel("contender time / onnxlosses time (log scale; > 1: onnxlosses is faster)")
    s = settings()
    ax.set_title(f"onnxlosses speed-ups, float32, {top} threads, {s['cpu']} "
                 f"({s['kernel_isa']} kernels), torch {s['torch']}", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def _cell(row, name, kind):
    res = row["contenders"].get(name)
    if not res:
        why = row["unavailable"].get(name)
        return "not run" if why else ""
    if "error" in res:
        return "disagrees"
    if kind not in res:
        return "raises" if "failed" in res else ""
    ours = row["ours"]["fwd" if kind == "fwd" else "fwd_grad_out"]
    digits = 0 if res[kind] >= 10 else 1
    return f"{res[kind]:.{digits}f} ms ({res[kind] / ours:.1f}x)"


def markdown(rows, threads):
    """docs/benchmarks.md's table: every (loss, shape) at one thread count, times and ratios."""
    head = ("| loss | shape | onnxlosses fwd | value+grad | fwd / read+exp | "
            "value+grad / max(read+exp, read+write) | PyTorch fwd | PyTorch value+grad | "
            "torch.compile fwd | torch.compile value+grad | compile s (fwd, value+grad) | "
            "onnxruntime, our graph, fwd | onnxruntime, ONNX op, fwd | "
            "MONAI fwd | MONAI value+grad | NumPy fwd (1 thread) |")
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for r in rows:
        if r["threads"] != threads:
            continue
        o, t, roof = r["ours"], _torch_name(r), r["roofline"]
        fwd_roof = f"{o['fwd'] / roof['read_exp']:.2f}x" if roof and exp_bound(r) else ""
        vg_roof = (f"{o['fwd_grad_out'] / max(roof['read_exp'], roof['read_write']):.2f}x"
                   if roof and "read_write" in roof else "")
        torch_label = "" if t == "torch" else " (composed)"
        comp = r["contenders"].get("torch_compile", {})
        compile_s = (f"{comp['compile_s']:.1f}, {comp.get('compile_grad_s', float('nan')):.1f}"
                     if "compile_s" in comp else "")
        lines.append(
            f"| {r['loss']} | {r['shape']} | {o['fwd']:.1f} ms | {o['fwd_grad_out']:.1f} ms | "
            f"{fwd_roof} | {vg_roof} | {_cell(r, t, 'fwd')}{torch_label} | "
            f"{_cell(r, t, 'fwd_grad')} | {_cell(r, 'torch_compile', 'fwd')} | "
            f"{_cell(r, 'torch_compile', 'fwd_grad')} | {compile_s} | "
            f"{_cell(r, 'onnxruntime_composed', 'fwd')} | "
            f"{_cell(r, 'onnxruntime_native_op', 'fwd')} | {_cell(r, 'monai', 'fwd')} | "
            f"{_cell(r, 'monai', 'fwd_grad')} | {_cell(r, 'numpy', 'fwd')} |")
    return "\n".join(lines)


def markdown_targets(rows):
    return _common.markdown_targets(targets(rows))


# Performance round 2: per shape and thread count, against the roofline passes, the same
# loss in another layout, and Dice alone.
ROOF_LOSSES = ("cross_entropy", "nll", "focal")                 # item 1
ROOF_SHAPES = ("S1", "S2", "S3", "K1")
LAYOUT_LOSSES = ("cross_entropy", "cross_entropy_ls", "focal", "dice", "dice_ce")   # item 2
LAYOUTS = (("S1_NHWC", "channels-last"), ("S1_NC", "(N, C) rows, C = 21"))
VG_ROOF, LAYOUT, FWD_ROOF, DICE_FLOOR, DICE_CE = 1.6, 1.2, 1.3, 1.5, 1.25


def _spread_of(res, kind):
    return res.get(kind + "_spread")


def _entry(item, row, kind, bound_label, bound_ms, limit, ours_key=None):
    """One target row: onnxlosses' time for pass `kind` against a bound."""
    ours_key = ours_key or ("fwd" if kind == "fwd" else "fwd_grad_out")
    ours = row["ours"][ours_key]
    t = _torch_name(row)
    roof = row.get("roofline") or {}
    ratio = ours / bound_ms if bound_ms else None
    return dict(item=item, loss=row["loss"], shape=row["shape"], threads=row["threads"],
                kind="forward" if kind == "fwd" else "value+grad", ours_ms=ours,
                ours_spread=_spread_of(row["ours"], ours_key), bound=bound_label,
                bound_ms=bound_ms, ratio=ratio, limit=limit,
                met=None if ratio is None else ratio <= limit,
                read_exp_ms=roof.get("read_exp"), read_write_ms=roof.get("read_write"),
                torch_x=_ratio(row, t, kind), torch_compile_x=_ratio(row, "torch_compile", kind))


def round2(rows):
    """Items 1-3 of performance round 2 and the DiceCE bounds, one entry per (loss,
    shape, thread count, pass) the run measured; `met` is None where a bound is missing.

    1. CE, NLL, softmax focal value+grad <= 1.6x max(read+exp, read+streaming write) on
       S1, S2, S3, K1.
    2. Channels-last (S1_NHWC) and (N, C) rows with C < 32 (S1_NC) within 1.2x of the same
       loss on NCHW logits (S1), forward and value+grad, for CE, label-smoothed CE, focal,
       Dice and DiceCE.
    3. Every exp-bound forward <= 1.3x read+exp; Dice value+grad <= 1.5x its two-pass
       floor: two read+exp passes and a write, 2 read_exp + (read_write - read).
    DiceCE forward and value+grad <= 1.25x Dice's on the same shape and threads (the
    issue's target: S1 at 2 threads)."""
    out = []
    for r in rows:
        roof = r.get("roofline") or {}
        if r["loss"] in ROOF_LOSSES and r["shape"] in ROOF_SHAPES and "read_write" in roof:
            floor = max(roof["read_exp"], roof["read_write"])
            name = "read+write" if roof["read_write"] > roof["read_exp"] else "read+exp"
            out.append(_entry(1, r, "fwd_grad", f"max(read+exp, read+write) = {name}",
                              floor, VG_ROOF))
    for r in rows:
        for shape, label in LAYOUTS:
            if r["shape"] != shape or r["loss"] not in LAYOUT_LOSSES:
                continue
            base = _row(rows, r["loss"], "S1", r["threads"])
            for kind in ("fwd", "fwd_grad"):
                key = "fwd" if kind == "fwd" else "fwd_grad_out"
                out.append(_entry(2, r, kind, f"{r['loss']} on S1 (NCHW)",
                                  base["ours"][key] if base else None, LAYOUT))
    for r in rows:
        roof = r.get("roofline") or {}
        if exp_bound(r) and "read_exp" in roof:
            out.append(_entry(3, r, "fwd", "read+exp", roof["read_exp"], FWD_ROOF))
        if r["loss"] == "dice" and "read_write" in roof:
            floor = 2 * roof["read_exp"] + roof["read_write"] - roof["read"]
            out.append(_entry(3, r, "fwd_grad", "2 read+exp + write", floor, DICE_FLOOR))
    for r in rows:
        if r["loss"] == "dice_ce":
            dice = _row(rows, "dice", r["shape"], r["threads"])
            for kind in ("fwd", "fwd_grad"):
                key = "fwd" if kind == "fwd" else "fwd_grad_out"
                out.append(_entry("DiceCE", r, kind, "dice, same shape",
                                  dice["ours"][key] if dice else None, DICE_CE))
    return out


def _fmt(v, spec, suffix=""):
    return "" if v is None else f"{v:{spec}}{suffix}"


def _round2_cells(e):
    spread = "" if e["ours_spread"] is None else f" ±{100 * e['ours_spread']:.0f}%"
    met = {True: "met", False: "NOT met", None: "not measured"}[e["met"]]
    return [str(e["item"]), e["loss"], e["shape"], str(e["threads"]), e["kind"],
            f"{e['ours_ms']:.1f}{spread}", e["bound"], _fmt(e["bound_ms"], ".1f"),
            _fmt(e["ratio"], ".2f", "x"), f"<= {e['limit']}x", met,
            _fmt(e["read_exp_ms"], ".1f"), _fmt(e["read_write_ms"], ".1f"),
            _fmt(e["torch_x"], ".1f", "x"), _fmt(e["torch_compile_x"], ".1f", "x")]


ROUND2_HEAD = ["item", "loss", "shape", "thr", "pass", "onnxlosses ms", "bound",
               "bound ms", "ratio", "limit", "", "read+exp ms", "read+write ms",
               "PyTorch / ours", "torch.compile / ours"]


def print_round2(rows):
    entries = round2(rows)
    if not entries:
        return entries
    print("\nPerformance round 2 targets (this run, this machine; ratio = onnxlosses / bound, "
          "PyTorch and torch.compile columns = their time / onnxlosses'):")
    table = [ROUND2_HEAD] + [_round2_cells(e) for e in entries]
    widths = [max(len(line[i]) for line in table) for i in range(len(ROUND2_HEAD))]
    for line in table:
        print("  " + "  ".join(c.rjust(w) if i >= 5 else c.ljust(w)
                               for i, (c, w) in enumerate(zip(line, widths))))
    met = [e["met"] for e in entries if e["met"] is not None]
    print(f"  {sum(met)} of {len(met)} met")
    return entries


def markdown_round2(rows):
    head = ["item", "loss", "shape", "threads", "pass", "onnxlosses ms", "bound", "bound ms",
            "ratio", "limit", "", "read+exp ms", "read+write ms", "PyTorch / ours",
            "torch.compile / ours"]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for e in round2(rows):
        cells = _round2_cells(e)
        cells[10] = {"met": "met", "NOT met": "**not met**"}.get(cells[10], cells[10])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare(before, after):
    """onnxlosses' times in two runs (JSON dicts), row by row: (key, pass, before ms,
    after ms, after / before, the same ratio against each run's read+exp pass, the larger
    of the two spreads).  The second ratio cancels a machine that is slower in one run
    than the other, as far as the roofline pass feels it."""
    out = []
    index = {(r["loss"], r["shape"], r["threads"]): r for r in before.get("rows", [])}
    for r in after.get("rows", []):
        b = index.get((r["loss"], r["shape"], r["threads"]))
        if b is None:
            continue
        for kind in ("fwd", "fwd_grad_out"):
            x, y = b["ours"][kind], r["ours"][kind]
            rb, ra = (b.get("roofline") or {}).get("read_exp"), \
                (r.get("roofline") or {}).get("read_exp")
            rel = (y / ra) / (x / rb) if rb and ra else None
            spreads = [s for s in (b["ours"].get(kind + "_spread"),
                                   r["ours"].get(kind + "_spread")) if s is not None]
            out.append(((r["loss"], r["shape"], r["threads"]), kind, x, y, y / x, rel,
                        max(spreads) if spreads else None))
    lat = {(r["loss"], r["shape"], r["threads"]): r for r in before.get("latency", [])}
    for r in after.get("latency", []):
        b = lat.get((r["loss"], r["shape"], r["threads"]))
        if b is None:
            continue
        for kind in ("fwd", "fwd_grad_out"):
            x, y = b["results"]["onnxlosses"][kind], r["results"]["onnxlosses"][kind]
            spreads = [b["results"]["onnxlosses"][kind + "_spread"],
                       r["results"]["onnxlosses"][kind + "_spread"]]
            out.append(((r["loss"], r["shape"], r["threads"]), kind + " (us)", x, y, y / x,
                        None, max(spreads)))
    return out


def print_compare(before, after):
    print("onnxlosses before -> after (ms; latency rows in us). after/before < 1: faster. "
          "vs read+exp: the same ratio with each time over its run's read+exp pass. A change "
          "within the spread is noise.")
    print(f"  {'loss':16s} {'shape':8s} {'thr':>3s} {'pass':16s} {'before':>9s} {'after':>9s} "
          f"{'after/before':>12s} {'vs read+exp':>11s} {'spread':>6s}")
    for (loss, shape, threads), kind, x, y, ratio, rel, spread in compare(before, after):
        flag = "" if spread is None or abs(ratio - 1) > spread else "  (within spread)"
        print(f"  {loss:16s} {shape:8s} {threads:>3d} {kind:16s} {x:9.2f} {y:9.2f} "
              f"{ratio:11.2f}x {_fmt(rel, '10.2f', 'x'):>11s} "
              f"{_fmt(None if spread is None else 100 * spread, '5.0f', '%'):>6s}{flag}")
