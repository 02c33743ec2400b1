"""Linear combination of binary cross-entropy and Dice loss."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.nn.modules.loss import _Loss

from ._utils import check_binary_target, drop_last_target_channel
from .bce import BCEWithLogitsLoss
from .dice import DiceLoss

__all__ = ["BCEDiceLoss"]


class BCEDiceLoss(_Loss):
    """``alpha * BCEWithLogitsLoss + beta * DiceLoss`` with sigmoid normalisation.

    Both terms see the same target, ``ignore_index`` and ``skip_last_target``; see
    :class:`~unet3d_monai.losses.BCEWithLogitsLoss` and :class:`~unet3d_monai.losses.DiceLoss` for each term
    (the BCE term is the mean over kept elements, the Dice term the mean over channels of
    ``1 - dice_c``).

    Shapes:
        - ``input``: logits (B, C, *spatial).
        - ``target``: (B, C, *spatial), or (B, C + 1, *spatial) with ``skip_last_target=True`` (the layout
          that boundary and blob label transforms produce: target channels, then instance labels).
        - output: a scalar.

    Relation to pytorch-3dunet: the same combination as its ``BCEDiceLoss(alpha, beta)``, whose terms are
    unweighted; ``pos_weight`` is an addition here, and ``ignore_index`` is exact in both terms.

    Args:
        alpha: weight of the binary cross-entropy term.
        beta: weight of the Dice term.
        ignore_index: target value whose elements are excluded from both terms; ``None`` keeps all.
        skip_last_target: drop the last target channel before computing the loss.
        pos_weight: weight of the positive examples in the BCE term, a number or one value per channel.
        epsilon: added to the Dice denominators.

    Example:
        >>> loss = BCEDiceLoss(alpha=1.0, beta=1.0, skip_last_target=True)
        >>> logits = torch.randn(2, 1, 8, 16, 16)
        >>> target = torch.cat([(torch.rand(2, 1, 8, 16, 16) > 0.5).float(), torch.ones(2, 1, 8, 16, 16)], 1)
        >>> loss(logits, target).shape
        torch.Size([])
    """

    def __init__(
        self,
        alpha: float = 1.0,
        beta: float = 1.0,
        ignore_index: float | None = None,
        skip_last_target: bool = False,
        pos_weight: Sequence[float] | float | torch.Tensor | None = None,
        epsilon: float = 1e-6,
    ) -> None:
        super().__init__()
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.skip_last_target = skip_last_target
        self.bce = BCEWithLogitsLoss(pos_weight=pos_weight, ignore_index=ignore_index)
        self.dice = DiceLoss(normalization="sigmoid", ignore_index=ignore_index, epsilon=epsilon)

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """
        Args:
            input: logits of shape (B, C, *spatial).
            target: shape (B, C, *spatial), or (B, C + 1, *spatial) with ``skip_last_target=True``.
        """
        name = type(self).__name__
        if self.skip_last_target:
            target = drop_last_target_channel(name, target)
        check_binary_target(name, input, target, self.skip_last_target)
        return self.alpha * self.bce(input, target) + self.beta * self.dice(input, target)
