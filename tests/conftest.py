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
