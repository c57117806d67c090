"""What an installed onnxlosses offers besides the losses: one version everywhere, and a
message naming the extra to install when an optional dependency is missing."""
import importlib.metadata
import subprocess
import sys

import onnxlosses


def python(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300)


def test_version_is_the_same_everywhere():
    res = python("-m", "onnxlosses", "--version")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"onnxlosses {onnxlosses.__version__}"
    try:
        installed = importlib.metadata.version("onnxlosses")
    except importlib.metadata.PackageNotFoundError:
        installed = None          # a checkout's in-place build has no distribution metadata
    assert installed in (None, onnxlosses.__version__)


def test_import_does_not_import_the_optional_dependencies():
    res = python("-c", "import sys, onnxlosses; "
                       "print(sorted({'dask', 'torch'} & set(sys.modules)))")
    assert res.returncode == 0 and res.stdout.strip() == "[]", res.stdout + res.stderr


def test_missing_dask_names_the_extra():
    res = python("-c", "import sys; sys.modules['dask'] = None; import onnxlosses.dask")
    assert res.returncode != 0
    assert "ImportError: onnxlosses.dask needs dask" in res.stderr, res.stderr
    assert "pip install 'onnxlosses[dask]'" in res.stderr
