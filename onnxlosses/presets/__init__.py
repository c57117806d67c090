"""Other libraries' losses by their own names, arguments and defaults, as onnxlosses losses.

    from onnxlosses.presets import monai, smp, torchvision, hubutui

    loss = monai.DiceCELoss(to_onehot_y=True, softmax=True)   # MONAI's arguments
    value, grad = loss.value_and_grad(logits, labels)          # labels (N, 1, H, W)

Each name takes the library's constructor arguments with the library's defaults and
returns a normal configured onnxlosses loss (value_and_grad, stats, to_onnx, parity, Dask):
the number of classes comes from the input at call time.  An argument a preset cannot
honour (MONAI's ``other_act``, a callable; a configuration whose formula no onnxlosses loss
has) is a clear ValueError naming it, at construction: docs/presets.md lists them.

- ``monai``: DiceLoss, GeneralizedDiceLoss, TverskyLoss, DiceCELoss, FocalLoss,
  DiceFocalLoss (MONAI 1.6)
- ``smp``: DiceLoss, JaccardLoss, TverskyLoss, FocalLoss (segmentation_models_pytorch 0.5)
- ``torchvision``: sigmoid_focal_loss (torchvision.ops)
- ``hubutui``: DiceLoss, BinaryDiceLoss (hubutui/DiceLoss-PyTorch)

The ``Class.preset(name, ...)`` form of the Dice-family classes is the same configuration
by another route; docs/presets.md compares the libraries' formulas.
"""
from . import hubutui, monai, smp, torchvision

__all__ = ["hubutui", "monai", "smp", "torchvision"]
