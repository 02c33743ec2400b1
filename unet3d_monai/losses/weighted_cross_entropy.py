"""Cross-entropy with class weights estimated from the batch's predicted class frequencies."""

from __future__ import annotations

import torch
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

from ._utils import class_index_target, cross_entropy, upcast_half, validate_reduction

__all__ = ["WeightedCrossEntropyLoss"]


class WeightedCrossEntropyLoss(_Loss):
    """Cross-entropy whose class weights are recomputed for every batch from the predicted class volumes.

    With ``p = softmax(input)`` and sums over the batch and every kept voxel, class ``c`` gets the weight::

        w_c = sum(1 - p_c) / sum(p_c)

    (the weighted cross-entropy of Sudre et al. 2017, with the predicted probabilities standing in for the
    class frequencies). The weights are detached, then ``cross_entropy(input, target, weight=w)`` is
    returned: with ``"mean"``, the weighted sum divided by the sum of the kept voxels' class weights (0 when
    every voxel is ignored).

    Shapes:
        - ``input``: logits (B, C, *spatial), one channel per class.
        - ``target``: class indices in ``[0, C)`` (or ``ignore_index``), shape (B, *spatial) or
          (B, 1, *spatial), integer or float dtype.
        - output: a scalar for ``"mean"``/``"sum"``, (B, *spatial) for ``"none"``.

    Relation to pytorch-3dunet: the same definition as its ``WeightedCrossEntropyLoss``, except that voxels
    whose target is ``ignore_index`` are left out of the weight estimate as well as of the loss.

    Args:
        ignore_index: target value whose voxels are excluded (default -1).
        reduction: ``"mean"`` (default), ``"sum"`` or ``"none"``.

    Example:
        >>> loss = WeightedCrossEntropyLoss()
        >>> logits = torch.randn(2, 3, 8, 16, 16)
        >>> loss(logits, torch.randint(0, 3, (2, 8, 16, 16))).shape
        torch.Size([])
    """

    def __init__(self, ignore_index: int = -1, reduction: LossReduction | str = LossReduction.MEAN) -> None:
        super().__init__(reduction=validate_reduction(type(self).__name__, reduction))
        self.ignore_index = int(ignore_index)

    def class_weights(self, input: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Detached weights ``sum(1 - p_c) / sum(p_c)`` of shape (C,), over the voxels not ignored."""
        probabilities = torch.softmax(input.detach(), dim=1)
        kept = (labels != self.ignore_index).unsqueeze(1).to(probabilities.dtype)
        reduce_axes = [0, *range(2, probabilities.ndim)]
        numerator = ((1 - probabilities) * kept).sum(dim=reduce_axes)
        denominator = (probabilities * kept).sum(dim=reduce_axes)
        return numerator / denominator.clamp(min=torch.finfo(denominator.dtype).tiny)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: logits of shape (B, C, *spatial).
            target: class indices of shape (B, *spatial) or (B, 1, *spatial).
        """
        input = upcast_half(input)
        labels = class_index_target(type(self).__name__, input, target, self.ignore_index)
        weight = self.class_weights(input, labels)
        return cross_entropy(input, labels, weight, self.ignore_index, self.reduction)
