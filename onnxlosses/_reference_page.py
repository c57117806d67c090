"""The per-loss reference page (docs/losses.md), written from the loss registry.

Every line of the page comes from a loss's spec, its class and its functional: the
parameters with their defaults and docs, the formula, the input and target kinds, the mask,
reduction "none"'s shape, the ONNX emitters, the references each loss is checked against,
the presets and the main configurations the parity grid and the tests run.  Nothing is
typed twice, so the page cannot drift from the code; ``tests/test_docs.py`` fails when the
committed page is not what this module renders.

Regenerate it with::

    python -m onnxlosses._reference_page > docs/losses.md
"""
import inspect

import numpy as np

COMMAND = "python -m onnxlosses._reference_page > docs/losses.md"

_INPUT = {
    "logits": "logits (unnormalised scores)",
    "log_probabilities": "log-probabilities (the output of a log-softmax)",
    "probabilities": "probabilities in [0, 1]",
}
_TARGETS = {
    "index": "class indices of the input's shape without its class axis "
             "(uint8, int16, int32 or int64, read in place)",
    "probabilities": "class probabilities of the input's shape (any float dtype)",
    "dense": "float targets of the input's shape (hard 0/1 or soft)",
}
_EXAMPLE_TARGETS = {
    "index": "class indices",
    "index255": "uint8 class indices with void pixels 255",
    "index-1": "int32 class indices with ignored -1",
    "probabilities": "class probabilities",
    "dense": "dense targets",
}
_SYMBOLIC = ("N", "C", "H", "W")   # the input shape reduction "none" is shown for
_EXAMPLE_C = 3                     # the number of classes configurations are shown for


def _signature(fn):
    """fn's signature without annotations (they are strings naming private aliases)."""
    sig = inspect.signature(fn)
    empty = inspect.Parameter.empty
    return str(sig.replace(parameters=[p.replace(annotation=empty)
                                       for p in sig.parameters.values()],
                           return_annotation=empty))


def _summary(obj):
    """The first paragraph of obj's docstring, on one line."""
    doc = inspect.getdoc(obj) or ""
    return " ".join(doc.split("\n\n")[0].split())


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _value(v):
    if isinstance(v, np.ndarray):
        return repr(np.round(v, 6).tolist())
    return repr(v)


def _dotted(package, path):
    module, name = path.split(":")
    return f"{package}.{module}.{name}"


def _config(spec):
    """The default configuration, or the first example's where the defaults configure
    nothing (a combined loss's terms)."""
    try:
        return spec.bind({})
    except ValueError:
        return spec.examples[0].build(_class_of(spec), _EXAMPLE_C).config


def _defaults_bind(spec):
    try:
        spec.bind({})
        return True
    except ValueError:
        return False


def _class_of(spec):
    from ._registry import LOSSES
    return next(cls for cls in LOSSES if cls.spec is spec)


def _targets(spec):
    """One line per target kind, the default first; for a loss whose kinds depend on its
    configuration, the rule (its docstring) and the kinds of the default configuration."""
    kinds = spec.target_kinds(_config(spec))
    lines = [f"`{kind}`{' (default)' if i == 0 and len(kinds) > 1 else ''}: {_TARGETS[kind]}"
             for i, kind in enumerate(kinds)]
    return lines


def _input_shape(spec):
    if spec.mask_over == "elements":
        indices = "index" in spec.target_kinds(_config(spec))
        return "any shape" + (" (with class-index targets `(N, C, d1, ..., dk)`)"
                              if indices else "")
    return "`(C,)`, `(N, C)` or `(N, C, d1, ..., dk)`"


def _mask(spec):
    if not spec.takes_mask:
        return "no `mask=` (as PyTorch's loss)"
    if spec.mask_over == "positions":
        return ("`mask=`: boolean, the input's shape without its class axis; "
                "False positions are ignored")
    return ("`mask=`: boolean, the input's shape (with class-index targets, the targets' "
            "shape); False elements are ignored")


def _loss_shape(spec):
    shape = spec.loss_shape(_config(spec), _SYMBOLIC)
    if not shape:
        return "() (one value)"
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _example(cls, example):
    params = example.params(_EXAMPLE_C) if callable(example.params) else example.params
    call = ", ".join(f"{k}={_value(v)}" for k, v in params.items())
    where = f'{cls.__name__}.preset("{example.preset}"' + (f", {call})" if call else ")") \
        if example.preset else f"{cls.__name__}({call})"
    extra = ", with a mask" if example.mask else ""
    label = f" ({example.label})" if example.label else ""
    return f"`{where}`{label}: {_EXAMPLE_TARGETS[example.targets]}{extra}"


def _section(cls):
    import onnxlosses
    spec = cls.spec
    fn = getattr(onnxlosses, spec.name, None)
    lines = [f"## {cls.__name__}", "", _summary(cls), ""]
    lines.append(f"- Class: `onnxlosses.{cls.__name__}{_signature(cls)}`")
    if fn is not None:
        lines.append(f"- Functional: `onnxlosses.{spec.name}{_signature(fn)}`")
    lines.append(f"- Input: {_INPUT[spec.input]}, {_input_shape(spec)}")
    targets = _targets(spec)
    head = "- Targets"
    if callable(spec.targets):
        which = "The defaults take" if _defaults_bind(spec) else \
            "Its first configuration below takes"
        head += f" (they depend on the configuration: {_summary(spec.targets)} {which})"
    lines.append(f"{head}: {targets[0]}" if len(targets) == 1 else f"{head}:")
    if len(targets) > 1:
        lines += [f"  - {t}" for t in targets]
    lines.append(f"- Mask: {_mask(spec)}")
    lines.append(f"- Reduction \"none\" (default configuration) on an (N, C, H, W) input: "
                 f"shape {_loss_shape(spec)}")
    onnx = f"`{_dotted('onnxlosses.onnx', spec.emit)}` (`impl=\"composed\"`)"
    if spec.emit_native:
        onnx += f", `{_dotted('onnxlosses.onnx', spec.emit_native)}` (`impl=\"native\"`)"
    lines.append(f"- ONNX emitter: {onnx}")
    torch = "PyTorch's own loss" if spec.torch_has_loss else \
        "composed from PyTorch ops, the gradient by autograd"
    lines.append(f"- Checked against: `{_dotted('onnxlosses.references', spec.reference)}` "
                 f"(float64 NumPy, written from the formula) and "
                 f"`{_dotted('onnxlosses.references', spec.torch_reference)}` ({torch})")
    lines += ["", "Formula:", "", "```text",
              inspect.cleandoc(spec.formula), "```", "",
              "| parameter | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{p.name}` | `{_value(p.default)}` | {_cell(p.doc)} |" for p in spec.public]
    preset = getattr(cls, "preset", None)
    if preset is not None:
        lines += ["", f"Presets, `{cls.__name__}.preset(name, **overrides)`: "
                  f"{' '.join(inspect.getdoc(preset).split())}"]
    lines += ["", f"Main configurations (the parity grid and the registry tests run these; "
                  f"arrays shown for C = {_EXAMPLE_C}):", ""]
    lines += [f"- {_example(cls, e)}" for e in spec.examples]
    return lines


def render():
    """The text of docs/losses.md."""
    from ._registry import LOSSES
    lines = ["<!-- Generated from the loss registry by `" + COMMAND + "`;",
             "     do not edit by hand. -->", "",
             "# Loss reference", "",
             "Every loss of `onnxlosses._registry.LOSSES`, as its spec (`LossSpec`) describes "
             "it. `help(onnxlosses.DiceLoss)` shows the same parameters. Formulas in full, "
             "reductions and conventions: [semantics.md](semantics.md); presets compared: "
             "[presets.md](presets.md).", ""]
    lines += [f"- [{cls.__name__}](#{cls.__name__.lower()})" for cls in LOSSES]
    for cls in LOSSES:
        lines += [""] + _section(cls)
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(render(), end="")
