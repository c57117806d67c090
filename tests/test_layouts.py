"""Every loss gives the same value and gradient whatever the memory layout of its input and
target (channels-last, negative strides, slices, Fortran order), for random shapes, dtypes
and target dtypes: a sweep over the stride handling of every kernel."""
import itertools

import numpy as np
import pytest

import onnxlosses as ol

from helpers import LAYOUTS, relayout


def _losses(C, rng):
    return [
        (ol.CrossEntropyLoss(ignore_index=255, label_smoothing=0.1,
                             weight=rng.random(C) + 0.1), "index"),
        (ol.CrossEntropyLoss(), "probabilities"),
        (ol.NLLLoss(ignore_index=255), "index"),
        (ol.FocalLoss(gamma=0.5, alpha=0.3, ignore_index=255), "index"),
        (ol.BCEWithLogitsLoss(pos_weight=rng.random(1) + 1), "dense"),
        (ol.BCELoss(), "probability-input"),
        (ol.SigmoidFocalLoss(reduction="mean", ignore_index=255), "index"),
        (ol.SigmoidFocalLoss(reduction="sum", normalized=True), "dense"),
        (ol.DiceLoss(ignore_index=255, per_image=True), "index"),
        (ol.DiceLoss(mode="multilabel"), "dense"),
        (ol.DiceLoss(), "probabilities"),
        (ol.GeneralizedDiceLoss(ignore_index=255), "index"),
    ]


@pytest.mark.parametrize("trial", range(10))
def test_every_loss_is_layout_invariant(trial):
    rng = np.random.default_rng(100 + trial)
    nd = int(rng.integers(2, 5))
    C = int(rng.integers(1, 7))
    shape = (int(rng.integers(1, 4)), C) + tuple(int(v) for v in rng.integers(1, 9, nd - 2))
    dtype = [np.float32, np.float64][trial % 2]
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    pos = shape[:1] + shape[2:]
    index = rng.integers(0, C, pos).astype([np.uint8, np.int16, np.int32, np.int64][trial % 4])
    index[rng.random(pos) < 0.2] = 255
    q = rng.random(shape)
    targets = {"index": index, "probabilities": (q / q.sum(1, keepdims=True)).astype(dtype),
               "dense": (rng.random(shape) < 0.4).astype(dtype)}
    targets["probability-input"] = targets["dense"]
    tol = 2e-5 if dtype == np.float32 else 1e-11
    for loss, kind in _losses(C, rng):
        t = targets[kind]
        xx = (1 / (1 + np.exp(-x))).astype(dtype) if kind == "probability-input" else x
        v0, g0 = loss.value_and_grad(np.ascontiguousarray(xx), np.ascontiguousarray(t))
        for lx, lt in itertools.product(LAYOUTS, ["contiguous", "negative", "strided"]):
            v, g = loss.value_and_grad(relayout(xx, lx), relayout(t, lt))
            np.testing.assert_allclose(v, v0, rtol=tol, atol=tol, equal_nan=True,
                                       err_msg=f"{loss!r} {shape} {lx}/{lt}")
            np.testing.assert_allclose(g, g0, rtol=tol, atol=tol, equal_nan=True,
                                       err_msg=f"{loss!r} {shape} {lx}/{lt}")
