"""onnxlosses.torch inside PyTorch training on CPU, against PyTorch's own losses.

Two tables, every contender in the same process and run, data from fixed seeds:

1. One training step of a small segmentation network (a 3-level conv encoder-decoder,
   8x3x256x256 images, 21 classes, uint8 targets with void 255): zero_grad, forward, loss,
   backward, SGD step.  Loss: PyTorch's cross-entropy + a Dice loss composed from torch ops
   (softmax, one-hot, sums), against onnxlosses.torch CrossEntropyLoss + DiceLoss (the same
   formula).  Eager and torch.compile(fullgraph=True) of forward + loss, at 1 and 2
   threads; the loss alone (forward + backward on the network's output) beside it gives
   the share of the step spent in the loss.
2. The loss alone, forward + backward, on S1 (8x21x512x512 float32, uint8 targets):
   cross-entropy and Dice, PyTorch eager and compiled against onnxlosses.torch.

    python benchmarks/torch_bridge.py [--threads 1 2] [--json out.json] [--quick]

--quick runs tiny shapes (a smoke test of the script, not a measurement).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import best_ms, settings  # noqa: E402

import onnxlosses  # noqa: E402
import onnxlosses.torch as olt  # noqa: E402

VOID = 255


def composed_dice(x, t, smooth=1.0):
    """Multiclass soft Dice from torch ops: pooled over the batch, void pixels left out,
    mean over classes of 1 - (2I + s) / (P + T + s) (onnxlosses' DiceLoss defaults)."""
    C = x.shape[1]
    keep = (t != VOID).unsqueeze(1).to(x.dtype)
    p = torch.softmax(x, 1) * keep
    y = F.one_hot(torch.where(t == VOID, 0, t.long()), C).movedim(-1, 1).to(x.dtype) * keep
    dims = (0,) + tuple(range(2, x.ndim))
    inter, psum, tsum = (p * y).sum(dims), p.sum(dims), y.sum(dims)
    return (1 - (2 * inter + smooth) / (psum + tsum + smooth)).mean()


def pytorch_loss(x, t):
    return F.cross_entropy(x, t.long(), ignore_index=VOID) + composed_dice(x, t)


_CE, _DICE = olt.CrossEntropyLoss(ignore_index=VOID), olt.DiceLoss(ignore_index=VOID)


def onnxlosses_loss(x, t):
    return _CE(x, t) + _DICE(x, t)


class EncoderDecoder(torch.nn.Module):
    """Three levels down (conv, stride-2 conv), three up (transposed conv), 21 logits."""

    def __init__(self, classes=21, width=16):
        super().__init__()
        c = [3, width, 2 * width, 4 * width]
        block = lambda a, b, s: torch.nn.Sequential(torch.nn.Conv2d(a, b, 3, s, 1),
                                                    torch.nn.ReLU())
        self.down = torch.nn.ModuleList(block(c[i], c[i + 1], 2) for i in range(3))
        self.up = torch.nn.ModuleList(
            torch.nn.Sequential(torch.nn.ConvTranspose2d(c[i + 1], c[max(i, 1)], 2, 2),
                                torch.nn.ReLU()) for i in reversed(range(3)))
        self.head = torch.nn.Conv2d(c[1], classes, 1)

    def forward(self, x):
        for d in self.down:
            x = d(x)
        for u in self.up:
            x = u(x)
        return self.head(x)


def step_fn(net, loss_fn, compiled):
    forward = (lambda x, t: loss_fn(net(x), t))
    if compiled:
        forward = torch.compile(forward, fullgraph=True)
    opt = torch.optim.SGD(net.parameters(), lr=1e-3)

    def step(x, t):
        opt.zero_grad(set_to_none=True)
        loss = forward(x, t)
        loss.backward()
        opt.step()
        return loss
    return step


def loss_alone(loss_fn, compiled):
    fn = torch.compile(loss_fn, fullgraph=True) if compiled else loss_fn

    def run(x, t):
        x = x.detach().requires_grad_(True)
        fn(x, t).backward()
        return x.grad
    return run


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", default=None)
    ap.add_argument("--quick", action="store_true", help="tiny shapes: a smoke test")
    args = ap.parse_args(argv)
    img = (2, 3, 32, 32) if args.quick else (8, 3, 256, 256)
    s1 = (2, 21, 32, 32) if args.quick else (8, 21, 512, 512)
    g = torch.Generator().manual_seed(0)
    images = torch.randn(img, generator=g)
    labels = torch.randint(0, 21, (img[0],) + img[2:], generator=g, dtype=torch.uint8)
    labels[:, :4] = VOID
    x1 = torch.randn(s1, generator=g)
    t1 = torch.randint(0, 21, (s1[0],) + s1[2:], generator=g, dtype=torch.uint8)
    t1[:, :8] = VOID
    contenders = [("pytorch", pytorch_loss), ("onnxlosses", onnxlosses_loss)]
    # the two losses agree before anything is timed
    a, b = pytorch_loss(x1.double(), t1), onnxlosses_loss(x1.double(), t1)
    assert torch.allclose(a, b, rtol=1e-9), (a, b)
    rows = []
    for n in args.threads:
        torch.set_num_threads(n)
        with onnxlosses.threads(n):
            for compiled in (False, True):
                mode = "compiled" if compiled else "eager"
                for name, fn in contenders:
                    torch.manual_seed(0)
                    net = EncoderDecoder()
                    step = step_fn(net, fn, compiled)
                    ms_step = best_ms(lambda: step(images, labels), args.repeats)
                    with torch.no_grad():
                        out = net(images)
                    alone = loss_alone(fn, compiled)
                    ms_loss = best_ms(lambda: alone(out, labels), args.repeats)
                    rows.append(dict(table="step", threads=n, mode=mode, loss=name,
                                     step_ms=ms_step, loss_ms=ms_loss))
                for lname, fns in (("cross_entropy",
                                    [("pytorch", lambda x, t: F.cross_entropy(
                                        x, t.long(), ignore_index=VOID)),
                                     ("onnxlosses", _CE)]),
                                   ("dice", [("pytorch", composed_dice),
                                             ("onnxlosses", _DICE)])):
                    for name, fn in fns:
                        alone = loss_alone(fn, compiled)
                        rows.append(dict(table="S1", threads=n, mode=mode, loss=lname,
                                         contender=name,
                                         ms=best_ms(lambda: alone(x1, t1), args.repeats)))
    print(f"training step, {img[0]}x{img[1]}x{img[2]}x{img[3]} images, 21 classes "
          f"(CE + Dice), ms; loss share = loss fwd+bwd alone / step")
    print(f"{'threads':>7} {'mode':>8} {'loss':>11} {'step':>9} {'loss':>9} {'share':>6} "
          f"{'step vs pytorch':>15}")
    for r in (r for r in rows if r["table"] == "step"):
        base = next(q for q in rows if q["table"] == "step" and q["threads"] == r["threads"]
                    and q["mode"] == r["mode"] and q["loss"] == "pytorch")
        print(f"{r['threads']:>7} {r['mode']:>8} {r['loss']:>11} {r['step_ms']:>9.1f} "
              f"{r['loss_ms']:>9.1f} {r['loss_ms'] / r['step_ms']:>6.0%} "
              f"{base['step_ms'] / r['step_ms']:>14.2f}x")
    print(f"\nloss alone, forward + backward, S1 {'x'.join(map(str, s1))}, ms")
    print(f"{'threads':>7} {'mode':>8} {'loss':>14} {'pytorch':>9} {'onnxlosses':>11} "
          f"{'ratio':>7}")
    s1rows = [r for r in rows if r["table"] == "S1"]
    for r in s1rows:
        if r["contender"] != "pytorch":
            continue
        ours = next(q for q in s1rows if q["contender"] == "onnxlosses" and
                    all(q[k] == r[k] for k in ("threads", "mode", "loss")))
        print(f"{r['threads']:>7} {r['mode']:>8} {r['loss']:>14} {r['ms']:>9.1f} "
              f"{ours['ms']:>11.1f} {r['ms'] / ours['ms']:>6.1f}x")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(dict(settings=settings(), rows=rows), fh, indent=1)


if __name__ == "__main__":
    main()
