"""Generalised Dice loss (Sudre et al. 2017), summed over the batch, on top of MONAI's GeneralizedDiceLoss."""

from __future__ import annotations

import monai.losses
import torch
from torch.nn.modules.loss import _Loss

from ._utils import (
    prepare_probabilities,
    validate_normalization,
    zero_ignored,
)

__all__ = ["GeneralizedDiceLoss"]


class GeneralizedDiceLoss(_Loss):
    """Generalised Dice loss: class overlaps weighted by the inverse squared class volume.

    With ``p = normalization(input)``, ``t`` the target and sums over the batch and every voxel::

        w_c  = 1 / sum(t_c) ** 2
        loss = 1 - 2 * sum_c w_c * sum(p_c * t_c) / (sum_c w_c * (sum(p_c) + sum(t_c)) + epsilon)

    A single-channel input is first expanded into the two channels ``[p, 1 - p]`` (target ``[t, 1 - t]``),
    foreground and background, since the weighting needs at least two classes.

    The computation is :class:`monai.losses.GeneralizedDiceLoss` with ``w_type="square"``, ``batch=True``,
    ``smooth_nr=0`` and ``smooth_dr=epsilon``: a class absent from the target (infinite weight) gets the
    largest weight among the present classes.

    Shapes:
        - ``input``: logits (B, C, *spatial).
        - ``target``: (B, C, *spatial), one target channel per output channel, or (B, C + 1, *spatial)
          with ``skip_last_target=True``.
        - output: a scalar.

    Relation to pytorch-3dunet: its ``GeneralizedDiceLoss`` computes the same quantity, but clamps
    ``sum(t_c) ** 2`` to ``epsilon``, so a class missing from the patch gets weight ``1 / epsilon`` and then
    dominates the loss; here it gets the largest weight of the present classes (MONAI's rule). Its
    ``ignore_index`` masked the logits before normalisation; here ignored elements are excluded exactly.

    Args:
        normalization: ``"sigmoid"`` (default), ``"softmax"`` (over channels, needs C >= 2) or ``"none"``.
        epsilon: added to the denominator.
        ignore_index: target value whose elements are excluded from every sum; ``None`` keeps all.
        skip_last_target: drop the last target channel before computing the loss.

    Example:
        >>> loss = GeneralizedDiceLoss()
        >>> logits = torch.randn(2, 1, 8, 16, 16)
        >>> target = (torch.rand(2, 1, 8, 16, 16) > 0.9).float()
        >>> loss(logits, target).shape
        torch.Size([])
    """

    def __init__(
        self,
        normalization: str = "sigmoid",
        epsilon: float = 1e-6,
        ignore_index: float | None = None,
        skip_last_target: bool = False,
    ) -> None:
        super().__init__()
        self.normalization = validate_normalization(type(self).__name__, normalization)
        self.epsilon = float(epsilon)
        self.ignore_index = ignore_index
        self.skip_last_target = skip_last_target
        self.generalized_dice = monai.losses.GeneralizedDiceLoss(
            include_background=True,
            sigmoid=False,
            softmax=False,
            w_type="square",
            batch=True,
            smooth_nr=0.0,
            smooth_dr=self.epsilon,
            reduction="mean",
        )

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: logits of shape (B, C, *spatial).
            target: shape (B, C, *spatial), or (B, C + 1, *spatial) with ``skip_last_target=True``.
        """
        prediction, target_values, mask = prepare_probabilities(
            type(self).__name__, self.normalization, input, target, self.skip_last_target, self.ignore_index
        )
        if prediction.shape[1] == 1:
            prediction = torch.cat([prediction, 1 - prediction], dim=1)
            target_values = torch.cat([target_values, 1 - target_values], dim=1)
            if mask is not None:
                mask = torch.cat([mask, mask], dim=1)
        return self.generalized_dice(*zero_ignored(mask, prediction, target_values))
