"""Type aliases of the public API's annotations."""
from typing import Literal, Optional, Union

import numpy as np
from numpy.typing import ArrayLike

Reduction = Literal["none", "mean", "sum"]
DiceMode = Literal["binary", "multiclass", "multilabel"]
Absent = Literal["keep", "zero", "skip"]
Weighting = Literal["square", "simple", "uniform"]
OptionalArray = Optional[ArrayLike]
Value = Union[np.floating, np.ndarray]    # a NumPy scalar, or an array for reduction "none"

__all__ = ["Absent", "ArrayLike", "DiceMode", "OptionalArray", "Reduction", "Value",
           "Weighting"]
