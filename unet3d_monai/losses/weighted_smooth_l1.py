"""Smooth L1 error with the voxels below (or above) a target threshold weighted differently."""

from __future__ import annotations

import torch
from monai.utils import LossReduction

from .regression import SmoothL1Loss

__all__ = ["WeightedSmoothL1Loss"]


class WeightedSmoothL1Loss(SmoothL1Loss):
    """Smooth L1 error whose elements are multiplied by ``initial_weight`` where the target is below a threshold.

    Per element: ``smooth_l1(input, target) * (initial_weight if target < threshold else 1)``; with
    ``apply_below_threshold=False`` the weight applies where ``target >= threshold`` instead. The result is
    averaged over the elements that are kept (not divided by the weights' sum).

    Shapes:
        - ``input``: network output (B, C, *spatial).
        - ``target``: (B, C, *spatial), or (B, C + 1, *spatial) with ``skip_last_target=True``.
        - output: a scalar for ``"mean"``/``"sum"``, (B, C, *spatial) for ``"none"``.

    Relation to pytorch-3dunet: the same definition as its ``WeightedSmoothL1Loss`` (which fixed
    ``beta=1``); ``ignore_index`` here excludes elements exactly.

    Args:
        threshold: target value separating the weighted elements from the others.
        initial_weight: factor applied to the elements on the weighted side of ``threshold``.
        apply_below_threshold: weight the elements with ``target < threshold`` (default) or, if ``False``,
            those with ``target >= threshold``.
        beta: the error at which the quadratic part turns linear (> 0).
        ignore_index: target value whose elements are excluded from the loss; ``None`` keeps all.
        skip_last_target: drop the last target channel before computing the loss.
        reduction: ``"mean"`` (default, over kept elements), ``"sum"`` or ``"none"``.

    Example:
        >>> loss = WeightedSmoothL1Loss(threshold=0.5, initial_weight=10.0)
        >>> loss(torch.zeros(1, 1, 1, 2), torch.tensor([[[[0.2, 1.0]]]]))
        tensor(0.3500)
    """

    def __init__(
        self,
        threshold: float,
        initial_weight: float,
        apply_below_threshold: bool = True,
        beta: float = 1.0,
        ignore_index: float | None = None,
        skip_last_target: bool = False,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(beta=beta, ignore_index=ignore_index, skip_last_target=skip_last_target, reduction=reduction)
        self.threshold = float(threshold)
        self.initial_weight = float(initial_weight)
        self.apply_below_threshold = apply_below_threshold

    def elementwise(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Unreduced smooth L1 error, multiplied by ``initial_weight`` on the weighted side of the threshold."""
        loss = super().elementwise(input, target)
        weighted = target < self.threshold if self.apply_below_threshold else target >= self.threshold
        return torch.where(weighted, loss * self.initial_weight, loss)
