"""Every loss of the package, in one list.  The layers that handle "any loss" (the command
line, the parity grid, the Dask front end, the tests) iterate it and ask each loss's spec
what they need; a loss added here appears in all of them."""
from .bce import BCELoss, BCEWithLogitsLoss
from .combined import CombinedLoss
from .cross_entropy import CrossEntropyLoss, NLLLoss
from .dice import DiceLoss, GeneralizedDiceLoss, JaccardLoss, TverskyLoss
from .focal import FocalLoss, SigmoidFocalLoss

LOSSES = (CrossEntropyLoss, NLLLoss, FocalLoss, BCELoss, BCEWithLogitsLoss, SigmoidFocalLoss,
          DiceLoss, JaccardLoss, TverskyLoss, GeneralizedDiceLoss, CombinedLoss)
BY_NAME = {cls.spec.name: cls for cls in LOSSES}
