"""The README's and the docs pages' python examples run as written (big shapes shrunk)."""
import pathlib
import re

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))

# Shapes the examples show, and the smaller ones the tests run them with.
SHRINK = {
    "(16, 4, 256, 256), chunks=(4, 4, 128, 128)": "(6, 4, 32, 32), chunks=(4, 4, 16, 16)",
    "(16, 256, 256), chunks=(4, 128, 128)": "(6, 32, 32), chunks=(4, 16, 16)",
}


def _blocks():
    for page in PAGES:
        for i, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.S)):
            yield pytest.param(page, code, id=f"{page.relative_to(ROOT)}-{i}")


BLOCKS = list(_blocks())


def test_the_docs_have_examples():
    assert {p.values[0].name for p in BLOCKS} >= {"README.md", "statistics.md", "onnx.md",
                                                  "parity.md", "presets.md"}


def test_every_shrunk_shape_is_in_an_example():
    code = "".join(p.values[1] for p in BLOCKS)
    assert all(shape in code for shape in SHRINK), "an example no longer shows this shape"


@pytest.mark.parametrize("page, code", BLOCKS)
def test_example_runs(page, code, capsys):
    if "dask" in code:
        pytest.importorskip("dask.array", reason="dask is an optional dependency")
    for big, small in SHRINK.items():
        code = code.replace(big, small)
    env = {}
    exec(compile(code, str(page), "exec"), env)
    if "onnxlosses.dask" in code:
        x, t = env["x"].compute(), env["t"].compute()
        np.testing.assert_allclose(env["value"], env["loss"](x, t), rtol=1e-10)
    if "report.table()" in code:
        assert "onnxruntime:CPUExecutionProvider" in capsys.readouterr().out


def _anchors(page):
    """GitHub's anchors of a page's headings."""
    heads = re.findall(r"^#+ (.+)$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in heads}


def test_links_between_pages_resolve():
    for page in PAGES:
        for target, anchor in re.findall(r"\]\(([^)#:]*?)(?:#([^)]*))?\)", page.read_text()):
            path = page.parent / target if target else page
            if target == "cuda.md" and not path.exists():   # a page of its own, added apart
                continue
            assert path.exists(), f"{page.name} links to missing {target}"
            if anchor and path.suffix == ".md":
                assert anchor in _anchors(path), f"{page.name} links to {target}#{anchor}"
