"""onnxlosses.presets: other libraries' losses by their own arguments, against the libraries
themselves (MONAI installed beside torch with `pip install --no-deps monai`): values and
gradients (torch autograd on the library's side) over a grid of their arguments."""
import itertools

import numpy as np
import pytest

import onnxlosses
from onnxlosses.presets import hubutui, monai, smp, torchvision

torch = pytest.importorskip("torch", reason="torch runs the libraries the presets reproduce")
ml = pytest.importorskip("monai.losses", reason="monai is the live oracle of the monai presets")


def _batch(C=4, seed=0, shape=(2, 5, 6)):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((shape[0], C) + shape[1:])
    labels = rng.integers(0, C, (shape[0], 1) + shape[1:])
    return x, labels


def _monai(cls, kwargs, x, target, grad_output=None):
    kw = {k: (torch.tensor(v, dtype=torch.float64) if k == "weight" else v)
          for k, v in kwargs.items()}
    xt = torch.tensor(x, requires_grad=True)
    value = getattr(ml, cls)(**kw)(xt, torch.tensor(target))
    go = torch.ones_like(value) if grad_output is None else torch.tensor(grad_output)
    (value * go).sum().backward()
    return value.detach().numpy(), xt.grad.numpy()


def _grid(**axes):
    names = list(axes)
    return [dict(zip(names, values)) for values in itertools.product(*axes.values())]


# the options' grid of the Dice preset itself runs in test_presets_live.py; here, what the
# namespace's arguments map to (activations, label maps, background, reductions)
DICE_GRID = _grid(activation=["softmax", "sigmoid", "none"], include_background=[True, False],
                  batch=[False, True], squared_pred=[False], jaccard=[False, True],
                  reduction=["mean", "none"])


def _activation(kw):
    act = kw.pop("activation")
    if act == "softmax":
        kw["softmax"] = True
    elif act == "sigmoid":
        kw["sigmoid"] = True
    return kw


@pytest.mark.parametrize("kw", DICE_GRID, ids=lambda kw: "-".join(f"{v}" for v in kw.values()))
def test_monai_dice_loss_equals_monai(kw):
    kw = _activation(dict(kw))
    x, labels = _batch()
    if "softmax" not in kw and "sigmoid" not in kw:
        x = 1 / (1 + np.exp(-x))                       # probabilities, as MONAI takes them
    ours = monai.DiceLoss(to_onehot_y=True, **kw)
    assert isinstance(ours, (onnxlosses.DiceLoss, onnxlosses.JaccardLoss))
    want_v, want_g = _monai("DiceLoss", dict(kw, to_onehot_y=True), x, labels,
                            grad_output=None)
    go = np.random.default_rng(5).random(np.shape(want_v)) if kw["reduction"] == "none" \
        else None
    if go is not None:
        want_v, want_g = _monai("DiceLoss", dict(kw, to_onehot_y=True), x, labels, go)
    value, grad = ours.value_and_grad(x, labels, go)
    assert np.shape(value) == np.shape(want_v)          # MONAI's (N, C, 1, 1) for "none"
    # squared_pred: MONAI forms I as (|p|^2 + |t|^2 - |p - t|^2) / 2 from vector norms (a
    # square root, then its square, then a cancelling difference): 1e-8 relative off
    # sum p t, which the kernels add directly
    rtol = 1e-6 if kw["squared_pred"] else 1e-10
    np.testing.assert_allclose(value, want_v, rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(grad, want_g, rtol=100 * rtol, atol=1e-10)


@pytest.mark.parametrize("include_background", [True, False])
def test_monai_dice_loss_weight_and_one_hot_targets(include_background):
    x, labels = _batch()
    onehot = (labels == np.arange(4)[None, :, None, None]).astype(np.float64)
    weight = [0.5, 2.0, 1.5] + ([0.25] if include_background else [])  # MONAI: C-1 w/o bg
    kw = dict(softmax=True, include_background=include_background, weight=weight)
    want_v, want_g = _monai("DiceLoss", kw, x, onehot)
    value, grad = monai.DiceLoss(**kw).value_and_grad(x, onehot)
    np.testing.assert_allclose(value, want_v, rtol=1e-10)
    np.testing.assert_allclose(grad, want_g, rtol=1e-8, atol=1e-12)



def test_monai_dice_loss_one_weight_weighs_nothing():
    # MONAI leaves the class weight out where one class is scored (C = 2 without the
    # background here): the preset used to multiply the loss by it
    x, labels = _batch(C=2)
    kw = dict(softmax=True, to_onehot_y=True, include_background=False, weight=[3.0])
    want_v, want_g = _monai("DiceLoss", kw, x, labels)
    value, grad = monai.DiceLoss(**kw).value_and_grad(x, labels)
    np.testing.assert_allclose(value, want_v, rtol=1e-10)
    np.testing.assert_allclose(grad, want_g, rtol=1e-8, atol=1e-12)

@pytest.mark.parametrize("kw", _grid(activation=["softmax", "sigmoid"],
                                     include_background=[True, False],
                                     w_type=["square", "simple", "uniform"], batch=[False, True],
                                     reduction=["mean", "none"]),
                         ids=lambda kw: "-".join(f"{v}" for v in kw.values()))
def test_monai_generalized_dice_loss_equals_monai(kw):
    kw = _activation(dict(kw), )
    x, labels = _batch()
    want_v, want_g = _monai("GeneralizedDiceLoss", dict(kw, to_onehot_y=True), x, labels)
    value, grad = monai.GeneralizedDiceLoss(to_onehot_y=True, **kw).value_and_grad(x, labels)
    assert np.shape(value) == np.shape(want_v)
    # MONAI forms the 1/T^2 weights and their sums in another order: 1e-9 relative here
    np.testing.assert_allclose(value, want_v, rtol=1e-8)
    np.testing.assert_allclose(grad, want_g, rtol=1e-6, atol=1e-10)


@pytest.mark.parametrize("kw", _grid(activation=["softmax", "sigmoid"],
                                     include_background=[True, False], batch=[False, True],
                                     ab=[(0.5, 0.5), (0.3, 0.7)], reduction=["mean", "sum"]),
                         ids=lambda kw: "-".join(f"{v}" for v in kw.values()))
def test_monai_tversky_loss_equals_monai(kw):
    kw = _activation(dict(kw))
    kw["alpha"], kw["beta"] = kw.pop("ab")
    x, labels = _batch()
    want_v, want_g = _monai("TverskyLoss", dict(kw, to_onehot_y=True), x, labels)
    value, grad = monai.TverskyLoss(to_onehot_y=True, **kw).value_and_grad(x, labels)
    np.testing.assert_allclose(value, want_v, rtol=1e-10)
    np.testing.assert_allclose(grad, want_g, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("kw", _grid(include_background=[True, False], batch=[False, True],
                                     jaccard=[False, True], reduction=["mean", "sum"],
                                     lambdas=[(1.0, 1.0), (0.3, 2.0)],
                                     weighted=[False, True], label_smoothing=[0.0, 0.1]),
                         ids=lambda kw: "-".join(f"{v}" for v in kw.values()))
def test_monai_dice_ce_loss_equals_monai(kw):
    kw = dict(kw)
    kw["lambda_dice"], kw["lambda_ce"] = kw.pop("lambdas")
    if kw.pop("weighted"):
        kw["weight"] = [1.0, 2.0, 0.5, 1.5]
    x, labels = _batch()
    want_v, want_g = _monai("DiceCELoss", dict(kw, to_onehot_y=True, softmax=True), x, labels)
    loss = monai.DiceCELoss(to_onehot_y=True, softmax=True, **kw)
    assert isinstance(loss, onnxlosses.CombinedLoss)
    value, grad = loss.value_and_grad(x, labels)
    np.testing.assert_allclose(value, want_v, rtol=1e-10)
    np.testing.assert_allclose(grad, want_g, rtol=1e-8, atol=1e-12)
    # the class-index map without its channel axis is the same batch
    np.testing.assert_allclose(loss(x, labels[:, 0]), value, rtol=1e-12)


def test_monai_presets_refuse_what_they_cannot_honour():
    with pytest.raises(ValueError, match="other_act"):
        monai.DiceLoss(other_act=lambda z: z)
    with pytest.raises(ValueError, match="incompatible"):
        monai.DiceLoss(sigmoid=True, softmax=True)
    with pytest.raises(ValueError, match="lambda_ce"):
        monai.DiceCELoss(lambda_ce=-1.0)
    with pytest.raises(ValueError, match="soft_label"):
        monai.GeneralizedDiceLoss(soft_label=True)


def test_monai_no_background_exports_and_matches_onnxruntime():
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime runs the exported graph")
    x, labels = _batch()
    loss = monai.DiceLoss(softmax=True, include_background=False, reduction="none")
    model = loss.to_onnx(dtype="float64", grad=True)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    value, grad = sess.run(None, {"input": x, "target": labels[:, 0].astype(np.int64)})
    want_v, want_g = _monai("DiceLoss", dict(softmax=True, include_background=False,
                                             reduction="none", to_onehot_y=True), x, labels)
    assert value.shape == want_v.shape == (2, 3, 1, 1)
    np.testing.assert_allclose(value, want_v, rtol=1e-10)
    np.testing.assert_allclose(grad, want_g, rtol=1e-8, atol=1e-12)


def test_torchvision_sigmoid_focal_loss_takes_its_arguments():
    # torchvision does not install beside this torch: its formula, written out in torch
    # ops, is the oracle (as in torchvision.ops.sigmoid_focal_loss)
    x, _ = _batch()
    y = (np.random.default_rng(2).random(x.shape) < 0.3).astype(np.float64)
    xt, yt = torch.tensor(x), torch.tensor(y)
    p = torch.sigmoid(xt)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(xt, yt, reduction="none")
    p_t = p * yt + (1 - p) * (1 - yt)
    want = (0.3 * yt + 0.7 * (1 - yt)) * ce * (1 - p_t) ** 1.5
    np.testing.assert_allclose(torchvision.sigmoid_focal_loss(x, y, 0.3, 1.5, "mean"),
                               want.mean().numpy(), rtol=1e-12)
    np.testing.assert_allclose(torchvision.sigmoid_focal_loss(x, y), (
        (0.25 * yt + 0.75 * (1 - yt)) * ce * (1 - p_t) ** 2).numpy(), rtol=1e-12)


def test_smp_and_hubutui_names_build_the_presets():
    x, labels = _batch()
    t = labels[:, 0]
    assert smp.DiceLoss("multiclass")(x, t) == onnxlosses.DiceLoss.preset("smp")(x, t)
    assert smp.TverskyLoss("multiclass", alpha=0.3, beta=0.7, gamma=2.0)(x, t) == \
        onnxlosses.TverskyLoss.preset("smp", alpha=0.3, beta=0.7, gamma=2.0)(x, t)
    with pytest.raises(ValueError, match="mode=binary"):
        smp.DiceLoss("binary", classes=[0])
    # the seed's ignore_index skips a class channel, whatever the number of classes
    skip = hubutui.DiceLoss(ignore_index=2)
    assert skip.config["_skip_class"] == 2
    assert np.isfinite(skip(x, t))
    assert np.isfinite(hubutui.BinaryDiceLoss()(1 / (1 + np.exp(-x[:, 0])),
                                                 (t == 1).astype(np.float64)))
