"""Softmax focal, sigmoid focal and BCE-with-logits: onnxlosses against the same losses
composed from PyTorch ops (torchvision's formula for sigmoid focal), PyTorch's native
BCE-with-logits, MONAI's FocalLoss when it is installed, and onnxruntime running the
exported graphs; forward and forward+gradient, at each thread count, in one run.

    python benchmarks/bench_focal_bce.py [--threads 1 2] [--repeats 5] [--json FILE]

Every contender's value is checked against onnxlosses' before it is timed.  Ratios are
the contender's time over onnxlosses'.
"""
import argparse

import numpy as np
from _common import best_ms, exported_session, peak_extra_bytes, write_json

import onnxlosses
from onnxlosses import BCEWithLogitsLoss, FocalLoss, SigmoidFocalLoss


def seg_batch(seed=0):
    """S1: (8, 21, 512, 512) float32 logits, uint8 targets, 5% = 255 ignored."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((8, 21, 512, 512), dtype=np.float32)
    t = rng.integers(0, 21, (8, 512, 512)).astype(np.uint8)
    t[rng.random(t.shape) < 0.05] = 255
    return x, t


def binary_batch(seed=1):
    """(16, 1, 512, 512) float32 logits and 0/1 float targets."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((16, 1, 512, 512), dtype=np.float32) * 2
    return x, (rng.random(x.shape) < 0.3).astype(np.float32)


def torch_softmax_focal(torch, x, t, gamma):
    F = torch.nn.functional
    lp = F.log_softmax(x, dim=1)
    keep = t != 255
    tc = torch.where(keep, t, torch.zeros_like(t))
    lpt = lp.gather(1, tc.unsqueeze(1)).squeeze(1)
    per = torch.where(keep, -(1 - lpt.exp()) ** gamma * lpt, torch.zeros_like(lpt))
    return per.sum() / keep.sum()


def torchvision_sigmoid_focal(torch, x, y, alpha=0.25, gamma=2.0):
    F = torch.nn.functional
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * ((1 - p_t) ** gamma)
    return ((alpha * y + (1 - alpha) * (1 - y)) * loss).mean()


def time_pair(row, name, fwd, fwd_bwd, repeats):
    row[f"{name}_fwd"] = best_ms(fwd, repeats)
    row[f"{name}_fwd_grad"] = best_ms(fwd_bwd, repeats)


def run(args):
    import torch
    try:
        from monai.losses import FocalLoss as MonaiFocal
    except ImportError:
        MonaiFocal = None
    rows = []
    xs, ts = seg_batch()
    xb, yb = binary_batch()
    ts64 = torch.from_numpy(ts.astype(np.int64))
    outs, outb = np.empty_like(xs), np.empty_like(xb)
    for threads in args.threads:
        onnxlosses.set_num_threads(threads)
        torch.set_num_threads(threads)

        # softmax focal on S1
        loss = FocalLoss(gamma=2.0, ignore_index=255)
        ours = float(loss(xs, ts))
        row = dict(loss="softmax focal S1", threads=threads)
        time_pair(row, "onnxlosses", lambda: loss(xs, ts),
                  lambda: loss.value_and_grad(xs, ts, out=outs), args.repeats)
        row["onnxlosses_fwd_peak_MB"] = peak_extra_bytes(lambda: loss(xs, ts)) / 2**20
        xt = torch.from_numpy(xs)
        assert np.isclose(torch_softmax_focal(torch, xt, ts64, 2.0).item(), ours, rtol=1e-4)

        def torch_bwd():
            xg = xt.detach().requires_grad_(True)
            torch_softmax_focal(torch, xg, ts64, 2.0).backward()
        time_pair(row, "torch_composed", lambda: torch_softmax_focal(torch, xt, ts64, 2.0),
                  torch_bwd, args.repeats)
        if MonaiFocal is not None:
            # MONAI has no ignore_index and averages over N*C*H*W: compare on targets with
            # the ignored pixels set to class 0, as sum / numel.
            t0 = np.where(ts == 255, 0, ts)
            mon = MonaiFocal(use_softmax=True, to_onehot_y=True, gamma=2.0)
            t0t = torch.from_numpy(t0.astype(np.int64))[:, None]
            ref = float(FocalLoss(gamma=2.0, reduction="sum")(xs, t0)) / xs.size
            assert np.isclose(mon(xt, t0t).item(), ref, rtol=1e-4), "MONAI disagrees"

            def monai_bwd():
                xg = xt.detach().requires_grad_(True)
                mon(xg, t0t).backward()
            time_pair(row, "monai", lambda: mon(xt, t0t), monai_bwd, args.repeats)
        sess = exported_session(loss, 4, "uint8", threads)
        assert np.isclose(sess.run(None, {"input": xs, "target": ts})[0], ours, rtol=1e-4)
        row["onnxruntime_exported_fwd"] = best_ms(
            lambda: sess.run(None, {"input": xs, "target": ts}), args.repeats)
        rows.append(row)
        print_row(row)

        # sigmoid focal and BCE-with-logits on (16, 1, 512, 512)
        xbt, ybt = torch.from_numpy(xb), torch.from_numpy(yb)
        for name, ours_loss, ref_fn in [
            ("sigmoid focal (16,1,512,512)", SigmoidFocalLoss(reduction="mean"),
             lambda x: torchvision_sigmoid_focal(torch, x, ybt)),
            ("BCE with logits (16,1,512,512)", BCEWithLogitsLoss(),
             lambda x: torch.nn.functional.binary_cross_entropy_with_logits(x, ybt)),
        ]:
            row = dict(loss=name, threads=threads)
            assert np.isclose(ref_fn(xbt).item(), float(ours_loss(xb, yb)), rtol=1e-4)
            time_pair(row, "onnxlosses", lambda: ours_loss(xb, yb),
                      lambda: ours_loss.value_and_grad(xb, yb, out=outb), args.repeats)

            def bwd(fn=ref_fn):
                xg = xbt.detach().requires_grad_(True)
                fn(xg).backward()
            time_pair(row, "torch", lambda: ref_fn(xbt), bwd, args.repeats)
            sess = exported_session(ours_loss, 4, "float32", threads)
            row["onnxruntime_exported_fwd"] = best_ms(
                lambda: sess.run(None, {"input": xb, "target": yb}), args.repeats)
            rows.append(row)
            print_row(row)
    return rows


def print_row(row):
    ours, ours_g = row["onnxlosses_fwd"], row["onnxlosses_fwd_grad"]
    parts = [f"{row['loss']} threads={row['threads']}: onnxlosses fwd {ours:.1f} ms, "
             f"fwd+grad {ours_g:.1f} ms"]
    for name in ("torch_composed", "torch", "monai"):
        if f"{name}_fwd" in row:
            parts.append(f"| {name} fwd {row[name + '_fwd']:.1f} ms "
                         f"({row[name + '_fwd'] / ours:.1f}x), fwd+bwd "
                         f"{row[name + '_fwd_grad']:.1f} ms "
                         f"({row[name + '_fwd_grad'] / ours_g:.1f}x)")
    parts.append(f"| onnxruntime exported graph {row['onnxruntime_exported_fwd']:.1f} ms "
                 f"({row['onnxruntime_exported_fwd'] / ours:.1f}x)")
    print(" ".join(parts), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", help="also write the rows and the settings here")
    args = parser.parse_args(argv)
    rows = run(args)
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
