"""The README's usage example runs as written."""
import pathlib
import re

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def test_usage_example_runs(capsys):
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text[:text.index("### On Dask arrays")],
                        flags=re.S)
    assert blocks, "README has no python example"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {})
    assert "onnxruntime:CPUExecutionProvider" in capsys.readouterr().out


def test_dask_example_runs():
    import pytest
    pytest.importorskip("dask.array", reason="dask is an optional dependency")
    text = README.read_text()
    block = text[text.index("### On Dask arrays"):]
    code = re.findall(r"```python\n(.*?)```", block, flags=re.S)[0]
    code = code.replace("(16, 4, 256, 256), chunks=(4, 4, 128, 128)",
                        "(6, 4, 32, 32), chunks=(4, 4, 16, 16)")
    code = code.replace("(16, 256, 256), chunks=(4, 128, 128)", "(6, 32, 32), chunks=(4, 16, 16)")
    env = {}
    exec(compile(code, str(README), "exec"), env)
    import numpy as np
    x, t = env["x"].compute(), env["t"].compute()
    np.testing.assert_allclose(env["value"], env["loss"](x, t), rtol=1e-10)
