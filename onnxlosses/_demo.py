"""The demo behind `python -m onnxlosses demo`: one segmentation batch through every loss,
value and gradient on the kernels, then each loss exported to ONNX and parity-checked on
every path (kernel, onnxruntime providers, onnx.reference, PyTorch when installed)."""
import time

import numpy as np

from . import show_config
from .cross_entropy import CrossEntropyLoss, NLLLoss


def _batch(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 21, 128, 128), dtype=np.float32) * 2
    t = rng.integers(0, 21, (4, 128, 128)).astype(np.uint8)
    t[rng.random(t.shape) < 0.05] = 255
    return x, t


def _torch_value_and_grad(name, x, t, config):
    import torch
    import torch.nn.functional as F
    xt = torch.from_numpy(x.astype(np.float64)).requires_grad_(True)
    tt = torch.from_numpy(t.astype(np.int64))
    w = None if config["weight"] is None else torch.tensor(config["weight"])
    if name == "NLLLoss":
        v = F.nll_loss(xt, tt, weight=w, ignore_index=config["ignore_index"])
    else:
        v = F.cross_entropy(xt, tt, weight=w, ignore_index=config["ignore_index"],
                            label_smoothing=config["label_smoothing"])
    v.backward()
    return v.item(), xt.grad.numpy()


def demo():
    show_config()
    x, t = _batch()
    weight = np.linspace(0.5, 2.0, 21)
    logp = x - np.log(np.exp(x).sum(axis=1, keepdims=True))
    cases = [
        ("CrossEntropyLoss", CrossEntropyLoss(ignore_index=255), x),
        ("CrossEntropyLoss", CrossEntropyLoss(weight=weight, ignore_index=255,
                                              label_smoothing=0.1), x),
        ("NLLLoss", NLLLoss(ignore_index=255), logp.astype(np.float32)),
    ]
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
        print("\nPyTorch is not installed: reference column reported as missing")
    print(f"\nbatch: logits {x.shape} float32, uint8 targets, 5% = 255 ignored\n")
    print(f"{'loss':<70} {'value':>10} {'ms':>7} {'|dv| torch':>11} {'|dg| torch':>11}")
    worst = 0.0
    for name, loss, inp in cases:
        start = time.perf_counter()
        value, grad = loss.value_and_grad(inp, t)
        ms = 1e3 * (time.perf_counter() - start)
        if have_torch:
            ref_v, ref_g = _torch_value_and_grad(name, inp, t, loss.config)
            dv, dg = abs(float(value) - ref_v), float(np.abs(grad - ref_g).max())
            worst = max(worst, dv / max(1.0, abs(ref_v)), dg)
            cmp = f"{dv:11.2e} {dg:11.2e}"
        else:
            cmp = f"{'missing':>11} {'missing':>11}"
        print(f"{repr(loss)[:70]:<70} {float(value):10.6f} {ms:7.1f} {cmp}")
    failed = have_torch and worst > 1e-5
    if failed:
        print(f"\nMISMATCH against PyTorch: {worst:.2e}")

    from . import parity
    print("\nExported to ONNX (opset 18, composed, with gradient) and parity-checked on a "
          "(2, 21, 32, 32) crop:")
    crop = (slice(0, 2), slice(None), slice(0, 32), slice(0, 32))
    for name, loss, inp in cases:
        model = loss.to_onnx(target_dtype="uint8", grad=True)
        report = parity.check(loss, inp[crop], t[crop[0], crop[2], crop[3]])
        print(f"\n{repr(loss)[:90]}: {len(model.graph.node)} ONNX nodes, "
              f"{'OK' if report.ok else 'MISMATCH'}")
        for r in report.results:
            print(f"  {r.path:<36} {r.status:<12} max rel. diff {r.max_rel:9.2e}  {r.note}")
        failed = failed or not report.ok
    return 1 if failed else 0
