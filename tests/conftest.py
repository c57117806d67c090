import os

import pytest


def pytest_configure(config):
    # CI sets this: PyTorch is the reference, and a parity suite that skips is not a pass.
    if os.environ.get("ONNXLOSSES_REQUIRE_TORCH"):
        try:
            import torch  # noqa: F401
        except ImportError as exc:
            pytest.exit(f"ONNXLOSSES_REQUIRE_TORCH is set but torch does not import: {exc}",
                        returncode=3)
    # `make sanitize` sets this to its build directory: a run that imports the normal build
    # (or an uninstrumented one) would pass without having checked anything.
    sanitized = os.environ.get("ONNXLOSSES_SANITIZED")
    if sanitized:
        import onnxlosses._openmp as ext
        here = os.path.realpath(os.path.dirname(ext.__file__))
        want = os.path.realpath(os.path.join(sanitized, "onnxlosses"))
        with open(ext.__file__, "rb") as fh:
            instrumented = b"__asan_init" in fh.read()
        if here != want or not instrumented:
            pytest.exit(f"ONNXLOSSES_SANITIZED={sanitized} but onnxlosses' kernels load from "
                        f"{here} ({'' if instrumented else 'not '}instrumented)", returncode=3)
