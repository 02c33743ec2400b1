"""Base class of the losses computed voxel by voxel on a target of the output's shape."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

from ._utils import (
    prepare_binary_inputs,
    reduce_masked,
    validate_reduction,
    zero_ignored,
)

__all__ = ["ElementwiseLoss"]


class ElementwiseLoss(_Loss, ABC):
    """A loss evaluated element by element, then reduced over the elements that are not ignored.

    Subclasses implement :meth:`elementwise`. This class handles what every such loss shares:
    ``skip_last_target`` (drop the last target channel), the shape check (one target channel per
    output channel), ``ignore_index`` (target elements equal to it are excluded exactly: their loss
    is neither summed nor counted) and the reduction.

    Args:
        ignore_index: target value whose elements are excluded from the loss; ``None`` keeps every element.
        skip_last_target: drop the last target channel before computing the loss.
        reduction: ``"mean"`` (default: mean over the kept elements, 0 if none is kept), ``"sum"`` (sum over
            the kept elements) or ``"none"`` (element-wise loss of the input's shape, 0 at ignored elements).
    """

    def __init__(
        self,
        ignore_index: float | None = None,
        skip_last_target: bool = False,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(reduction=validate_reduction(type(self).__name__, reduction))
        self.ignore_index = ignore_index
        self.skip_last_target = skip_last_target

    @abstractmethod
    def elementwise(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Return the unreduced loss of ``input`` against ``target`` (both of shape (B, C, *spatial))."""

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: network output of shape (B, C, *spatial).
            target: shape (B, C, *spatial), or (B, C + 1, *spatial) with ``skip_last_target=True``.
        """
        name = type(self).__name__
        input, target_values, mask = prepare_binary_inputs(
            name, input, target, self.skip_last_target, self.ignore_index
        )
        (target_values,) = zero_ignored(mask, target_values)
        return reduce_masked(self.elementwise(input, target_values), mask, self.reduction)
