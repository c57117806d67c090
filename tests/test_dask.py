"""onnxlosses.dask: the same value and gradient as in memory, on dask's threaded scheduler
and on a real dask.distributed cluster of worker processes."""
import subprocess
import sys

import numpy as np
import pytest

from onnxlosses import (BCEWithLogitsLoss, CrossEntropyLoss, DiceLoss, FocalLoss,
                        GeneralizedDiceLoss, NLLLoss, SigmoidFocalLoss, TverskyLoss)

da = pytest.importorskip("dask.array", reason="dask is an optional dependency")
odk = pytest.importorskip("onnxlosses.dask")

W = np.array([0.5, 2.0, 1.0, 1.5])
LOSSES = {
    "ce": (CrossEntropyLoss(weight=W, ignore_index=255, label_smoothing=0.1), "index"),
    "nll": (NLLLoss(ignore_index=255, reduction="sum"), "index"),
    "focal": (FocalLoss(alpha=W, gamma=2.0, ignore_index=255), "index"),
    "bce-logits": (BCEWithLogitsLoss(pos_weight=np.array([2.0, 1.0, 0.5, 1.0, 1.0, 2.0, 1.0,
                                                          1.0, 3.0])), "dense"),
    "sigmoid-focal-normalized": (SigmoidFocalLoss(reduction="mean", normalized=True,
                                                  ignore_index=255), "index"),
    "dice-pooled": (DiceLoss(ignore_index=255), "index"),
    "dice-per-image": (DiceLoss(ignore_index=255, per_image=True, absent="skip"), "index"),
    "tversky": (TverskyLoss(alpha=0.3, beta=0.7, gamma=2.0, ignore_index=255), "index"),
    "generalized-per-image": (GeneralizedDiceLoss(per_image=True, ignore_index=255,
                                                  smooth=1e-5), "index"),
}
CHUNKS = (3, 4, 4, 5)                   # uneven along batch and both spatial axes


def _data(kind, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((7, 4, 10, 9)) * 2
    if kind == "index":
        t = rng.integers(0, 4, (7, 10, 9)).astype(np.uint8)
        t[rng.random(t.shape) < 0.1] = 255
        t[3:6, :4, :5] = 255            # a chunk with every pixel ignored
        return x, t
    return x, (rng.random(x.shape) < 0.4).astype(np.float64)


def _check(loss, kind, **compute):
    x, t = _data(kind)
    xd = da.from_array(x, chunks=CHUNKS)
    td = da.from_array(t, chunks=(2, 5, 9) if t.ndim == 3 else CHUNKS)
    want_v, want_g = loss.value_and_grad(x, t)
    got = odk.value(loss, xd, td, **compute)
    np.testing.assert_allclose(got, want_v, rtol=1e-12)
    v, g = odk.value_and_grad(loss, xd, td, **compute)
    assert g.chunks == xd.chunks
    np.testing.assert_allclose(v, want_v, rtol=1e-12)
    np.testing.assert_allclose(g.compute(**compute), want_g, rtol=1e-10, atol=1e-16)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_threaded_scheduler(name):
    loss, kind = LOSSES[name]
    if name == "bce-logits":   # pos_weight varies along the last, chunked, axis
        with pytest.warns(UserWarning, match=r"pos_weight of shape \(9,\) varies along"):
            _check(loss, kind, scheduler="threads")
    else:
        _check(loss, kind, scheduler="threads")


def test_distributed_cluster_of_processes():
    distributed = pytest.importorskip("distributed", reason="dask.distributed not installed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        for name in ("ce", "dice-per-image", "sigmoid-focal-normalized", "tversky"):
            loss, kind = LOSSES[name]
            _check(loss, kind)
        # the work really ran on the workers
        assert len(client.scheduler_info()["workers"]) == 2


def test_class_axis_in_chunks_is_rechunked_with_a_warning():
    loss, _ = LOSSES["ce"]
    x, t = _data("index")
    xd = da.from_array(x, chunks=(3, 2, 10, 9))
    with pytest.warns(UserWarning, match=r"needs the class axis in one chunk"):
        got = odk.value(loss, xd, da.from_array(t, chunks=(3, 10, 9)), scheduler="threads")
    np.testing.assert_allclose(got, loss(x, t), rtol=1e-12)


def test_importing_onnxlosses_does_not_import_dask():
    code = "import sys, onnxlosses; print('dask' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr
