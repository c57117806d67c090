"""onnxlosses.torch: every registered loss as a PyTorch module and functional, through
autograd (gradcheck), against the PyTorch references, under torch.compile(fullgraph=True)
and torch.export, on the memory layouts and dtypes of CPU training.

Driven by the registry: every loss's main configurations (spec examples) and their
reduction "none" form, so a loss added to the registry is covered here without edits."""
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import onnxlosses  # noqa: E402
import onnxlosses.torch as olt  # noqa: E402
from onnxlosses._parity_grid import _data, configurations  # noqa: E402
from onnxlosses.references import torch_reference  # noqa: E402


def _none(loss):
    if "reduction" not in loss.config or loss.config["reduction"] == "none":
        return None
    return type(loss)._from_config(dict(loss.config, reduction="none"))


def _cases(C=3):
    out = []
    for name, loss, kind, use_mask in configurations(C=C):
        out.append((name, loss, kind, use_mask))
        other = _none(loss)
        if other is not None:
            out.append((f"{name} none", other, kind, use_mask))
    return out


CASES = _cases()
IDS = [c[0].replace(" ", "-") for c in CASES]


def _batch(loss, kind, use_mask, shape, dtype="float64", seed=0):
    x, t = _data(kind, shape, dtype, seed, loss.spec.input)
    mask = None
    if use_mask:
        mask = np.random.default_rng([seed, 1]).random((shape[0],) + shape[2:]) < 0.8
    return x, t, mask


def _tensors(x, t, mask):
    return (torch.from_numpy(np.array(x)), torch.from_numpy(np.array(t)),
            None if mask is None else torch.from_numpy(mask))


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_import_onnxlosses_does_not_import_torch():
    code = "import sys, onnxlosses; import onnxlosses.dice; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_every_registered_loss_has_a_module_and_a_functional():
    from onnxlosses._registry import LOSSES
    for cls in LOSSES:
        module = getattr(olt, cls.__name__)
        assert issubclass(module, torch.nn.Module) and module.loss_class is cls
        assert callable(getattr(olt, cls.spec.name))
        assert cls.__name__ in olt.__all__ and cls.spec.name in olt.__all__


@pytest.mark.parametrize("name, loss, kind, use_mask", CASES, ids=IDS)
def test_gradcheck(name, loss, kind, use_mask):
    x, t, mask = _batch(loss, kind, use_mask, (2, 3, 3, 2))
    xt, tt, mt = _tensors(x, t, mask)
    module = olt.from_loss(loss)
    xt.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: module(a, tt, mt), (xt,), eps=1e-6,
                                    atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name, loss, kind, use_mask", CASES, ids=IDS)
def test_value_and_gradient_equal_the_pytorch_reference(name, loss, kind, use_mask, dtype):
    x, t, mask = _batch(loss, kind, use_mask, (2, 3, 5, 4), dtype, seed=1)
    xt, tt, mt = _tensors(x, t, mask)
    xt.requires_grad_(True)
    value = olt.from_loss(loss)(xt, tt, mt)
    go = np.random.default_rng(2).random(value.shape).astype(dtype)
    (value * torch.from_numpy(go)).sum().backward()
    ref_value, ref_grad = torch_reference(loss, x, t, mask=mask,
                                          grad_output=go if value.dim() else None)
    if not value.dim():
        ref_grad = ref_grad * go
    tol = dict(rtol=1e-9, atol=1e-11) if dtype == "float64" else dict(rtol=2e-5, atol=1e-6)
    assert value.dtype == xt.dtype and xt.grad.dtype == xt.dtype
    np.testing.assert_allclose(value.detach().numpy(), ref_value, equal_nan=True, **tol)
    np.testing.assert_allclose(xt.grad.numpy(), ref_grad, **tol)


def _pytorch_pairs():
    w = torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64)
    x = torch.randn(4, 3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    idx = torch.randint(0, 3, (4, 5), generator=torch.Generator().manual_seed(4))
    idx[0, 0] = 255
    p = torch.rand(4, 3, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    y = (p > 0.5).double()
    nn = torch.nn
    return [
        ("ce", olt.CrossEntropyLoss(weight=w, ignore_index=255, label_smoothing=0.1),
         nn.CrossEntropyLoss(weight=w, ignore_index=255, label_smoothing=0.1), x, idx),
        ("ce-none", olt.CrossEntropyLoss(reduction="none", ignore_index=255),
         nn.CrossEntropyLoss(reduction="none", ignore_index=255), x, idx),
        ("nll", olt.NLLLoss(weight=w.numpy(), ignore_index=255),
         nn.NLLLoss(weight=w, ignore_index=255), x.log_softmax(1), idx),
        ("bce", olt.BCELoss(reduction="sum"), nn.BCELoss(reduction="sum"), p, y),
        ("bce-logits", olt.BCEWithLogitsLoss(pos_weight=torch.tensor([[2.0]])),
         nn.BCEWithLogitsLoss(pos_weight=torch.tensor([[2.0]], dtype=torch.float64)), x, y),
    ]


@pytest.mark.parametrize("name, ours, theirs, x, t", _pytorch_pairs(),
                         ids=[c[0] for c in _pytorch_pairs()])
def test_equals_pytorchs_own_modules(name, ours, theirs, x, t):
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    va, vb = ours(a, t), theirs(b, t)
    go = torch.rand(va.shape, dtype=va.dtype, generator=torch.Generator().manual_seed(6))
    (va * go).sum().backward()
    (vb * go).sum().backward()
    torch.testing.assert_close(va, vb, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-12, atol=1e-14)


def test_torchvision_sigmoid_focal_formula():
    # torchvision.ops.sigmoid_focal_loss, written out (torchvision is not a dependency)
    g = torch.Generator().manual_seed(7)
    x = torch.randn(3, 4, 5, dtype=torch.float64, generator=g, requires_grad=True)
    y = (torch.rand(3, 4, 5, dtype=torch.float64, generator=g) > 0.7).double()
    p = torch.sigmoid(x)
    ce = torch.nn.functional.binary_cross_entropy_with_logits(x, y, reduction="none")
    p_t = p * y + (1 - p) * (1 - y)
    want = ((0.25 * y + 0.75 * (1 - y)) * ce * (1 - p_t) ** 2).mean()
    (gw,) = torch.autograd.grad(want, x)
    got = olt.sigmoid_focal_loss(x, y, alpha=0.25, gamma=2.0, reduction="mean")
    (gg,) = torch.autograd.grad(got, x)
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(gg, gw)


def _seg_batch(dtype=torch.float32, seed=8):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(2, 4, 6, 5, generator=g).to(dtype)
    t = torch.randint(0, 4, (2, 6, 5), generator=g, dtype=torch.uint8)
    t[0, 0, :2] = 255
    return x, t


def _reference_grad(module, x, t):
    loss = module.loss
    v, gr = torch_reference(loss, x.detach().double().numpy(), t.numpy())
    return torch.from_numpy(np.asarray(v)), torch.from_numpy(gr)


@pytest.mark.parametrize("layout", ["channels_last", "sliced", "expanded-target"])
@pytest.mark.parametrize("module", [olt.CrossEntropyLoss(ignore_index=255),
                                    olt.DiceLoss(ignore_index=255),
                                    olt.FocalLoss(ignore_index=255, alpha=0.5)],
                         ids=["ce", "dice", "focal"])
def test_layouts(module, layout):
    x, t = _seg_batch(torch.float64)
    if layout == "channels_last":
        x = x.contiguous(memory_format=torch.channels_last)
    elif layout == "sliced":
        big = torch.zeros(2, 8, 6, 10, dtype=torch.float64)
        big[:, ::2, :, ::2] = x
        x = big[:, ::2, :, ::2]
        t = torch.zeros(2, 6, 10, dtype=torch.uint8).index_put_(
            (torch.arange(2)[:, None, None], torch.arange(6)[None, :, None],
             torch.arange(0, 10, 2)[None, None, :]), t)[:, :, ::2]
    else:
        t = t[:1].expand(2, 6, 5)
    assert not x.is_contiguous() or not t.is_contiguous()
    x.requires_grad_(True)
    value = module(x, t)
    value.backward()
    ref_v, ref_g = _reference_grad(module, x, t)
    torch.testing.assert_close(value, ref_v.to(value.dtype))
    torch.testing.assert_close(x.grad, ref_g)
    if layout == "channels_last":       # the gradient is allocated like the input
        assert x.grad.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("dtype, tol", [(torch.float16, 2e-3), (torch.bfloat16, 1.6e-2)])
@pytest.mark.parametrize("module", [olt.CrossEntropyLoss(ignore_index=255),
                                    olt.DiceLoss(ignore_index=255)], ids=["ce", "dice"])
def test_half_precision_inputs(module, dtype, tol):
    x, t = _seg_batch()
    xh = x.to(dtype).contiguous(memory_format=torch.channels_last).requires_grad_(True)
    value = module(xh, t)
    value.backward()
    assert value.dtype == dtype and xh.grad.dtype == dtype
    # computed in float32 from the rounded input: compare with float64 on the same values
    ref_v, ref_g = _reference_grad(module, xh.detach(), t)
    torch.testing.assert_close(value.double(), ref_v, rtol=tol, atol=tol)
    torch.testing.assert_close(xh.grad.double(), ref_g, rtol=tol, atol=tol * 0.1)


def test_integer_targets_of_every_width():
    x, t = _seg_batch(torch.float64)
    t = t.clamp_max(3)
    want = olt.CrossEntropyLoss()(x, t.long())
    for dtype in (torch.uint8, torch.int16, torch.int32):
        torch.testing.assert_close(olt.CrossEntropyLoss()(x, t.to(dtype)), want)


def test_weights_as_tensors_arrays_and_buffers():
    w = [0.5, 1.0, 2.0, 1.5]
    x, t = _seg_batch(torch.float64)
    a = olt.CrossEntropyLoss(weight=torch.tensor(w), ignore_index=255)
    b = olt.CrossEntropyLoss(weight=np.array(w), ignore_index=255)
    assert "weight" in dict(a.named_buffers()) and "weight" in a.state_dict()
    torch.testing.assert_close(a(x, t), b(x, t))
    torch.testing.assert_close(a(x, t), olt.cross_entropy(x, t, weight=torch.tensor(w),
                                                         ignore_index=255))
    torch.testing.assert_close(a(x, t), olt.cross_entropy(x, t, weight=w, ignore_index=255))
    with pytest.raises(ValueError, match="weight"):
        olt.cross_entropy(x, t, weight=torch.tensor([1.0, -1.0, 1.0, 1.0]), ignore_index=255)
    with pytest.raises(AttributeError, match="build a new CrossEntropyLoss"):
        a.ignore_index = 0
    assert a.ignore_index == 255 and olt.CrossEntropyLoss().weight is None
    assert repr(a) == "CrossEntropyLoss(weight=[0.5, 1. , 2. , 1.5], ignore_index=255)"


def test_from_loss_and_presets():
    x, t = _seg_batch(torch.float64)
    t = t.clamp_max(3)
    numpy_loss = onnxlosses.DiceLoss.preset("smp")
    module = olt.DiceLoss.preset("smp")
    torch.testing.assert_close(module(x, t), olt.from_loss(numpy_loss)(x, t))
    v = numpy_loss(x.numpy(), t.numpy())
    torch.testing.assert_close(module(x, t), torch.tensor(float(v), dtype=torch.float64))
    with pytest.raises(TypeError, match="registry"):
        olt.from_loss(object())


def test_thread_count_follows_torch_unless_set(monkeypatch):
    from onnxlosses import _threads
    monkeypatch.setattr(_threads, "_default", [None])      # as if nothing set it before
    monkeypatch.setattr(_threads, "_chosen", [False])
    seen = []
    real = onnxlosses.CrossEntropyLoss.value_and_grad

    def spy(self, *args, **kwargs):
        seen.append(onnxlosses.get_num_threads())
        return real(self, *args, **kwargs)

    monkeypatch.setattr(onnxlosses.CrossEntropyLoss, "value_and_grad", spy)
    x, t = _seg_batch()
    x.requires_grad_(True)
    torch.set_num_threads(2)
    olt.CrossEntropyLoss(ignore_index=255)(x, t)
    with onnxlosses.threads(1):
        olt.CrossEntropyLoss(ignore_index=255)(x, t)
    assert _threads.chosen_num_threads() is None
    onnxlosses.set_num_threads(3)
    olt.CrossEntropyLoss(ignore_index=255)(x, t)
    assert seen == [2, 1, 3]


def test_double_backward_is_a_clear_error():
    x, t = _seg_batch(torch.float64)
    x.requires_grad_(True)
    value = olt.CrossEntropyLoss(ignore_index=255)(x, t)
    with pytest.raises(RuntimeError, match="double backward"):
        torch.autograd.grad(value, x, create_graph=True)


def test_a_target_that_requires_grad_is_a_clear_error():
    x = torch.rand(3, 4, dtype=torch.float64, requires_grad=True)
    y = torch.rand(3, 4, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match=r"input only.*torch\.nn\.BCELoss"):
        olt.BCELoss()(x, y)
    olt.BCELoss()(x, y.detach()).backward()


@pytest.mark.parametrize("call", ["module", "functional"])
def test_other_devices_are_a_clear_error(call):
    x = torch.empty(2, 3, 4, device="meta", requires_grad=True)
    t = torch.zeros(2, 4, dtype=torch.long, device="meta")
    with pytest.raises(ValueError, match=r"CPU tensors only.*meta.*torch\.nn\."):
        if call == "module":
            olt.CrossEntropyLoss()(x, t)
        else:
            olt.cross_entropy(x, t)
    with pytest.raises(ValueError, match="composed from PyTorch's ops"):
        olt.DiceLoss()(x, t)


def test_torch_export_keeps_one_operator():
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 1)
            self.loss = olt.CrossEntropyLoss(weight=torch.tensor([1.0, 2.0, 1.0, 1.0]),
                                             ignore_index=255)

        def forward(self, x, t):
            return self.loss(self.conv(x), t)

    net = Net()
    x = torch.randn(2, 3, 6, 5)
    _, t = _seg_batch()
    program = torch.export.export(net, (x, t))
    ops = [n for n in program.graph.nodes if n.op == "call_function"
           and "onnxlosses" in str(n.target)]
    assert len(ops) == 1 and str(ops[0].target) == "onnxlosses.loss.default"
    torch.testing.assert_close(program.module()(x, t), net(x, t))


def test_compiled_training_step_equals_eager():
    """The forward and the loss compiled as one graph (fullgraph: a graph break raises),
    AOTAutograd's backward graph calling the saved gradient; SGD steps in between."""
    dice = olt.DiceLoss(ignore_index=255)
    ce = olt.CrossEntropyLoss(ignore_index=255)

    def make():
        torch.manual_seed(0)
        return torch.nn.Conv2d(3, 4, 3, padding=1)

    def forward(net, x, t):
        out = net(x)
        return ce(out, t) + 0.5 * dice(out, t) + olt.focal_loss(out, t, ignore_index=255)

    g = torch.Generator().manual_seed(9)
    x = torch.randn(2, 3, 6, 5, generator=g)
    _, t = _seg_batch()
    nets = [make(), make()]
    opts = [torch.optim.SGD(n.parameters(), lr=0.5) for n in nets]
    compiled = torch.compile(forward, fullgraph=True)
    for _ in range(3):
        losses = []
        for net, opt, fn in zip(nets, opts, (forward, compiled)):
            opt.zero_grad()
            loss = fn(net, x, t)
            loss.backward()
            opt.step()
            losses.append(loss.detach())
        torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(nets[0].parameters(), nets[1].parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert not torch.equal(nets[0].weight, make().weight)      # it trained


@pytest.mark.parametrize("ours, theirs", [
    (lambda: olt.DiceLoss.preset("monai", softmax=True),
     lambda m: m.DiceLoss(softmax=True, to_onehot_y=True)),
    (lambda: olt.DiceLoss.preset("monai", softmax=True, include_background=False,
                                 num_classes=4, batch=True),
     lambda m: m.DiceLoss(softmax=True, to_onehot_y=True, include_background=False,
                          batch=True)),
    (lambda: olt.GeneralizedDiceLoss.preset("monai", softmax=True),
     lambda m: m.GeneralizedDiceLoss(softmax=True, to_onehot_y=True)),
], ids=["dice", "dice-no-background-batch", "generalized"])
def test_monai_presets_equal_monai(ours, theirs):
    monai_losses = pytest.importorskip("monai.losses", reason="the test extra installs MONAI")
    x, t = _seg_batch(torch.float64)
    t = t.clamp_max(3)
    a, b = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    va, vb = ours()(a, t), theirs(monai_losses)(b, t.long()[:, None])
    va.backward()
    vb.backward()
    # generalized Dice's weights 1/T^2 amplify the rounding of MONAI's order of sums
    torch.testing.assert_close(va, vb, rtol=1e-8, atol=1e-12)
    torch.testing.assert_close(a.grad, b.grad, rtol=1e-6, atol=1e-10)
