"""Cross-entropy forward and value+gradient: onnxlosses against PyTorch CPU, onnxruntime
and NumPy, in one process and one run, at each thread count.

    python benchmarks/bench_cross_entropy.py [--threads 1 2] [--repeats 7] [--shapes S1 K1]
                                             [--json FILE]

Data come from a fixed seed; each contender is checked against the float64 reference value
before it is timed; the minimum over repeats is reported (the machines are shared and
noisy: the minimum is the least disturbed run).  Ratios are PyTorch's time over ours.
"""
import argparse

import numpy as np
from _common import best_ms, exported_session, peak_extra_bytes, write_json

import onnxlosses
from onnxlosses import CrossEntropyLoss

SHAPES = {
    # segmentation batch: 8 x 21 classes x 512 x 512, uint8 targets, 5% = 255 ignored
    "S1": dict(shape=(8, 21, 512, 512), target_dtype=np.uint8, ignore_index=255),
    # classification with many classes
    "K1": dict(shape=(65536, 1000), target_dtype=np.int64, ignore_index=-100),
}


def make_data(spec, seed=0):
    rng = np.random.default_rng(seed)
    shape = spec["shape"]
    x = rng.standard_normal(shape, dtype=np.float32)
    pos = (shape[0],) + shape[2:]
    t = rng.integers(0, shape[1], pos).astype(spec["target_dtype"])
    if spec["ignore_index"] >= 0:
        t[rng.random(pos) < 0.05] = spec["ignore_index"]
    return x, t


def numpy_reference(x, t, ignore_index):
    """Plain vectorised NumPy, float32 math with float64 sums (one thread)."""
    m = x.max(axis=1, keepdims=True)
    lse = np.log(np.exp(x - m).sum(axis=1)) + m[:, 0]
    valid = t != ignore_index
    tc = np.where(valid, t, 0).astype(np.int64)
    xt = np.take_along_axis(x, tc[:, None], axis=1)[:, 0]
    return np.float64(np.where(valid, lse - xt, 0).sum(dtype=np.float64) / valid.sum())


def onnxruntime_session(shape, ignore_index, threads):
    """onnxruntime running the ONNX SoftmaxCrossEntropyLoss operator (inlined by ORT)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper
    rank = len(shape)
    dims = ["N", "C"] + [f"d{i}" for i in range(rank - 2)]
    node = helper.make_node("SoftmaxCrossEntropyLoss", ["x", "t"], ["loss"],
                            ignore_index=ignore_index, reduction="mean")
    graph = helper.make_graph(
        [node], "sce",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, dims),
         helper.make_tensor_value_info("t", TensorProto.INT64, [dims[0]] + dims[2:])],
        [helper.make_tensor_value_info("loss", TensorProto.FLOAT, [])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def run(args):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        torch = None
    rows = []
    for name in args.shapes:
        spec = SHAPES[name]
        x, t = make_data(spec)
        ii = spec["ignore_index"]
        ref = numpy_reference(x.astype(np.float64), t, ii)
        out = np.empty_like(x)
        t64 = t.astype(np.int64)
        loss = CrossEntropyLoss(ignore_index=ii)
        for threads in args.threads:
            onnxlosses.set_num_threads(threads)
            row = dict(shape=name, threads=threads)
            assert np.isclose(loss(x, t), ref, rtol=1e-5), "onnxlosses disagrees"
            row["onnxlosses_fwd"] = best_ms(lambda: loss(x, t), args.repeats)
            row["onnxlosses_fwd_grad_out"] = best_ms(
                lambda: loss.value_and_grad(x, t, out=out), args.repeats)
            row["onnxlosses_fwd_grad"] = best_ms(lambda: loss.value_and_grad(x, t), args.repeats)
            row["onnxlosses_fwd_peak_MB"] = peak_extra_bytes(lambda: loss(x, t)) / 2**20
            row["onnxlosses_grad_out_peak_MB"] = peak_extra_bytes(
                lambda: loss.value_and_grad(x, t, out=out)) / 2**20
            if torch is not None:
                torch.set_num_threads(threads)
                xt, tt = torch.from_numpy(x), torch.from_numpy(t64)
                assert np.isclose(F.cross_entropy(xt, tt, ignore_index=ii).item(), ref, rtol=1e-4)
                row["torch_fwd"] = best_ms(lambda: F.cross_entropy(xt, tt, ignore_index=ii),
                                           args.repeats)

                def torch_fwd_bwd():
                    xg = xt.detach().requires_grad_(True)
                    F.cross_entropy(xg, tt, ignore_index=ii).backward()
                row["torch_fwd_bwd"] = best_ms(torch_fwd_bwd, args.repeats)
            sess = onnxruntime_session(x.shape, ii, threads)
            feed = {"x": x, "t": t64}
            assert np.isclose(sess.run(None, feed)[0], ref, rtol=1e-4)
            row["onnxruntime_fwd"] = best_ms(lambda: sess.run(None, feed), args.repeats)
            exported = exported_session(loss, x.ndim, t.dtype.name, threads)
            efeed = {"input": x, "target": t}
            assert np.isclose(exported.run(None, efeed)[0], ref, rtol=1e-4)
            row["onnxruntime_exported_fwd"] = best_ms(lambda: exported.run(None, efeed),
                                                      args.repeats)
            if threads == 1:
                row["numpy_fwd"] = best_ms(lambda: numpy_reference(x, t, ii),
                                           max(1, args.repeats // 3))
            rows.append(row)
            print_row(row)
    return rows


def print_row(row):
    ours, ours_g = row["onnxlosses_fwd"], row["onnxlosses_fwd_grad_out"]
    parts = [f"{row['shape']} threads={row['threads']}:",
             f"onnxlosses fwd {ours:.1f} ms, fwd+grad {ours_g:.1f} ms "
             f"({row['onnxlosses_fwd_grad']:.1f} without out=)"]
    if "torch_fwd" in row:
        parts.append(f"| torch fwd {row['torch_fwd']:.1f} ms ({row['torch_fwd'] / ours:.1f}x), "
                     f"fwd+bwd {row['torch_fwd_bwd']:.1f} ms "
                     f"({row['torch_fwd_bwd'] / ours_g:.1f}x)")
    parts.append(f"| onnxruntime SCE {row['onnxruntime_fwd']:.1f} ms "
                 f"({row['onnxruntime_fwd'] / ours:.1f}x), exported graph "
                 f"{row['onnxruntime_exported_fwd']:.1f} ms "
                 f"({row['onnxruntime_exported_fwd'] / ours:.1f}x)")
    if "numpy_fwd" in row:
        parts.append(f"| numpy {row['numpy_fwd']:.1f} ms ({row['numpy_fwd'] / ours:.1f}x)")
    parts.append(f"| peak extra: fwd {row['onnxlosses_fwd_peak_MB']:.2f} MB, "
                 f"grad into out= {row['onnxlosses_grad_out_peak_MB']:.2f} MB")
    print(" ".join(parts), flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--shapes", nargs="+", choices=sorted(SHAPES), default=sorted(SHAPES,
                        reverse=True))
    parser.add_argument("--json", help="also write the rows and the settings here")
    args = parser.parse_args(argv)
    rows = run(args)
    if args.json:
        write_json(args.json, rows)


if __name__ == "__main__":
    main()
