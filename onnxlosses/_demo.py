"""The demo behind `python -m onnxlosses demo`: one segmentation batch through every loss
(value and gradient on the kernels, timed), then each loss exported to ONNX and
parity-checked on every path against the float64 reference: kernel, onnxruntime providers,
onnx.reference, and PyTorch (its own loss, or the loss composed from its ops; reported as
unavailable where PyTorch is not installed)."""
import time

import numpy as np

from . import parity, show_config
from .bce import BCELoss, BCEWithLogitsLoss
from .cross_entropy import CrossEntropyLoss, NLLLoss
from .dice import DiceLoss, GeneralizedDiceLoss
from .focal import FocalLoss, SigmoidFocalLoss


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 21, 128, 128), dtype=np.float32) * 2
    t = rng.integers(0, 21, (4, 128, 128)).astype(np.uint8)
    t[rng.random(t.shape) < 0.05] = 255
    return x, t


def cases(x, t):
    """(loss, input, target) for every loss family on the batch."""
    weight = np.linspace(0.5, 2.0, 21)
    logp = (x - np.log(np.exp(x.astype(np.float64)).sum(axis=1, keepdims=True)))
    onehot = (t[:, None] == np.arange(21)[None, :, None, None]).astype(np.float32)
    return [
        (CrossEntropyLoss(ignore_index=255), x, t),
        (CrossEntropyLoss(weight=weight, ignore_index=255, label_smoothing=0.1), x, t),
        (NLLLoss(ignore_index=255), logp.astype(np.float32), t),
        (FocalLoss(alpha=weight, gamma=2.0, ignore_index=255), x, t),
        (BCEWithLogitsLoss(pos_weight=np.full((21, 1, 1), 3.0)), x, onehot),
        (BCELoss(), 1 / (1 + np.exp(-x)), onehot),
        (SigmoidFocalLoss(reduction="mean", ignore_index=255), x, t),
        (DiceLoss(ignore_index=255), x, t),
        (DiceLoss.preset("smp", ignore_index=255), x, t),
        (GeneralizedDiceLoss(per_image=True, ignore_index=255, smooth=1e-5), x, t),
    ]


def _parameters(text):
    """The pieces of a repr split at its top-level ", " (not inside brackets or quotes)."""
    pieces, depth, start, quote = [], 0, 0, None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 1 and text.startswith(", ", i):
            pieces.append(text[start:i])
            start = i + 2
    return pieces + [text[start:]]


def wrap_repr(text, width):
    """A repr cut into lines of at most `width` characters between its parameters (never
    inside one), continuation lines indented; a parameter longer than a line keeps a line
    of its own."""
    lines, line = [], ""
    for i, part in enumerate(_parameters(text)):
        piece = part if i == 0 else ", " + part
        if line and len(line) + len(piece) > width:
            lines.append(line + ",")
            line = "    " + part
        else:
            line += piece
    return lines + [line]


def best_ms(fn, calls=3):
    """The best of `calls` warm calls, in milliseconds (after one call to warm up)."""
    fn()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def demo():
    show_config()
    x, t = _batch()
    print(f"\nbatch: logits {x.shape} float32, uint8 targets, 5% = 255 ignored\n")
    print(f"{'loss':<72} {'value':>10} {'ms (value+grad)':>16}")
    all_cases = cases(x, t)
    for loss, inp, target in all_cases:
        value, _ = loss.value_and_grad(inp, target)
        ms = best_ms(lambda: loss.value_and_grad(inp, target))
        *head, last = wrap_repr(repr(loss), 72)
        for line in head:
            print(line)
        print(f"{last:<72} {float(value):10.6f} {ms:16.1f}")

    print("\nExported to ONNX (opset 18, composed, with gradient) and parity-checked on a "
          "(2, 21, 32, 32) crop:")
    failed = False
    missing = None      # paths unavailable for every loss: missing on this machine
    said = set()        # (path, reason) of an unavailable path already printed
    for loss, inp, target in all_cases:
        crop_x = inp[:2, :, :32, :32]
        crop_t = target[:2, :32, :32] if target.ndim == 3 else target[:2, :, :32, :32]
        model = loss.to_onnx(target_dtype=crop_t.dtype.name, grad=True)
        report = parity.check(loss, crop_x, crop_t)
        print()
        *head, last = wrap_repr(repr(loss), 90)
        for line in head:
            print(line)
        print(f"{last}: {len(model.graph.node)} ONNX nodes, {'OK' if report.ok else 'MISMATCH'}")
        for r in report.results:
            note = r.note
            if r.status == "unavailable":
                note = "(as above)" if (r.path, r.note) in said else r.note
                said.add((r.path, r.note))
            print(f"  {r.path:<36} {r.status:<12} max rel. diff {r.max_rel:9.2e}  {note}")
        failed = failed or not report.ok
        gone = {r.path for r in report.results if r.status == "unavailable"}
        missing = gone if missing is None else missing & gone
    if failed:
        print("\nMISMATCH: see above")
    else:
        print("\nevery path that ran agrees" + (
            f"; not run here (unavailable, not passes): {', '.join(sorted(missing))}"
            if missing else ""))
    return 1 if failed else 0
