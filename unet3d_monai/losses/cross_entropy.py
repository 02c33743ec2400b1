"""Cross-entropy over mutually exclusive classes, accepting MONAI-style class-index targets."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

from ._utils import (
    as_weight_buffer,
    check_class_weights,
    class_index_target,
    cross_entropy,
    upcast_half,
    validate_reduction,
)

__all__ = ["CrossEntropyLoss"]


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits against integer class indices, with optional class weights.

    This is :func:`torch.nn.functional.cross_entropy` behind a target check: the target may carry a
    singleton channel axis and may be a floating-point tensor holding integer values, as MONAI's loading
    transforms produce for labels.

    Shapes:
        - ``input``: logits (B, C, *spatial), one channel per class.
        - ``target``: class indices in ``[0, C)`` (or ``ignore_index``), shape (B, *spatial) or
          (B, 1, *spatial), integer or float dtype.
        - output: a scalar for ``"mean"``/``"sum"``, (B, *spatial) for ``"none"``.

    With class weights, ``"mean"`` divides the weighted sum by the sum of the weights of the kept
    voxels' classes (PyTorch's definition); voxels whose target is ``ignore_index`` are excluded, and a batch
    in which every voxel is ignored gives 0 (PyTorch gives NaN).

    Relation to pytorch-3dunet: the same loss as its ``CrossEntropyLoss`` (``torch.nn.CrossEntropyLoss``),
    which required a long target of shape (B, *spatial).

    Args:
        weight: class weights, one non-negative value per class.
        ignore_index: target value whose voxels are excluded from the loss (default -100).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Example:
        >>> loss = CrossEntropyLoss(weight=[1.0, 2.0, 4.0])
        >>> logits = torch.randn(2, 3, 8, 16, 16)
        >>> label = torch.randint(0, 3, (2, 1, 8, 16, 16)).float()
        >>> loss(logits, label).shape
        torch.Size([])
    """

    def __init__(
        self,
        weight: Sequence[float] | torch.Tensor | None = None,
        ignore_index: int = -100,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        name = type(self).__name__
        super().__init__(reduction=validate_reduction(name, reduction))
        self.register_buffer("weight", as_weight_buffer(name, "weight", weight))
        self.weight: torch.Tensor | None
        self.ignore_index = int(ignore_index)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: logits of shape (B, C, *spatial).
            target: class indices of shape (B, *spatial) or (B, 1, *spatial).
        """
        name = type(self).__name__
        input = upcast_half(input)
        labels = class_index_target(name, input, target, self.ignore_index)
        weight = check_class_weights(name, "weight", self.weight, input.shape[1])
        if weight is not None:
            weight = weight.to(input)
        return cross_entropy(input, labels, weight, self.ignore_index, self.reduction)
