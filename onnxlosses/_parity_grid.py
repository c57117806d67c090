"""`python -m onnxlosses parity`: the parity harness over every loss, its main
configurations, dtypes, ranks and opsets; a table, optional JSON, non-zero exit on mismatch.

Each run's data is drawn from a seed that is a hash of what the run checks (the loss and
its configuration, the target kind, the shape, the dtype, the mask), never of its place in
the grid, so a subset of the grid (--losses, --dtypes, ...) draws the same batches as the
whole grid."""
import hashlib
import json
import sys

import numpy as np

from . import parity
from ._registry import LOSSES

SHAPES = {2: (16, 7), 3: (3, 7, 10), 4: (2, 7, 6, 5), 5: (2, 7, 3, 4, 5)}


def configurations(C=7, losses=None):
    """(name, loss, target kind, uses mask) for each configuration the grid covers: every
    registered loss's examples (or those of the losses named in `losses`), for inputs with
    C classes."""
    return [(f"{cls.spec.name} {ex.label}".strip(), ex.build(cls, C), ex.targets, ex.mask)
            for cls in LOSSES if losses is None or cls.spec.name in losses
            for ex in cls.spec.examples]


def _expressible(loss, x, t, mask, opset, impl):
    """Whether graph form `impl` can express this loss on this batch (the native operators
    have no label smoothing, probability targets or combined losses, say)."""
    try:
        parity.export_for(loss, x, t, mask=mask, opset=opset, impl=impl)
    except ValueError:
        return False
    return True


def configured(config, C=7):
    """The one configuration of a --config object such as {"loss": "dice_loss", "mode":
    "multiclass", "ignore_index": 255}: (name, loss, target kind, False).  A parameter's
    value may itself be a configured loss, {"loss": ...}, so a combined loss is
    {"loss": "combined_loss", "terms": [[1.0, {"loss": "cross_entropy"}], [0.5, {"loss":
    "dice_loss"}]]}.  Class-index targets get void pixels where the configuration ignores
    255 or -1."""
    loss, params = _loss_of(config)
    kind = loss.spec.target_kinds(loss._config)[0]
    if kind == "index":
        kind = {255: "index255", -1: "index-1"}.get(loss._config.get("ignore_index"), kind)
    label = " ".join(f"{k}={v}" for k, v in params.items())
    return (f"{loss.spec.name} {label}".strip(), loss, kind, False)


def _loss_of(config):
    """(the loss a --config object describes, its parameters as given)."""
    from ._registry import BY_NAME
    if not isinstance(config, dict):
        raise ValueError(f"--config must be a JSON object such as "
                         f'{{"loss": "dice_loss", "ignore_index": 255}}, got {config!r}')
    params = dict(config)
    name = params.pop("loss", None)
    if name not in BY_NAME:
        raise ValueError(f"--config's \"loss\" must be one of {', '.join(sorted(BY_NAME))}, "
                         f"got {name!r}")
    values = {k: _losses_in(v) for k, v in params.items()}
    BY_NAME[name].spec.bind(values)         # names an unknown parameter and the valid ones
    return BY_NAME[name](**values), params


def _losses_in(value):
    """value with every {"loss": ...} object in it (in lists too) made a loss."""
    if isinstance(value, dict) and "loss" in value:
        return _loss_of(value)[0]
    if isinstance(value, list):
        return [_losses_in(v) for v in value]
    return value


def seed(loss, kind, shape, dtype, mask):
    """A seed that depends on what a run checks, not on where it is in the grid."""
    config = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
              for k, v in sorted(loss._config.items())}
    text = json.dumps([loss.spec.name, config, kind, list(shape), dtype, bool(mask)],
                      sort_keys=True, default=repr)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


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
        providers=None, json_path=None, out=sys.stdout, progress=sys.stderr, json_file=None,
        losses=None, config=None, batch=None, require=(), impls=("composed",)):
    """Run the grid; every report is written as JSON to `json_file` (an open text file) or
    `json_path` when given.  Returns the exit status: 1 when a run had a mismatch or a
    provider in `require` was unavailable.

    losses: names of the losses to check (default: every registered loss's examples);
    config: one configured loss instead, a dict {"loss": name, parameter: value, ...};
    batch: (input, target, mask or None) arrays to check instead of generated data (with
    `config`, or each of `losses` in its default configuration);
    impls: the graph forms to check, "composed" and / or "native" (the ONNX loss operators,
    run for the configurations they can express)."""
    from .onnx import DEFAULT_OPSET, newest_onnxruntime_opset
    opsets = opsets or sorted({13, DEFAULT_OPSET, newest_onnxruntime_opset()})
    providers = parity._providers(providers)
    providers += [p for p in parity._providers(list(require)) if p not in providers] \
        if require else []
    if batch is not None:
        from ._registry import BY_NAME
        if config is not None:
            configs = [configured(config)]
        elif losses:
            configs = [(name, BY_NAME[name](), None, False) for name in losses]
        else:
            raise ValueError("--input needs --config or --losses: which loss to check")
        jobs = [(c, None, None, o, i) for c in configs for i in impls for o in opsets]
    else:
        configs = [configured(config)] if config is not None else configurations(losses=losses)
        jobs = [(c, d, r, o, i) for c in configs for i in impls for d in dtypes
                for r in ranks for o in opsets]
    reports = []
    for k, ((name, loss, kind, use_mask), dtype, rank, opset, impl) in enumerate(jobs):
        if batch is not None:
            x, t, mask = batch
        else:
            shape = SHAPES[rank]
            rng_seed = seed(loss, kind, shape, dtype, use_mask)
            x, t = _data(kind, shape, dtype, rng_seed, loss.spec.input)
            mask = None
            if use_mask:
                mask = np.random.default_rng([rng_seed, 1]).random(
                    (x.shape[0],) + x.shape[2:]) < 0.8
        if impl == "composed" or _expressible(loss, x, t, mask, opset, impl):
            reports.append(parity.check(loss, x, t, providers, mask=mask, opset=opset,
                                        impl=impl))
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
        passes = [r for rep in reports for r in rep.results
                  if r.path == path and r.status == "pass"]
        on_rel = [r for r in passes if r.passed_on == "relative"]
        on_abs = [r for r in passes if r.passed_on == "absolute"]
        detail = []
        if on_rel:
            worst = max((r.max_rel for r in on_rel if r.max_rel == r.max_rel), default=0.0)
            detail.append(f"{len(on_rel)} on relative tolerance, worst rel. diff {worst:.1e}")
        if on_abs:
            worst = max((r.max_abs for r in on_abs if r.max_abs == r.max_abs), default=0.0)
            detail.append(f"{len(on_abs)} on absolute tolerance, worst abs. diff {worst:.1e}")
        print(f"  {path:<38} " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
              + (f"   (passed: {'; '.join(detail)})" if detail else ""), file=out)
    overflow = [rep for rep in reports if rep.notes]
    if overflow:
        print(f"{len(overflow)} runs have an oracle beyond the dtype's range somewhere: "
              "compared as the dtype represents it (+-inf) on every path (--json: notes)",
              file=out)
    bad = [rep for rep in reports if not rep.ok]
    for rep in bad:
        print("\n" + rep.table(), file=out)
    missing = []
    for provider in require:
        gone = [r for rep in reports for r in rep.results
                if r.path == f"onnxruntime:{provider}" and r.status == "unavailable"]
        if gone:
            missing.append(f"{provider} is required (--require) but was unavailable in "
                           f"{len(gone)} runs: {gone[0].note}")
    if json_file is not None:
        json.dump([rep.as_dict() for rep in reports], json_file, indent=1)
    elif json_path:
        with open(json_path, "w") as fh:
            json.dump([rep.as_dict() for rep in reports], fh, indent=1)
    print(f"\n{len(bad)} of {len(reports)} runs had a mismatch", file=out)
    for line in missing:
        print(line, file=out)
    return 1 if bad or missing else 0
