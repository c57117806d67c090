"""onnxlosses: fast OpenMP CPU kernels for training losses and their gradients on NumPy
arrays, with PyTorch's semantics."""
__version__ = "0.1.0"

from . import parity
from ._config import build_info, show_config
from ._threads import get_num_threads, set_num_threads, threads
from .bce import BCELoss, BCEWithLogitsLoss, binary_cross_entropy, binary_cross_entropy_with_logits
from .combined import CombinedLoss, combined_loss
from .cross_entropy import CrossEntropyLoss, NLLLoss, cross_entropy, nll_loss
from .dice import (DiceLoss, GeneralizedDiceLoss, JaccardLoss, TverskyLoss, dice_loss,
                   generalized_dice_loss, jaccard_loss, tversky_loss)
from .focal import FocalLoss, SigmoidFocalLoss, focal_loss, sigmoid_focal_loss

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CombinedLoss",
    "CrossEntropyLoss",
    "DiceLoss",
    "FocalLoss",
    "GeneralizedDiceLoss",
    "JaccardLoss",
    "TverskyLoss",
    "SigmoidFocalLoss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "focal_loss",
    "sigmoid_focal_loss",
    "NLLLoss",
    "build_info",
    "combined_loss",
    "cross_entropy",
    "dice_loss",
    "generalized_dice_loss",
    "jaccard_loss",
    "tversky_loss",
    "get_num_threads",
    "nll_loss",
    "parity",
    "set_num_threads",
    "show_config",
    "threads",
]
