"""Shared benchmark helpers: timing, peak memory, onnxruntime sessions, result files."""
import json
import platform
import sys
import time
import tracemalloc

import onnxlosses


def best_ms(fn, repeats):
    """Minimum wall time of fn() over `repeats` runs after one warm-up, in milliseconds
    (the machines are shared and noisy: the minimum is the least disturbed run)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def peak_extra_bytes(fn):
    """Peak bytes NumPy allocates during fn (our kernels allocate through NumPy)."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def exported_session(loss, ndim, target_dtype, threads):
    """onnxruntime (CPU) running onnxlosses' own composed graph of `loss`."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    model = loss.to_onnx(ndim=ndim, target_dtype=target_dtype)
    return ort.InferenceSession(model.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])


def write_json(path, rows):
    with open(path, "w") as fh:
        json.dump(dict(settings=onnxlosses.build_info(), python=sys.version,
                       cpu=platform.processor(), rows=rows), fh, indent=2)
