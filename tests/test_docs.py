"""docs/losses.md is what the loss registry says: the page is generated, never edited."""
import pathlib

from onnxlosses import _reference_page

PAGE = pathlib.Path(__file__).resolve().parent.parent / "docs" / "losses.md"


def test_loss_reference_page_is_generated_from_the_registry():
    assert PAGE.read_text() == _reference_page.render(), (
        f"docs/losses.md is out of date with the loss registry; regenerate it with "
        f"`{_reference_page.COMMAND}`")


def test_loss_reference_page_covers_every_public_parameter():
    from onnxlosses._registry import LOSSES
    text = PAGE.read_text()
    for cls in LOSSES:
        section = text.split(f"\n## {cls.__name__}\n", 1)[1].split("\n## ", 1)[0]
        for p in cls.spec.public:
            assert f"| `{p.name}` | `" in section, (cls.__name__, p.name)
        assert not any(f"`{p.name}`" in section for p in cls.spec.params if p.internal)
