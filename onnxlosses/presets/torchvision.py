"""torchvision.ops.sigmoid_focal_loss by its own arguments and defaults."""
from ..focal import SigmoidFocalLoss

__all__ = ["sigmoid_focal_loss"]


def sigmoid_focal_loss(inputs, targets, alpha=0.25, gamma=2.0, reduction="none"):
    """torchvision.ops.sigmoid_focal_loss(inputs, targets, alpha, gamma, reduction): the
    value, as torchvision returns it (``SigmoidFocalLoss(alpha=, gamma=, reduction=)`` is
    the configured loss, with value_and_grad)."""
    return SigmoidFocalLoss(alpha=alpha, gamma=gamma, reduction=reduction)(inputs, targets)
