"""The real MONAI and segmentation_models_pytorch (smp) losses, the live oracles of the Dice
presets (tests/test_presets_live.py).

`monai_losses()` and `smp_losses()` return the libraries' `losses` modules, or skip the
calling test with a reason that names the library ("monai ..." / "smp ..."): .ci/run fails CI
on such a skip, as on a skipped PyTorch reference.

smp's package `__init__` imports timm and torchvision (for its models), which do not install
beside torch 2.13; its `losses` subpackage needs torch only.  It is imported here without
running that `__init__`: a bare module object stands in for the package in `sys.modules`,
with the installed package directory as its `__path__`, so that the import system finds the
subpackage where pip put it; afterwards the stand-in leaves `sys.modules` again.  (If the
package itself is already imported, that is used.)
"""
import importlib
import importlib.metadata
import importlib.util
import sys
import types

import pytest

SMP = "segmentation_models_pytorch"


def _skip(library, exc):
    pytest.skip(f"{library} is not importable, the live {library} preset checks did not run: "
                f"{type(exc).__name__}: {exc}")


def monai_losses():
    """`monai.losses` (MONAI's own package `__init__` needs only numpy and torch)."""
    try:
        return importlib.import_module("monai.losses")
    except Exception as exc:   # ImportError, or a version of it that fails on import
        _skip("monai", exc)


_smp = []


def smp_losses():
    """`segmentation_models_pytorch.losses`, imported without the package's `__init__`."""
    if _smp:
        return _smp[0]
    if SMP in sys.modules:                       # the real package, imported by someone
        try:
            return importlib.import_module(SMP + ".losses")
        except Exception as exc:
            _skip("smp", exc)
    before = set(sys.modules)
    try:
        spec = importlib.util.find_spec(SMP)
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(f"no package {SMP} installed")
        package = types.ModuleType(SMP)
        package.__path__ = list(spec.submodule_search_locations)
        package.__spec__ = spec
        sys.modules[SMP] = package
        _smp.append(importlib.import_module(SMP + ".losses"))
        return _smp[0]
    except Exception as exc:
        _skip("smp", exc)
    finally:
        # The stand-in and what was imported through it leave sys.modules again (the losses
        # module is kept here; it imports nothing more when called): a later
        # `import segmentation_models_pytorch` elsewhere in the process (the benchmarks'
        # contenders) sees the installed package as it is, not this stand-in.
        for name in set(sys.modules) - before:
            if name == SMP or name.startswith(SMP + "."):
                del sys.modules[name]


def version(distribution):
    """The installed version of a distribution ("monai", "segmentation-models-pytorch")."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One thread on both sides, for a module that imports this fixture: the live cases are
    tiny, where thread start-up dominates (and results do not depend on the thread count:
    tests/test_threads.py)."""
    import onnxlosses
    import torch
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with onnxlosses.threads(1):
            yield
    finally:
        torch.set_num_threads(torch_threads)
