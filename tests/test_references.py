"""The independent references (onnxlosses.references): every loss x its main options x every
reduction, the float64 NumPy reference against PyTorch (its own loss where it has one, else
composed from its ops, autograd) and its gradient against central differences of its own
value; the kernel against the reference; parity.check against the reference for every loss;
and the places where the kernel and the documented formula disagree (strict xfails)."""
import zlib

import numpy as np
import pytest

import onnxlosses
from onnxlosses import (BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, DiceLoss, FocalLoss,
                        GeneralizedDiceLoss, JaccardLoss, NLLLoss, SigmoidFocalLoss,
                        TverskyLoss, parity, references)
from onnxlosses._registry import LOSSES
from onnxlosses.references import numpy_reference, torch_reference

from helpers import central_difference

torch = pytest.importorskip("torch", reason="PyTorch is the references' cross-check")

C = 3
SHAPE = (2, C, 2, 2)          # small: central differences evaluate the loss 2 * 24 times


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny tensors: PyTorch's second thread only waits for a core on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
W = np.array([0.5, 2.0, 1.25])


def data(kind, seed):
    """(input, target, mask) of one kind, float64."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(SHAPE) * 2
    pos = (SHAPE[0],) + SHAPE[2:]
    mask = rng.random(pos) < 0.8
    t = rng.integers(0, C, pos)
    t[0, 0, 0], t[1, 1, 1] = 0, 2              # keep classes 0 and 2 present
    if kind == "index":
        return x, t, None
    if kind == "index-mask":
        return x, t, mask
    if kind == "index255":
        t[0, 1, :2] = 255
        return x, t.astype(np.uint8), mask
    if kind == "absent1":                      # class 1 absent from sample 0
        t[0][t[0] == 1] = 0
        return x, t, None
    if kind == "logp":
        return x - np.log(np.exp(x).sum(1, keepdims=True)), t, mask
    if kind == "probabilities":
        q = rng.random(SHAPE)
        return x, q / q.sum(1, keepdims=True), None
    if kind == "probabilities-mask":
        q = rng.random(SHAPE)
        return x, q / q.sum(1, keepdims=True), mask
    if kind == "probs-input":
        return rng.uniform(0.05, 0.95, SHAPE), rng.random(SHAPE), None
    if kind == "dense":
        return x, (rng.random(SHAPE) < 0.4).astype(np.float64), None
    if kind == "dense-mask":                   # sigmoid focal: broadcast over classes
        return x, (rng.random(SHAPE) < 0.4).astype(np.float64), mask[:, None]
    if kind == "soft":
        return x, rng.random(SHAPE), None
    if kind == "multilabel-255":               # the Dice family's per-pixel mask, and
        y = (rng.random(SHAPE) < 0.4).astype(np.float64)   # elements to ignore
        y[0, 1, 0, :2] = 255
        return x, y, mask
    if kind == "binary":
        return x[:, :1], (rng.random(x[:, :1].shape) < 0.4).astype(np.float64), mask
    if kind == "binary-nochannel":
        return x[:, 0], (rng.random(x[:, 0].shape) < 0.4).astype(np.float64), mask
    if kind == "probs-index":                  # Dice from_logits=False
        p = np.exp(x) / np.exp(x).sum(1, keepdims=True)
        return p, t, mask
    raise ValueError(kind)


def internal(cls, **config):
    return cls._from_config(config)


# (id, loss, data kind); every reduction is added below where the loss takes one
LOSS_CASES = [
    ("ce", CrossEntropyLoss(), "index"),
    ("ce-weight-ignore255-mask", CrossEntropyLoss(weight=W, ignore_index=255), "index255"),
    ("ce-smoothing-weight", CrossEntropyLoss(weight=W, label_smoothing=0.2), "index-mask"),
    ("ce-probabilities", CrossEntropyLoss(weight=W, label_smoothing=0.1), "probabilities"),
    ("ce-probabilities-mask", CrossEntropyLoss(), "probabilities-mask"),
    ("nll-weight-mask", NLLLoss(weight=W), "logp"),
    ("nll-ignore0", NLLLoss(ignore_index=0), "logp"),
    ("bce", BCELoss(), "probs-input"),
    ("bce-weight", BCELoss(weight=np.array([0.5, 2.0])), "probs-input"),
    ("bcel", BCEWithLogitsLoss(), "soft"),
    ("bcel-weight-posweight", BCEWithLogitsLoss(weight=W[:, None, None],
                                                pos_weight=np.array([[2.0, 0.5]])),
     "soft"),
    ("focal", FocalLoss(), "index"),
    ("focal-alpha-gamma0.5-ignore", FocalLoss(alpha=0.25, gamma=0.5, ignore_index=255),
     "index255"),
    ("focal-alphas-gamma0", FocalLoss(alpha=W, gamma=0.0), "index-mask"),
    ("focal-gamma1.5-mask", FocalLoss(alpha=W, gamma=1.5), "index-mask"),
    ("sfocal", SigmoidFocalLoss(), "dense"),
    ("sfocal-soft-noalpha-g0.5", SigmoidFocalLoss(alpha=-1.0, gamma=0.5), "soft"),
    ("sfocal-normalized", SigmoidFocalLoss(normalized=True), "dense-mask"),
    ("sfocal-thr", SigmoidFocalLoss(reduced_threshold=0.5, gamma=1.5), "dense"),
    ("sfocal-normalized-thr-g0.5", SigmoidFocalLoss(normalized=True, reduced_threshold=0.5,
                                                    gamma=0.5), "soft"),
    ("sfocal-indices", SigmoidFocalLoss(ignore_index=255), "index255"),
    ("sfocal-indices-normalized", SigmoidFocalLoss(normalized=True, alpha=0.4), "index-mask"),
    # the presets' internal switches: MONAI's softmax mean over elements and background
    # alpha, smp's multiclass mean over positions
    ("focal-internal-elements-alpha0", internal(FocalLoss, _mean_over="elements", alpha=0.25,
                                                _alpha0=0.75, gamma=1.5, ignore_index=255),
     "index255"),
    ("focal-internal-elements-alphas-mask", internal(FocalLoss, _mean_over="elements",
                                                     alpha=W, _alpha0=0.1), "index-mask"),
    ("focal-internal-alpha0-only", internal(FocalLoss, _alpha0=3.0, gamma=0.5), "index"),
    ("sfocal-internal-positions", internal(SigmoidFocalLoss, _mean_over="positions",
                                           ignore_index=255), "index255"),
    ("sfocal-internal-positions-normalized", internal(SigmoidFocalLoss, _mean_over="positions",
                                                      normalized=True, alpha=0.4),
     "index-mask"),
]
DICE_OPTIONS = [
    ("", dict(), "index-mask"),
    ("smooth0-eps", dict(smooth=0.0, eps=1e-7), "index"),
    ("squared-smoothdr", dict(squared=True, smooth=0.5, smooth_dr=2.0), "index-mask"),
    ("weight-perimage", dict(weight=[0.5, 2.0, 0.0], per_image=True), "absent1"),
    ("log", dict(log_loss=True, smooth=0.1, eps=1e-7), "index"),
    ("classes-zero", dict(classes=[0, 2], absent="zero"), "absent1"),
    ("skip-perimage", dict(absent="skip", per_image=True), "absent1"),
    ("ignore255", dict(ignore_index=255), "index255"),
    ("probs", dict(from_logits=False), "probs-index"),
    ("dense-multiclass", dict(), "probabilities"),
    ("multilabel-ignore", dict(mode="multilabel", ignore_index=255), "multilabel-255"),
    ("binary", dict(mode="binary", per_image=True), "binary"),
    ("binary-nochannel", dict(mode="binary", squared=True), "binary-nochannel"),
]
DICE_CASES = [(f"{cls.__name__}-{name}".rstrip("-"), cls(**opts, **extra), kind)
              for cls, extra in [(DiceLoss, {}), (JaccardLoss, {}),
                                 (TverskyLoss, dict(alpha=0.3, beta=0.7, gamma=1.5)),
                                 (GeneralizedDiceLoss, dict(weighting="simple"))]
              for name, opts, kind in DICE_OPTIONS
              # generalized Dice has one score over all classes: no log_loss, no absent rule
              if not (cls is GeneralizedDiceLoss and ("log_loss" in opts or "absent" in opts))]
DICE_CASES += [
    ("GeneralizedDiceLoss-square-perimage", GeneralizedDiceLoss(per_image=True), "absent1"),
    ("GeneralizedDiceLoss-uniform-weight-classes",
     GeneralizedDiceLoss(weighting="uniform", weight=W, classes=[1, 2]), "index-mask"),
    ("TverskyLoss-log-gamma0.5", TverskyLoss(log_loss=True, eps=1e-7, gamma=0.5), "index"),
    ("DiceLoss-preset-smp", DiceLoss.preset("smp"), "absent1"),
    ("JaccardLoss-preset-smp-multilabel", JaccardLoss.preset("smp", mode="multilabel"),
     "dense"),
    ("TverskyLoss-preset-smp", TverskyLoss.preset("smp", alpha=0.3, beta=0.7, gamma=2.0),
     "index"),
    ("DiceLoss-preset-monai", DiceLoss.preset("monai", softmax=True, weight=W), "index"),
    ("JaccardLoss-preset-monai", JaccardLoss.preset("monai", softmax=True,
                                                    include_background=False, num_classes=C),
     "index-mask"),
    ("GeneralizedDiceLoss-preset-monai", GeneralizedDiceLoss.preset("monai", softmax=True),
     "absent1"),
    ("DiceLoss-preset-seed", DiceLoss.preset("seed", skip_class=1, num_classes=C),
     "probabilities"),
    ("DiceLoss-preset-seed-binary", DiceLoss.preset("seed_binary"), "binary"),
    ("DiceLoss-internal-count-factor1",
     internal(DiceLoss, _weight_mean="count", _factor=1.0, weight=W), "index"),
    ("DiceLoss-internal-all", internal(DiceLoss, _weight_mean="all", classes=(0, 2),
                                       per_image=True), "index"),
    ("JaccardLoss-internal-doubled", internal(JaccardLoss, _doubled=True, squared=True),
     "index"),
    ("TverskyLoss-internal-gamma-after-mean",
     internal(TverskyLoss, _gamma_after_mean=True, gamma=2.0, alpha=0.2, beta=0.8), "index"),
]


def with_reduction(loss, reduction):
    return type(loss)._from_config(dict(loss.config, reduction=reduction))


REDUCTIONS = ("mean", "sum", "none")
CASES = [(f"{name}-{reduction}", with_reduction(loss, reduction), kind)
         for name, loss, kind in LOSS_CASES + DICE_CASES for reduction in REDUCTIONS]
IDS = [c[0] for c in CASES]


def differences_checked(name):
    """Central differences for one reduction of each case, rotating (PyTorch's autograd
    checks every one)."""
    base, reduction = name.rsplit("-", 1)
    return REDUCTIONS[zlib.crc32(base.encode()) % 3] == reduction


def grad_output_for(value, seed):
    if np.ndim(value) == 0:
        return 0.75
    return np.random.default_rng(seed).uniform(0.5, 1.5, np.shape(value))


def weighted(value, go):
    return float(np.sum(np.nan_to_num(np.asarray(value) * go)))


@pytest.mark.parametrize("name,loss,kind", CASES, ids=IDS)
def test_numpy_reference_against_torch_and_central_differences(name, loss, kind):
    x, t, mask = data(kind, len(name))
    value, _ = numpy_reference(loss, x, t, mask=mask)
    go = grad_output_for(value, len(name))
    value, grad = numpy_reference(loss, x, t, mask=mask, grad_output=go)
    assert np.shape(grad) == x.shape and np.all(np.isfinite(grad))
    try:
        tv, tg = torch_reference(loss, x, t, mask=mask, grad_output=go)
    except references.Unavailable as exc:     # PyTorch has no mask for probabilities
        assert kind == "probabilities-mask", exc
    else:
        np.testing.assert_allclose(value, tv, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(grad, tg, rtol=1e-10, atol=1e-14)
    if differences_checked(name):
        fd = central_difference(
            lambda z: weighted(numpy_reference(loss, z, t, mask=mask)[0], go), x)
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name,loss,kind", CASES, ids=IDS)
def test_kernel_matches_numpy_reference(name, loss, kind):
    x, t, mask = data(kind, len(name))
    want_v, _ = numpy_reference(loss, x, t, mask=mask)
    go = grad_output_for(want_v, len(name) + 1)
    want_v, want_g = numpy_reference(loss, x, t, mask=mask, grad_output=go)
    with onnxlosses.threads(1):      # the same bits as with more (tested elsewhere), and
        value, grad = loss.value_and_grad(x, t, grad_output=go, mask=mask)   # no barrier
    np.testing.assert_allclose(value, want_v, rtol=1e-12, atol=1e-14)    # stalls on a
    np.testing.assert_allclose(grad, want_g, rtol=1e-10, atol=1e-14)     # busy machine
    xf = x.astype(np.float32)
    want_v, want_g = numpy_reference(loss, xf, t, mask=mask, grad_output=go)
    with onnxlosses.threads(1):
        value, grad = loss.value_and_grad(xf, t, grad_output=go, mask=mask)
    np.testing.assert_allclose(value, want_v, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(grad, want_g, rtol=1e-5, atol=1e-7)


def test_every_registered_loss_names_both_references():
    for cls in LOSSES:
        for which in ("reference", "torch_reference"):
            assert callable(references._resolve(cls.spec.examples[0].build(cls, 3), which)), cls
    assert {cls for cls in LOSSES if cls.spec.torch_has_loss} == {
        CrossEntropyLoss, NLLLoss, BCELoss, BCEWithLogitsLoss}


def test_references_refuse_what_the_losses_refuse():
    x, t, _ = data("index", 0)
    t[0, 0, 0] = 7
    for loss in (CrossEntropyLoss(), FocalLoss(), SigmoidFocalLoss(), DiceLoss()):
        with pytest.raises(ValueError, match=r"target has 1 value outside \[0, 3\)"
                                             r"( other than ignore_index=-100)?, e.g. 7"):
            numpy_reference(loss, x, t)
    with pytest.raises(ValueError, match=r"input must lie in \[0, 1\]: 1 value outside"):
        numpy_reference(BCELoss(), np.array([0.5, 1.5]), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match=r"ignore_index is not supported with class-prob"):
        numpy_reference(CrossEntropyLoss(ignore_index=0), *data("probabilities", 0)[:2])
    with pytest.raises(ValueError, match=r"classes must lie in \[0, 3\)"):
        numpy_reference(DiceLoss(classes=[5]), *data("index", 0)[:2])


def test_documented_limits_and_edge_cases():
    x = np.array([[0.0, 0.0], [1.0, -1.0]])
    # every target ignored: NaN with a zero gradient
    for loss in (CrossEntropyLoss(label_smoothing=0.1), FocalLoss(), NLLLoss()):
        v, g = numpy_reference(loss, x, np.array([-100, -100]))
        assert np.isnan(v) and np.all(g == 0)
    # NaN logits where nothing is counted have no influence
    xn = x.copy()
    xn[1] = np.nan
    for loss in (CrossEntropyLoss(), FocalLoss(gamma=0.5)):
        v, g = numpy_reference(loss, xn, np.array([0, -100]))
        assert np.isfinite(v) and np.all(np.isfinite(g)) and np.all(g[1] == 0)
    # 0 log 0 = 0 for a probability target 0 on a -inf logit (PyTorch: NaN)
    v, _ = numpy_reference(CrossEntropyLoss(), np.array([[0.0, -np.inf, 1.0]]),
                           np.array([[0.5, 0.0, 0.5]]))
    assert np.isfinite(v)
    # saturated softmax focal with gamma < 1: finite gradient (the limit 0)
    v, g = numpy_reference(FocalLoss(gamma=0.25), np.array([[800.0, 0.0, -60.0]]),
                           np.array([0]))
    assert v == 0 and np.all(g == 0)
    # BCE: PyTorch's log clamp at -100 and its float epsilon in the gradient
    v, g = numpy_reference(BCELoss(reduction="none"), np.array([0.0, 1.0]),
                           np.array([1.0, 0.0]))
    np.testing.assert_array_equal(v, [100.0, 100.0])
    np.testing.assert_allclose(g, [-1 / float(np.float32(1e-12)), 1 / float(np.float32(1e-12))])
    # unbatched cross-entropy: (C,) logits, a 0-d target
    v, g = numpy_reference(CrossEntropyLoss(reduction="none"), np.zeros(4), np.array(1))
    assert np.shape(v) == () and g.shape == (4,)
    np.testing.assert_allclose(v, np.log(4))


def test_torch_reference_is_unavailable_not_a_pass(monkeypatch):
    x, t, _ = data("index", 1)

    def no_torch():
        raise references.Unavailable("PyTorch is not installed")
    monkeypatch.setattr(references.pytorch, "_torch", no_torch)
    with pytest.raises(references.Unavailable):
        torch_reference(DiceLoss(), x, t)
    report = parity.check(DiceLoss(), x.astype(np.float32), t, "CPUExecutionProvider")
    torch_row = next(r for r in report.results if r.path == "torch")
    assert torch_row.status == "unavailable" and torch_row.note == "PyTorch is not installed"
    assert torch_row.oracle == "" and report.ok


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_parity_passes_for_every_loss_against_the_numpy_reference(dtype):
    from onnxlosses._parity_grid import SHAPES, _data, configurations
    failed, checked = [], set()
    for k, (name, loss, kind, use_mask) in enumerate(configurations()):
        x, t = _data(kind, SHAPES[4], dtype, k, loss.spec.input)
        mask = np.random.default_rng(k).random((2, 6, 5)) < 0.8 if use_mask else None
        with onnxlosses.threads(1):
            report = parity.check(loss, x, t, "CPUExecutionProvider", mask=mask)
        checked.add(type(loss))
        rows = {r.path: r for r in report.results}
        torch_ok = rows["torch"].status == "pass" or (
            rows["torch"].status == "unavailable" and mask is not None and t.dtype.kind == "f")
        if not report.ok or not torch_ok or rows["kernel"].status != "pass":
            failed.append(report.table())
        assert all(r.oracle == parity.ORACLE for r in report.results if r.status == "pass")
        assert report.as_dict()["oracle"] == parity.ORACLE
    assert checked == set(LOSSES)
    assert not failed, "\n\n".join(failed)


def test_the_oracle_is_not_the_kernel(monkeypatch):
    """A kernel that is wrong in every dtype fails parity (the old oracle, the float64
    kernel, would have moved with it); the other paths still pass."""
    x, t, _ = data("index255", 3)
    loss = CrossEntropyLoss(ignore_index=255)
    right = loss.value_and_grad
    monkeypatch.setattr(loss, "value_and_grad",
                        lambda *a, **k: tuple(1.5 * v for v in right(*a, **k)))
    report = parity.check(loss, x.astype(np.float32), t, "CPUExecutionProvider")
    got = {r.path: r.status for r in report.results}
    assert got["kernel"] == "fail"
    assert got["onnxruntime:CPUExecutionProvider"] == got["onnx.reference"] == \
        got["torch"] == "pass"
    assert "numpy-float64" in report.table()


# -- where the kernel and the documented formula disagree ------------------------------------

def _absent_class_batch():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 2, 2))
    t = np.array([[[0, 1], [1, 0]], [[1, 0], [0, 1]]])       # class 2 absent everywhere
    return x, t


def _agrees(loss, x, t, mask=None):
    kv, kg = loss.value_and_grad(x, t, mask=mask)
    rv, rg = numpy_reference(loss, x, t, mask=mask)
    np.testing.assert_allclose(kv, rv, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(kg, rg, rtol=1e-10, atol=1e-14)


def test_none_reduction_keeps_the_order_of_classes():
    _agrees(DiceLoss(reduction="none", classes=[2, 0]), *_absent_class_batch())


def test_none_reduction_keeps_a_skipped_listed_class_as_nan():
    _agrees(DiceLoss(reduction="none", classes=[0, 2], absent="skip"), *_absent_class_batch())


def test_generalized_dice_gradient_where_eps_clamps():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 3, 2, 2))
    y = (rng.random(x.shape) < 0.5).astype(float)
    _agrees(GeneralizedDiceLoss(mode="multilabel", weighting="uniform", eps=100.0), x, y)


@pytest.mark.parametrize("per_image", [False, True])
def test_exported_generalized_dice_gradient_where_eps_clamps(per_image):
    import onnxruntime as ort
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 4))
    y = (rng.random(x.shape) < 0.5).astype(float)
    loss = GeneralizedDiceLoss(mode="multilabel", weighting="uniform", eps=100.0,
                               per_image=per_image)
    model = loss.to_onnx(dtype="float64", target_dtype="float64", ndim=3, grad=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    value, grad = sess.run(None, {"input": x, "target": y})
    ref_value, ref_grad = numpy_reference(loss, x, y)
    np.testing.assert_allclose(value, ref_value, rtol=1e-12)
    np.testing.assert_allclose(grad, ref_grad, rtol=1e-10, atol=1e-15)


def test_tversky_gamma_where_the_score_exceeds_one():
    x, t = _absent_class_batch()
    x[:, 2] = -10.0
    _agrees(TverskyLoss(smooth=1.0, smooth_dr=0.1, gamma=2.0), x, t)


def test_a_class_left_out_cannot_make_the_mean_nan():
    p = np.zeros((1, 3, 2, 2))
    p[0, 0] = [[0.9, 0.8], [0.1, 0.0]]
    p[0, 1] = 1 - p[0, 0]
    y = np.zeros_like(p)
    y[0, 0, 0], y[0, 1, 1] = 1, 1              # class 2: absent, and predicted 0 everywhere
    for loss in (JaccardLoss(mode="multilabel", from_logits=False, smooth=0.0, absent="skip"),
                 DiceLoss(mode="multilabel", from_logits=False, smooth=0.0, classes=[0, 1])):
        _agrees(loss, p, y)


def test_sigmoid_focal_saturated_logits_keep_the_focal_term():
    """1 - p_t from sigmoid(-x) and sigmoid(x), not by subtraction: at x = 20 (p_t rounds to
    1 in float32) the focal term r^gamma with gamma < 1 and its gradient stay, and so does
    normalized=True's sum of them."""
    loss = SigmoidFocalLoss(gamma=0.5, normalized=True, reduction="sum")
    x, y = np.array([0.0, 20.0], np.float32), np.ones(2, np.float32)
    want_v, want_g = numpy_reference(loss, x, y)
    value, grad = loss.value_and_grad(x, y)
    np.testing.assert_allclose(value, want_v, rtol=2e-5, atol=2e-6)
    np.testing.assert_allclose(grad, want_g, rtol=2e-5, atol=2e-6)


@pytest.mark.xfail(strict=True, reason="Dice multiclass with dense targets, ignore_index and "
                   "from_logits: the kernel leaves the ignored class out of the softmax "
                   "(logit -inf); the README excludes the ignored element from the sums (p "
                   "and t zeroed there, as with from_logits=False and multilabel)")
def test_dense_multiclass_ignore_index_with_logits():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 2, 2))
    q = rng.dirichlet(np.ones(3), (2, 2, 2)).transpose(0, 3, 1, 2)
    q[0, 1, 0, 0] = 5.0
    _agrees(DiceLoss(ignore_index=5), x, q)


def test_dense_multiclass_ignore_index_without_logits_agrees():
    rng = np.random.default_rng(7)
    p = rng.dirichlet(np.ones(3), (2, 2, 2)).transpose(0, 3, 1, 2)
    q = rng.dirichlet(np.ones(3), (2, 2, 2)).transpose(0, 3, 1, 2)
    q[0, 1, 0, 0] = 5.0
    _agrees(DiceLoss(ignore_index=5, from_logits=False), p, q)
