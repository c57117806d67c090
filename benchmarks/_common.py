"""Timing, memory, agreement and machine-load helpers of the benchmark suite."""
import importlib.metadata
import json
import os
import platform
import sys
import time
import tracemalloc

import numpy as np

import onnxlosses


WARMUP_S = 0.25
SETTLE_BELOW_S = 0.1    # calls shorter than this get one untimed call before each timed one
SLOW_S = 1.0            # calls longer than this are timed in at most SLOW_ROUNDS rounds
SLOW_ROUNDS = 2


def best_ms(fn, repeats):
    """Minimum wall time of fn() over `repeats` runs after a warm-up, in milliseconds (the
    machines are shared and noisy: the minimum is the least disturbed run).  The warm-up
    calls fn() until WARMUP_S has passed (at least once): right after another contender ran,
    a few-millisecond call measured up to 2x slow for longer than one call (B1's rows).
    A call slower than a second is repeated at most twice: its noise is small next to its
    time.  One callable alone; `interleaved` times several against each other."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    while time.perf_counter() - start < WARMUP_S:
        fn()
    if first > SLOW_S:
        repeats = min(repeats, SLOW_ROUNDS)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * min(times)


def interleaved(fns, rounds, calls=1, warmup_s=None, caps=None, ran=None,
                round_budget_s=None, counts=None):
    """Seconds per call of each callable in `fns` (a dict), timed in interleaved rounds.

    Each callable is first warmed up alone: called until `warmup_s` (default WARMUP_S) has
    passed, at least once; a call just made (`ran`, {key: seconds}: the agreement check's)
    counts as the first.  Then, in each of `rounds` rounds, every callable is timed once,
    in turn, each round starting one callable further on: a machine that slows down for a
    while slows every contender of the row alike, instead of all the repeats of one of
    them.  A measurement is `calls` consecutive calls timed together, divided by `calls`
    (small inputs: many calls per measurement; a number, or {key: number}).  A call
    shorter than SETTLE_BELOW_S gets one untimed call just before its measurement (right
    after another contender ran, a few-millisecond call measured up to 2x slow: caches and
    frequency); one longer than SLOW_S is measured in at most SLOW_ROUNDS rounds (its noise
    is small next to its time).  `caps` ({key: rounds}) times some callables in fewer
    rounds (the quick run's contenders).  With `round_budget_s`, a measurement stops after
    the call that takes it past that many seconds (a machine that turned slow mid-run);
    `counts` ({}) receives each callable's number of timed calls.

    Returns {key: [seconds per call in each round it was measured]}.
    """
    warmup_s = WARMUP_S if warmup_s is None else warmup_s
    first = {}
    for key, fn in fns.items():
        start = time.perf_counter()
        if key in (ran or {}):
            first[key] = ran[key]
            start -= ran[key]
        else:
            fn()
            first[key] = time.perf_counter() - start
        while time.perf_counter() - start < warmup_s:
            fn()
    times = {key: [] for key in fns}
    order = list(fns.items())
    for r in range(rounds):
        # each round starts one callable further on: none always runs right after the same
        # neighbour
        k = r % max(len(order), 1)
        for key, fn in order[k:] + order[:k]:
            if (first[key] > SLOW_S and r >= SLOW_ROUNDS) or r >= (caps or {}).get(key, r + 1):
                continue
            if first[key] < SETTLE_BELOW_S:
                fn()
            n = calls[key] if isinstance(calls, dict) else calls
            start = time.perf_counter()
            done = 0
            while done < n:
                fn()
                done += 1
                if round_budget_s is not None and \
                        time.perf_counter() - start > round_budget_s:
                    break
            times[key].append((time.perf_counter() - start) / done)
            if counts is not None:
                counts[key] = counts.get(key, 0) + done
    return times


def summary(seconds, scale=1e3):
    """(minimum, median, spread) of one callable's rounds, the first two times `scale`
    (milliseconds by default).  The spread is (median - minimum) / minimum: how far a
    typical round lies above the least disturbed one (0.05: 5%)."""
    s = np.asarray(seconds, dtype=np.float64)
    lo, med = float(s.min()), float(np.median(s))
    return scale * lo, scale * med, (med - lo) / lo if lo > 0 else 0.0


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
    if hasattr(grad, "detach"):
        grad = grad.detach()
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


def cores():
    """The CPUs this process may run on (its affinity), else the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def machine_load(busy_self=0.0):
    """The 1- and 5-minute load averages and how much of it is not this benchmark.

    `busy_self` is how many cores the benchmark itself kept busy over the last minute
    (0 at the start; at the end its highest thread count, which this subtracts: the
    estimate of the others' load is then a lower bound, since the benchmark's own
    single-threaded stretches kept fewer cores busy).  `load_warning` judges it."""
    try:
        load1, load5, _ = os.getloadavg()
    except (AttributeError, OSError):
        return dict(load1=None, load5=None, cores=cores(), others=None, high=None)
    others = max(load1 - busy_self, 0.0)
    return dict(load1=load1, load5=load5, cores=cores(), others=others)


def load_warning(load, threads, when):
    """A warning line when the others' load leaves fewer than `threads` cores free (a
    quarter of a core of slack), else None.  Records `high` in `load`."""
    if load.get("others") is None:
        load["high"] = None
        return None
    load["high"] = load["others"] > load["cores"] - threads + 0.25
    if not load["high"]:
        return None
    return (f"WARNING: machine load at the {when}: 1-min load average {load['load1']:.2f} "
            f"(about {load['others']:.2f} of it not this benchmark) on {load['cores']} "
            f"cores, and the benchmark runs {threads} thread(s): times are disturbed; read "
            f"the spreads, or rerun on a quiet machine")


def settings():
    """What produced the numbers: build, threads, CPU, library versions."""
    info = dict(onnxlosses.build_info(), python=sys.version.split()[0],
                cpu=_cpu_name(), cores=os.cpu_count(), numpy=np.__version__)
    for mod in ("torch", "onnxruntime", "monai"):
        try:
            info[mod] = __import__(mod).__version__
        except Exception:
            info[mod] = None
    # smp's package __init__ does not import beside torch 2.13 (its losses do: contenders)
    try:
        info["segmentation_models_pytorch"] = importlib.metadata.version(
            "segmentation-models-pytorch")
    except importlib.metadata.PackageNotFoundError:
        info["segmentation_models_pytorch"] = None
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


def write_json(path, rows, rooflines, **extra):
    """The run's rows, rooflines and settings, and whatever else it recorded (`extra`:
    the machine load, the latency rows, the options)."""
    with open(path, "w") as fh:
        json.dump(dict(settings=settings(), rows=rows, rooflines=rooflines, **extra), fh,
                  indent=1)


def markdown_targets(entries):
    """A markdown table of (target, measured, met) entries, met None for not measured."""
    lines = ["| target | measured | |", "| --- | --- | --- |"]
    for target, measured, met in entries:
        flag = {True: "met", False: "**not met**", None: "not measured"}[met]
        lines.append(f"| {target} | {measured} | {flag} |")
    return "\n".join(lines)
