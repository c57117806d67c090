"""onnxlosses: fast OpenMP CPU kernels for training losses and their gradients on NumPy
arrays, with PyTorch's semantics."""
__version__ = "0.1.0"

from ._config import build_info, show_config
from ._threads import get_num_threads, set_num_threads, threads
from .cross_entropy import CrossEntropyLoss, NLLLoss, cross_entropy, nll_loss

__all__ = [
    "CrossEntropyLoss",
    "NLLLoss",
    "build_info",
    "cross_entropy",
    "get_num_threads",
    "nll_loss",
    "set_num_threads",
    "show_config",
    "threads",
]
