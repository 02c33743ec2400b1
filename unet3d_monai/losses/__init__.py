"""The losses of pytorch-3dunet as MONAI-style losses: each a ``torch.nn.modules.loss._Loss`` called as
``loss(logits, target)`` and usable as a bundle ``_target_``.

Segmentation: :class:`BCEWithLogitsLoss`, :class:`DiceLoss`, :class:`BCEDiceLoss`,
:class:`GeneralizedDiceLoss` (one target channel per output channel), :class:`CrossEntropyLoss`,
:class:`WeightedCrossEntropyLoss`, :class:`PixelWiseCrossEntropyLoss` (class-index targets).
Regression: :class:`MSELoss`, :class:`L1Loss`, :class:`SmoothL1Loss`, :class:`WeightedSmoothL1Loss`.

Every loss computes in float32 when given float16/bfloat16 outputs (mixed-precision training), since
sums over whole patches overflow or round badly in half precision; ``ignore_index`` excludes elements
exactly, and ``skip_last_target`` drops the instance-label channel that boundary and blob transforms append.
"""

from .bce import BCEWithLogitsLoss
from .bce_dice import BCEDiceLoss
from .cross_entropy import CrossEntropyLoss
from .dice import DiceLoss
from .generalized_dice import GeneralizedDiceLoss
from .pixel_wise_cross_entropy import PixelWiseCrossEntropyLoss
from .regression import L1Loss, MSELoss, SmoothL1Loss
from .weighted_cross_entropy import WeightedCrossEntropyLoss
from .weighted_smooth_l1 import WeightedSmoothL1Loss

__all__ = [
    "BCEDiceLoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "DiceLoss",
    "GeneralizedDiceLoss",
    "L1Loss",
    "MSELoss",
    "PixelWiseCrossEntropyLoss",
    "SmoothL1Loss",
    "WeightedCrossEntropyLoss",
    "WeightedSmoothL1Loss",
]
