"""Timing, memory and agreement helpers of the benchmark suite."""
import json
import os
import platform
import sys
import time
import tracemalloc

import numpy as np

import onnxlosses


WARMUP_S = 0.25


def best_ms(fn, repeats):
    """Minimum wall time of fn() over `repeats` runs after a warm-up, in milliseconds (the
    machines are shared and noisy: the minimum is the least disturbed run).  The warm-up
    calls fn() until WARMUP_S has passed (at least once): right after another contender ran,
    a few-millisecond call measured up to 2x slow for longer than one call (B1's rows).
    A call slower than a second is repeated at most twice: its noise is small next to its
    time."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    while time.perf_counter() - start < WARMUP_S:
        fn()
    if first > 1.0:
        repeats = min(repeats, 2)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def peak_extra_mb(fn):
    """Peak MB allocated through NumPy (and Python) while fn runs: our kernels allocate
    only through NumPy, so this is their whole extra memory."""
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def as_float(value):
    """A loss value from any contender (tensor, 0-d array, list of outputs) as a float."""
    if hasattr(value, "item"):
        return float(value.item())
    return float(np.asarray(value))


def as_array(grad):
    if hasattr(grad, "numpy"):
        grad = grad.numpy()
    return np.asarray(grad)


def agree(value, expected, rtol=1e-4, atol=1e-6):
    return bool(np.isclose(value, expected, rtol=rtol, atol=atol))


def grad_gap(grad, ours):
    """Largest |difference| over the largest |ours|: a scale-free gradient comparison."""
    g = as_array(grad)
    scale = float(np.max(np.abs(ours))) or 1.0
    return float(np.max(np.abs(g.astype(np.float64) - ours))) / scale


def settings():
    """What produced the numbers: build, threads, CPU, library versions."""
    info = dict(onnxlosses.build_info(), python=sys.version.split()[0],
                cpu=_cpu_name(), cores=os.cpu_count(), numpy=np.__version__)
    for mod in ("torch", "onnxruntime", "monai", "segmentation_models_pytorch"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:
            info[mod] = None
    return info


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def write_json(path, rows, rooflines):
    with open(path, "w") as fh:
        json.dump(dict(settings=settings(), rows=rows, rooflines=rooflines), fh, indent=1)
