"""`python -m onnxlosses parity`: the parity harness over every loss, its main
configurations, dtypes, ranks and opsets; a table, optional JSON, non-zero exit on mismatch."""
import json
import sys

import numpy as np

from . import parity
from .bce import BCELoss, BCEWithLogitsLoss
from .cross_entropy import CrossEntropyLoss, NLLLoss
from .dice import DiceLoss, GeneralizedDiceLoss, JaccardLoss, TverskyLoss
from .focal import FocalLoss, SigmoidFocalLoss

SHAPES = {2: (16, 7), 3: (3, 7, 10), 4: (2, 7, 6, 5), 5: (2, 7, 3, 4, 5)}


def configurations():
    """(name, loss, target kind, uses mask) for each configuration the grid covers."""
    w = np.linspace(0.5, 2.0, 7)
    ce = [
        ("cross_entropy", CrossEntropyLoss(), "index", False),
        ("cross_entropy weight ignore=255", CrossEntropyLoss(weight=w, ignore_index=255),
         "index255", False),
        ("cross_entropy smoothing weight", CrossEntropyLoss(weight=w, label_smoothing=0.1),
         "index", False),
        ("cross_entropy sum mask", CrossEntropyLoss(reduction="sum"), "index", True),
        ("cross_entropy none", CrossEntropyLoss(reduction="none", ignore_index=0), "index",
         False),
        ("cross_entropy probabilities", CrossEntropyLoss(weight=w, label_smoothing=0.2),
         "probabilities", False),
        ("nll_loss", NLLLoss(ignore_index=-1), "index-1", False),
        ("nll_loss weight none", NLLLoss(weight=w, reduction="none"), "index", False),
        ("focal_loss", FocalLoss(alpha=w, gamma=2.0, ignore_index=255), "index255", False),
        ("focal_loss gamma=0.5 none mask", FocalLoss(gamma=0.5, reduction="none"), "index",
         True),
        ("binary_cross_entropy", BCELoss(), "probs-input", False),
        ("binary_cross_entropy_with_logits pos_weight",
         BCEWithLogitsLoss(pos_weight=np.array([2.0]), reduction="sum"), "dense", False),
        ("sigmoid_focal_loss", SigmoidFocalLoss(reduction="mean"), "dense", False),
        ("sigmoid_focal_loss normalized", SigmoidFocalLoss(normalized=True,
                                                           reduced_threshold=0.5), "dense",
         False),
        ("sigmoid_focal_loss indices", SigmoidFocalLoss(reduction="sum", ignore_index=255),
         "index255", False),
        ("dice_loss ignore=255", DiceLoss(ignore_index=255), "index255", False),
        ("dice_loss smp preset", DiceLoss.preset("smp"), "index", False),
        ("dice_loss monai preset mask", DiceLoss.preset("monai", softmax=True), "index", True),
        ("jaccard_loss log", JaccardLoss(log_loss=True, eps=1e-7, per_image=True), "index",
         False),
        ("tversky_loss smp preset", TverskyLoss.preset("smp", alpha=0.3, beta=0.7, gamma=2.0),
         "index", False),
        ("generalized_dice_loss", GeneralizedDiceLoss(per_image=True, smooth=1e-5), "index",
         False),
    ]
    return ce


def _data(kind, shape, dtype, seed, log_probs):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    if kind == "probs-input":
        return (1 / (1 + np.exp(-x.astype(np.float64)))).astype(dtype), \
            rng.random(shape).astype(dtype)
    if kind == "dense":
        return x, (rng.random(shape) < 0.4).astype(dtype)
    if log_probs:
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
        x, t = _data(kind, SHAPES[rank], dtype, k, isinstance(loss, NLLLoss))
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
