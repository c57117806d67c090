"""`python -m onnxlosses parity`: the parity harness over every loss, its main
configurations, dtypes, ranks and opsets; a table, optional JSON, non-zero exit on mismatch."""
import json
import sys

import numpy as np

from . import parity
from ._registry import LOSSES

SHAPES = {2: (16, 7), 3: (3, 7, 10), 4: (2, 7, 6, 5), 5: (2, 7, 3, 4, 5)}


def configurations(C=7):
    """(name, loss, target kind, uses mask) for each configuration the grid covers: every
    registered loss's examples, for inputs with C classes."""
    return [(f"{cls.spec.name} {ex.label}".strip(), ex.build(cls, C), ex.targets, ex.mask)
            for cls in LOSSES for ex in cls.spec.examples]


def _data(kind, shape, dtype, seed, input_kind):
    """An input of what the loss's input holds and targets of kind `kind`."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    if input_kind == "probabilities":
        x = (1 / (1 + np.exp(-x.astype(np.float64)))).astype(dtype)
        if kind == "dense":   # soft labels
            return x, rng.random(shape).astype(dtype)
    if kind == "dense":
        return x, (rng.random(shape) < 0.4).astype(dtype)
    if input_kind == "log_probabilities":
        x64 = x.astype(np.float64)
        x = (x64 - np.log(np.exp(x64).sum(axis=1, keepdims=True))).astype(dtype)
    pos = (shape[0],) + shape[2:]
    if kind == "probabilities":
        q = rng.random(shape)
        return x, (q / q.sum(axis=1, keepdims=True)).astype(dtype)
    t = rng.integers(0, shape[1], pos)
    if kind == "index255":
        t[rng.random(pos) < 0.2] = 255
        return x, t.astype(np.uint8)
    if kind == "index-1":
        t[rng.random(pos) < 0.2] = -1
        return x, t.astype(np.int32)
    return x, t.astype(np.int64)


def run(dtypes=("float32", "float64", "float16"), ranks=(2, 4, 5), opsets=None,
        providers=None, json_path=None, out=sys.stdout, progress=sys.stderr, json_file=None):
    """Run the grid; every report is written as JSON to `json_file` (an open text file) or
    `json_path` when given.  Returns the exit status: 1 when a run had a mismatch."""
    from .onnx import DEFAULT_OPSET, newest_onnxruntime_opset
    opsets = opsets or sorted({13, DEFAULT_OPSET, newest_onnxruntime_opset()})
    jobs = [(c, d, r, o) for c in configurations() for d in dtypes for r in ranks for o in opsets]
    reports = []
    for k, ((name, loss, kind, use_mask), dtype, rank, opset) in enumerate(jobs):
        x, t = _data(kind, SHAPES[rank], dtype, k, loss.spec.input)
        mask = None
        if use_mask:
            mask = np.random.default_rng(k).random((x.shape[0],) + x.shape[2:]) < 0.8
        reports.append(parity.check(loss, x, t, providers, mask=mask, opset=opset))
        done = int(30 * (k + 1) / len(jobs))
        progress.write(f"\rparity [{'#' * done}{'.' * (30 - done)}] {k + 1}/{len(jobs)}")
        progress.flush()
    progress.write("\n")
    paths = sorted({r.path for rep in reports for r in rep.results})
    print(f"{len(reports)} runs; status counts per path:", file=out)
    for path in paths:
        counts = {}
        for rep in reports:
            for r in rep.results:
                if r.path == path:
                    counts[r.status] = counts.get(r.status, 0) + 1
        worst = max((r.max_rel for rep in reports for r in rep.results
                     if r.path == path and r.status == "pass" and r.max_rel == r.max_rel),
                    default=float("nan"))
        print(f"  {path:<38} " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
              + f"   (worst passing rel. diff {worst:.1e})", file=out)
    bad = [rep for rep in reports if not rep.ok]
    for rep in bad:
        print("\n" + rep.table(), file=out)
    if json_file is not None:
        json.dump([rep.as_dict() for rep in reports], json_file, indent=1)
    elif json_path:
        with open(json_path, "w") as fh:
            json.dump([rep.as_dict() for rep in reports], fh, indent=1)
    print(f"\n{len(bad)} of {len(reports)} runs had a mismatch", file=out)
    return 1 if bad else 0
