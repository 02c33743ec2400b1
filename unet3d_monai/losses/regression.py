"""Regression losses (mean squared, absolute and smooth L1 error) with exact ``ignore_index``."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from monai.utils import LossReduction

from ._elementwise import ElementwiseLoss

__all__ = ["L1Loss", "MSELoss", "SmoothL1Loss"]


class MSELoss(ElementwiseLoss):
    """Mean squared error ``(input - target) ** 2``, averaged over the elements that are kept.

    Shapes:
        - ``input``: network output (B, C, *spatial) (no final activation for regression).
        - ``target``: (B, C, *spatial), or (B, C + 1, *spatial) with ``skip_last_target=True``.
        - output: a scalar for ``"mean"``/``"sum"``, (B, C, *spatial) for ``"none"``.

    Relation to pytorch-3dunet: its ``MSELoss`` is ``torch.nn.MSELoss``; the same value without
    ``ignore_index``, which here excludes elements exactly instead of zeroing them.

    Args:
        ignore_index: target value whose elements are excluded from the loss; ``None`` keeps all.
        skip_last_target: drop the last target channel before computing the loss.
        reduction: ``"mean"`` (default, over kept elements), ``"sum"`` or ``"none"``.

    Example:
        >>> MSELoss()(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), 3.0))
        tensor(9.)
    """

    def elementwise(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Unreduced squared error."""
        return F.mse_loss(input, target, reduction="none")


class L1Loss(ElementwiseLoss):
    """Mean absolute error ``|input - target|``, averaged over the elements that are kept.

    Shapes:
        - ``input``: network output (B, C, *spatial).
        - ``target``: (B, C, *spatial), or (B, C + 1, *spatial) with ``skip_last_target=True``.
        - output: a scalar for ``"mean"``/``"sum"``, (B, C, *spatial) for ``"none"``.

    Relation to pytorch-3dunet: its ``L1Loss`` is ``torch.nn.L1Loss``; the same value without
    ``ignore_index``.

    Args:
        ignore_index: target value whose elements are excluded from the loss; ``None`` keeps all.
        skip_last_target: drop the last target channel before computing the loss.
        reduction: ``"mean"`` (default, over kept elements), ``"sum"`` or ``"none"``.

    Example:
        >>> L1Loss()(torch.zeros(1, 1, 2, 2), torch.full((1, 1, 2, 2), -3.0))
        tensor(3.)
    """

    def elementwise(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Unreduced absolute error."""
        return F.l1_loss(input, target, reduction="none")


class SmoothL1Loss(ElementwiseLoss):
    """Smooth L1 (Huber-like) error, averaged over the elements that are kept.

    Per element, with ``d = |input - target|``: ``0.5 * d ** 2 / beta`` if ``d < beta``, else ``d - 0.5 * beta``.

    Shapes:
        - ``input``: network output (B, C, *spatial).
        - ``target``: (B, C, *spatial), or (B, C + 1, *spatial) with ``skip_last_target=True``.
        - output: a scalar for ``"mean"``/``"sum"``, (B, C, *spatial) for ``"none"``.

    Relation to pytorch-3dunet: its ``SmoothL1Loss`` is ``torch.nn.SmoothL1Loss`` (``beta=1``); the same
    value without ``ignore_index``.

    Args:
        beta: the error at which the quadratic part turns linear (> 0).
        ignore_index: target value whose elements are excluded from the loss; ``None`` keeps all.
        skip_last_target: drop the last target channel before computing the loss.
        reduction: ``"mean"`` (default, over kept elements), ``"sum"`` or ``"none"``.

    Example:
        >>> SmoothL1Loss()(torch.zeros(1, 1, 1, 2), torch.tensor([[[[0.5, 3.0]]]]))
        tensor(1.3125)
    """

    def __init__(
        self,
        beta: float = 1.0,
        ignore_index: float | None = None,
        skip_last_target: bool = False,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(ignore_index=ignore_index, skip_last_target=skip_last_target, reduction=reduction)
        if not beta > 0:
            raise ValueError(f"{type(self).__name__} beta must be positive; got {beta}.")
        self.beta = float(beta)

    def elementwise(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Unreduced smooth L1 error."""
        return F.smooth_l1_loss(input, target, reduction="none", beta=self.beta)
