"""Thread control, thread-count invariance of every bit, and concurrent callers."""
import concurrent.futures
import threading

import numpy as np
import pytest

import onnxlosses
from onnxlosses import CrossEntropyLoss, NLLLoss

from helpers import relayout


def test_default_follows_openmp():
    from onnxlosses import _openmp
    assert onnxlosses.get_num_threads() >= 1
    if _openmp.openmp_enabled:
        assert _openmp.max_threads() >= 1


def test_set_and_context_manager():
    before = onnxlosses.get_num_threads()
    try:
        onnxlosses.set_num_threads(3)
        assert onnxlosses.get_num_threads() == 3
        with onnxlosses.threads(1) as n:
            assert n == 1 and onnxlosses.get_num_threads() == 1
            with onnxlosses.threads(2):
                assert onnxlosses.get_num_threads() == 2
            assert onnxlosses.get_num_threads() == 1
        assert onnxlosses.get_num_threads() == 3
    finally:
        onnxlosses.set_num_threads(before)


def test_context_manager_is_per_python_thread():
    seen = {}
    with onnxlosses.threads(1):
        worker = threading.Thread(target=lambda: seen.update(n=onnxlosses.get_num_threads()))
        worker.start()
        worker.join()
    assert seen["n"] == onnxlosses.get_num_threads()


@pytest.mark.parametrize("bad,exc", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                     ("2", TypeError)])
def test_bad_thread_counts(bad, exc):
    with pytest.raises(exc, match="n must be"):
        onnxlosses.set_num_threads(bad)
    with pytest.raises(exc, match="n must be"):
        with onnxlosses.threads(bad):
            pass


CASES = {
    # several tiles per image on the class-strided path, many on the row path
    "nchw": ((3, 5, 40, 50), "contiguous"),
    "nhwc": ((3, 5, 40, 50), "channels_last"),
    "rows": ((3000, 40), "contiguous"),     # C >= ROWS_MIN_CLASSES: the row loops
    "gathered": ((2, 6, 30, 70), "negative"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_results_do_not_depend_on_thread_count(case, dtype):
    shape, layout = CASES[case]
    rng = np.random.default_rng(0)
    x = relayout((rng.standard_normal(shape) * 4).astype(dtype), layout)
    pos = (shape[0],) + shape[2:]
    t = rng.integers(0, shape[1], pos).astype(np.uint8)
    t[rng.random(pos) < 0.05] = 255
    w = rng.uniform(0.1, 2, shape[1])
    losses = [CrossEntropyLoss(weight=w, ignore_index=255, label_smoothing=0.1),
              CrossEntropyLoss(reduction="sum", ignore_index=255), NLLLoss(ignore_index=255)]
    for loss in losses:
        results = []
        for n in (1, 2, 3):
            with onnxlosses.threads(n):
                results.append(loss.value_and_grad(x, t))
        for value, grad in results[1:]:
            assert value.tobytes() == results[0][0].tobytes()
            assert grad.tobytes() == results[0][1].tobytes()


def test_concurrent_python_threads_get_correct_results():
    rng = np.random.default_rng(1)
    jobs = []
    for i in range(12):
        x = rng.standard_normal((4, 7, 16, 9)).astype(np.float32)
        t = rng.integers(0, 7, (4, 16, 9))
        jobs.append((x, t, CrossEntropyLoss(label_smoothing=0.05 * (i % 3))))
    expected = [loss.value_and_grad(x, t) for x, t, loss in jobs]

    def run(i):
        x, t, loss = jobs[i]
        with onnxlosses.threads(1 + i % 2):
            return loss.value_and_grad(x, t)

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        got = list(pool.map(run, list(range(len(jobs))) * 3))
    for i, (value, grad) in enumerate(got):
        want_v, want_g = expected[i % len(jobs)]
        assert value == want_v
        np.testing.assert_array_equal(grad, want_g)


def test_show_config_reports_the_build(capsys):
    onnxlosses.show_config()
    out = capsys.readouterr().out
    for key in ("openmp", "threads", "vector_exp", "kernel_isa", "compiler"):
        assert key in out
    info = onnxlosses.build_info()
    assert info["threads"] == onnxlosses.get_num_threads()
