"""Dice loss summed over the whole batch, per channel, as pytorch-3dunet defines it, on top of MONAI's DiceLoss."""

from __future__ import annotations

from collections.abc import Sequence

import monai.losses
import torch
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

from ._utils import (
    as_weight_buffer,
    check_class_weights,
    prepare_probabilities,
    validate_normalization,
    validate_reduction,
    zero_ignored,
)

__all__ = ["DiceLoss"]


class DiceLoss(_Loss):
    """Soft Dice loss with squared denominators, accumulated over the batch and every voxel.

    For each channel ``c``, with ``p = normalization(input)`` and ``t`` the target, sums running over the
    batch and every voxel::

        dice_c = 2 * sum(p_c * t_c) / (sum(p_c ** 2) + sum(t_c ** 2) + epsilon)
        loss   = mean_c  w_c * (1 - dice_c)          (w_c = 1 without class weights)

    The computation is :class:`monai.losses.DiceLoss` with ``batch=True``, ``squared_pred=True``,
    ``smooth_nr=0`` and ``smooth_dr=epsilon``, applied to the normalised (and masked) prediction.

    Shapes:
        - ``input``: logits (B, C, *spatial).
        - ``target``: (B, C, *spatial), one (binary or soft) target channel per output channel, e.g. the
          one-hot encoding of the classes for ``normalization="softmax"``; or (B, C + 1, *spatial) with
          ``skip_last_target=True``.
        - output: a scalar for ``"mean"``/``"sum"`` (mean/sum over channels), the per-channel losses
          ``w_c * (1 - dice_c)`` of shape (C,) for ``"none"``.

    Relation to pytorch-3dunet: its ``DiceLoss`` computes the same per-channel coefficient (with the
    denominator clamped to ``epsilon`` instead of increased by it) and returns ``1 - mean_c(w_c * dice_c)``;
    with class weights that differs from the value here by the constant ``mean(w) - 1`` and has the same
    gradient. Its ``ignore_index`` masked the logits before the sigmoid, so ignored voxels still added
    ``0.5 ** 2`` to ``sum(p ** 2)``; here the mask is applied after normalisation, which removes ignored
    elements exactly from numerator and denominator.

    Args:
        normalization: ``"sigmoid"`` (default; independent channels), ``"softmax"`` (over channels,
            mutually exclusive classes, needs C >= 2) or ``"none"`` (the input already holds probabilities).
        weight: class weights, one non-negative value per output channel.
        ignore_index: target value whose elements are excluded from both sums; ``None`` keeps all.
        skip_last_target: drop the last target channel before computing the loss.
        epsilon: added to each denominator.
        reduction: ``"mean"`` (default, over channels), ``"sum"`` or ``"none"``.

    Example:
        >>> loss = DiceLoss(normalization="softmax", weight=[0.5, 1.0, 2.0])
        >>> logits = torch.randn(2, 3, 8, 16, 16, requires_grad=True)
        >>> classes = torch.randint(0, 3, (2, 8, 16, 16))
        >>> target = torch.nn.functional.one_hot(classes, 3).movedim(-1, 1).float()
        >>> loss(logits, target).backward()
    """

    def __init__(
        self,
        normalization: str = "sigmoid",
        weight: Sequence[float] | torch.Tensor | None = None,
        ignore_index: float | None = None,
        skip_last_target: bool = False,
        epsilon: float = 1e-6,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        name = type(self).__name__
        super().__init__(reduction=validate_reduction(name, reduction))
        self.normalization = validate_normalization(name, normalization)
        self.register_buffer("weight", as_weight_buffer(name, "weight", weight))
        self.weight: torch.Tensor | None
        self.ignore_index = ignore_index
        self.skip_last_target = skip_last_target
        self.epsilon = float(epsilon)
        self.dice = monai.losses.DiceLoss(
            include_background=True,
            sigmoid=False,
            softmax=False,
            squared_pred=True,
            batch=True,
            smooth_nr=0.0,
            smooth_dr=self.epsilon,
            reduction=LossReduction.NONE,
        )

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: logits of shape (B, C, *spatial).
            target: shape (B, C, *spatial), or (B, C + 1, *spatial) with ``skip_last_target=True``.
        """
        name = type(self).__name__
        prediction, target_values, mask = prepare_probabilities(
            name, self.normalization, input, target, self.skip_last_target, self.ignore_index
        )
        weight = check_class_weights(name, "weight", self.weight, prediction.shape[1])
        prediction, target_values = zero_ignored(mask, prediction, target_values)
        per_channel = self.dice(prediction, target_values).reshape(-1)
        if weight is not None:
            per_channel = per_channel * weight.to(per_channel)
        if self.reduction == "sum":
            return per_channel.sum()
        if self.reduction == "none":
            return per_channel
        return per_channel.mean()
