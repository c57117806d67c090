"""Multiclass soft Dice on S1 (8, 21, 512, 512), uint8 targets: onnxlosses against the
same loss composed from PyTorch ops (softmax, one-hot, sums), MONAI's DiceLoss and
segmentation_models_pytorch's DiceLoss when they are installed; forward and
forward+gradient, at each thread count, in one run.

    python benchmarks/bench_dice.py [--threads 1 2] [--repeats 3] [--json FILE]

The composed PyTorch loss and MONAI's use onnxlosses' formula (MONAI preset: smooth 1e-5,
per image); every contender's value is checked before it is timed.
"""
import argparse

import numpy as np
from _common import best_ms, peak_extra_bytes, write_json

import onnxlosses
from onnxlosses import DiceLoss


def run(args):
    import torch
    F = torch.nn.functional
    try:
        from monai.losses import DiceLoss as MonaiDice
    except ImportError:
        MonaiDice = None
    try:
        from segmentation_models_pytorch.losses import DiceLoss as SmpDice
    except ImportError:
        SmpDice = None
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 21, 512, 512), dtype=np.float32)
    t = rng.integers(0, 21, (8, 512, 512)).astype(np.uint8)
    xt, tt = torch.from_numpy(x), torch.from_numpy(t.astype(np.int64))
    out = np.empty_like(x)
    loss = DiceLoss.preset("monai", softmax=True)

    def composed(xx):
        p = torch.softmax(xx, 1)
        oh = F.one_hot(tt, 21).permute(0, 3, 1, 2).to(p.dtype)
        inter = (p * oh).sum((2, 3))
        den = p.sum((2, 3)) + oh.sum((2, 3))
        return (1 - (2 * inter + 1e-5) / (den + 1e-5)).mean()

    rows = []
    for threads in args.threads:
        onnxlosses.set_num_threads(threads)
        torch.set_num_threads(threads)
        ours = float(loss(x, t))
        row = dict(loss="multiclass Dice S1", threads=threads)
        row["onnxlosses_fwd"] = best_ms(lambda: loss(x, t), args.repeats)
        row["onnxlosses_fwd_grad"] = best_ms(lambda: loss.value_and_grad(x, t, out=out),
                                             args.repeats)
        row["onnxlosses_fwd_peak_MB"] = peak_extra_bytes(lambda: loss(x, t)) / 2**20
        contenders = {"torch_composed": composed}
        assert np.isclose(composed(xt).item(), ours, rtol=1e-4)
        if MonaiDice is not None:
            mon = MonaiDice(softmax=True, to_onehot_y=True)
            assert np.isclose(mon(xt, tt[:, None]).item(), ours, rtol=1e-4)
            contenders["monai"] = lambda xx: mon(xx, tt[:, None])
        if SmpDice is not None:
            smp = SmpDice("multiclass")
            assert np.isclose(smp(xt, tt).item(), float(DiceLoss.preset("smp")(x, t)),
                              rtol=1e-4)
            contenders["smp"] = lambda xx: smp(xx, tt)
        for name, fn in contenders.items():
            row[f"{name}_fwd"] = best_ms(lambda: fn(xt), args.repeats)

            def bwd(fn=fn):
                xg = xt.detach().requires_grad_(True)
                fn(xg).backward()
            row[f"{name}_fwd_grad"] = best_ms(bwd, args.repeats)
        rows.append(row)
        parts = [f"{row['loss']} threads={threads}: onnxlosses fwd {row['onnxlosses_fwd']:.1f} "
                 f"ms, fwd+grad {row['onnxlosses_fwd_grad']:.1f} ms, forward peak extra "
                 f"{row['onnxlosses_fwd_peak_MB']:.2f} MB"]
        for name in contenders:
            parts.append(f"| {name} fwd {row[name + '_fwd']:.1f} ms "
                         f"({row[name + '_fwd'] / row['onnxlosses_fwd']:.1f}x), fwd+bwd "
                         f"{row[name + '_fwd_grad']:.1f} ms "
                         f"({row[name + '_fwd_grad'] / row['onnxlosses_fwd_grad']:.1f}x)")
        print(" ".join(parts), flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", help="also write the rows and the settings here")
    args = parser.parse_args(argv)
    rows = run(args)
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
