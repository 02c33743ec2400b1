"""Binary cross-entropy on logits with exact ``ignore_index`` and per-channel ``pos_weight``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from monai.utils import LossReduction

from ._elementwise import ElementwiseLoss
from ._utils import as_weight_buffer, check_class_weights

__all__ = ["BCEWithLogitsLoss"]


class BCEWithLogitsLoss(ElementwiseLoss):
    """Binary cross-entropy computed on logits, one binary target channel per output channel.

    ``loss = -[pos_weight_c * t * log(sigmoid(x)) + (1 - t) * log(1 - sigmoid(x))]`` per element, averaged
    over the elements that are kept.

    Shapes:
        - ``input``: logits (B, C, *spatial).
        - ``target``: (B, C, *spatial) with values in [0, 1], or (B, C + 1, *spatial) with
          ``skip_last_target=True`` (the last channel, e.g. instance labels, is dropped).
        - output: a scalar for ``"mean"``/``"sum"``, (B, C, *spatial) for ``"none"``.

    Relation to pytorch-3dunet: its ``BCEWithLogitsLoss`` is ``torch.nn.BCEWithLogitsLoss``, wrapped to
    multiply logits and target by the ``ignore_index`` mask; the masked elements then still count
    (they contribute ``log 2`` each and enlarge the mean's denominator). Here they are excluded exactly.
    Its ``pos_weight`` list broadcast against the last spatial axis; here it has one value per channel.

    Args:
        pos_weight: weight of the positive examples, a number or one value per output channel.
        ignore_index: target value whose elements are excluded from the loss; ``None`` keeps all.
        skip_last_target: drop the last target channel before computing the loss.
        reduction: ``"mean"`` (default, over kept elements), ``"sum"`` or ``"none"``.

    Example:
        >>> loss = BCEWithLogitsLoss(pos_weight=[2.0], skip_last_target=True)
        >>> logits = torch.randn(2, 1, 8, 16, 16)
        >>> target = torch.cat([torch.randint(0, 2, (2, 1, 8, 16, 16)), torch.randint(0, 9, (2, 1, 8, 16, 16))], 1)
        >>> loss(logits, target.float()).shape
        torch.Size([])
    """

    def __init__(
        self,
        pos_weight: Sequence[float] | float | torch.Tensor | None = None,
        ignore_index: float | None = None,
        skip_last_target: bool = False,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        super().__init__(ignore_index=ignore_index, skip_last_target=skip_last_target, reduction=reduction)
        self.register_buffer("pos_weight", as_weight_buffer(type(self).__name__, "pos_weight", pos_weight))
        self.pos_weight: torch.Tensor | None

    def elementwise(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Unreduced binary cross-entropy of logits ``input`` against ``target``, both (B, C, *spatial)."""
        pos_weight = check_class_weights(type(self).__name__, "pos_weight", self.pos_weight, input.shape[1])
        if pos_weight is not None and pos_weight.ndim == 1:
            pos_weight = pos_weight.view(1, -1, *([1] * (input.ndim - 2)))
        if pos_weight is not None:
            pos_weight = pos_weight.to(input)
        return F.binary_cross_entropy_with_logits(input, target, pos_weight=pos_weight, reduction="none")
