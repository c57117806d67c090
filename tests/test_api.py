"""The public API as a user and an editor see it: explicit keyword parameters with the
spec's defaults and docs, functionals that take the same keywords, internal switches kept
out of both."""
import inspect
import pathlib

import numpy as np
import pytest

import onnxlosses
from onnxlosses._base import Loss

CLASSES = [getattr(onnxlosses, n) for n in onnxlosses.__all__
           if isinstance(getattr(onnxlosses, n), type) and issubclass(getattr(onnxlosses, n), Loss)]


def test_every_loss_has_its_functional_by_its_spec_name():
    # a loss's functional is onnxlosses.<spec.name> (PyTorch's names where it has the loss),
    # exported beside its class: adding a loss to the registry is all this test needs
    for cls in CLASSES:
        fn = getattr(onnxlosses, cls.spec.name, None)
        assert callable(fn) and cls.spec.name in onnxlosses.__all__, cls.spec.name


def _keywords(fn, skip):
    return {n: p.default for n, p in inspect.signature(fn).parameters.items() if n not in skip}


def _same(a, b):
    return (a is None and b is None) or (a is not None and b is not None and a == b)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_constructor_signature_is_the_spec(cls):
    sig = inspect.signature(cls)
    params = list(sig.parameters.values())
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY or p.name in cls.spec.positional
               for p in params)
    assert [p.name for p in params] == [p.name for p in cls.spec.public]
    for p, q in zip(params, cls.spec.public):
        assert _same(p.default, q.default), p.name
        assert p.annotation is not inspect.Parameter.empty, p.name
        assert q.doc, f"{cls.__name__}.{q.name} has no doc"
    assert all(not p.name.startswith("_") for p in params)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_functional_takes_the_same_keywords(cls):
    fn = getattr(onnxlosses, cls.spec.name)
    got = _keywords(fn, {"input", "target", "mask"})
    want = {p.name: p.default for p in cls.spec.public}
    assert got.keys() == want.keys()
    assert all(_same(got[k], want[k]) for k in want)
    takes_mask = cls not in (onnxlosses.BCELoss, onnxlosses.BCEWithLogitsLoss)  # as PyTorch's
    assert ("mask" in inspect.signature(fn).parameters) == takes_mask


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_help_shows_every_parameter(cls):
    text = inspect.getdoc(cls) + str(inspect.signature(cls))
    for p in cls.spec.public:
        assert p.name in text


@pytest.mark.parametrize("cls", [c for c in CLASSES if any(p.internal for p in c.spec.params)],
                         ids=lambda c: c.__name__)
def test_internal_switches_are_not_parameters(cls):
    internal = next(p for p in cls.spec.params if p.internal)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        cls(**{internal.name: internal.default})
    if hasattr(cls, "preset"):
        with pytest.raises(TypeError, match="unexpected keyword argument"):
            cls.preset("smp" if cls is not onnxlosses.GeneralizedDiceLoss else "monai",
                       **{internal.name: internal.default})


def test_presets_still_set_internal_switches():
    loss = onnxlosses.DiceLoss.preset("monai", softmax=True)
    assert loss.config["_weight_mean"] == "count"
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    t = np.array([[0, 1, 2, 0], [1, 1, 2, 2]])
    assert np.isfinite(loss(x, t))


def test_functional_refuses_unknown_keywords():
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        onnxlosses.dice_loss(np.zeros((1, 2, 2)), np.zeros((1, 2), np.int64), smoth=1.0)


def test_package_is_typed():
    assert (pathlib.Path(onnxlosses.__file__).parent / "py.typed").exists()
