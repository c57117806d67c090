"""Issue #6's targets checked against one run's rows, and the plot of the headline ratios."""

TORCH = ("torch", "torch_composed", "torchvision")
MEMORY_SLACK_MB = 1.0   # "O(threads * C)": far below one megabyte for every shape here


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
        if row and row["roofline"]:
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
        if r1["threads"] == 1 and r1["roofline"] and r2:
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
    print("\nIssue #6 targets (this run, this machine):")
    results = targets(rows)
    width = max((len(t) for t, _, _ in results), default=0)
    for target, measured, met in results:
        flag = {True: "met", False: "NOT met", None: "not measured"}[met]
        print(f"  {target:{width}s}  {measured:>28s}  {flag}")
    return results


def plot(rows, path):
    """Speed-up over PyTorch (forward, value+gradient) and over onnxruntime running the
    exported graph (forward), per loss and shape, at the run's highest thread count."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from _common import settings
    top = max(r["threads"] for r in rows)
    sel = [r for r in rows if r["threads"] == top]
    bars = [("PyTorch, forward", lambda r: _ratio(r, _torch_name(r), "fwd"), "tab:blue"),
            ("PyTorch, value+gradient", lambda r: _ratio(r, _torch_name(r), "fwd_grad"),
             "tab:orange"),
            ("onnxruntime (exported graph), forward",
             lambda r: _ratio(r, "onnxruntime_composed", "fwd"), "tab:green")]
    fig, ax = plt.subplots(figsize=(10, 0.42 * len(sel) + 1.6))
    h = 0.8 / len(bars)
    for j, (label, get, color) in enumerate(bars):
        ys = [i + (j - 1) * h for i in range(len(sel))]
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
    return f"{res[kind]:.0f} ms ({res[kind] / ours:.1f}x)"


def markdown(rows, threads):
    """docs/benchmarks.md's table: every (loss, shape) at one thread count, times and ratios."""
    head = ("| loss | shape | onnxlosses fwd | value+grad | fwd / read+exp | PyTorch fwd | "
            "PyTorch value+grad | onnxruntime, our graph, fwd | onnxruntime, ONNX op, fwd | "
            "MONAI fwd | MONAI value+grad | NumPy fwd (1 thread) |")
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for r in rows:
        if r["threads"] != threads:
            continue
        o, t = r["ours"], _torch_name(r)
        roof = f"{o['fwd'] / r['roofline']['read_exp']:.2f}x" if r["roofline"] else ""
        torch_label = "" if t == "torch" else " (composed)"
        lines.append(
            f"| {r['loss']} | {r['shape']} | {o['fwd']:.1f} ms | {o['fwd_grad_out']:.1f} ms | "
            f"{roof} | {_cell(r, t, 'fwd')}{torch_label} | {_cell(r, t, 'fwd_grad')} | "
            f"{_cell(r, 'onnxruntime_composed', 'fwd')} | "
            f"{_cell(r, 'onnxruntime_native_op', 'fwd')} | {_cell(r, 'monai', 'fwd')} | "
            f"{_cell(r, 'monai', 'fwd_grad')} | {_cell(r, 'numpy', 'fwd')} |")
    return "\n".join(lines)


def markdown_targets(rows):
    lines = ["| target | measured | |", "| --- | --- | --- |"]
    for target, measured, met in targets(rows):
        flag = {True: "met", False: "**not met**", None: "not measured"}[met]
        lines.append(f"| {target} | {measured} | {flag} |")
    return "\n".join(lines)
