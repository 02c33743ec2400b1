"""Cross-entropy with a per-voxel weight map (and optional class weights)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.utils import LossReduction
from torch.nn.modules.loss import _Loss

from ._utils import (
    as_weight_buffer,
    check_class_weights,
    class_index_target,
    reduce_masked,
    upcast_half,
    validate_reduction,
)

__all__ = ["PixelWiseCrossEntropyLoss"]


class PixelWiseCrossEntropyLoss(_Loss):
    """Softmax cross-entropy in which every voxel's term is multiplied by a weight from a weight map.

    For voxel ``v`` with class ``t_v`` and weight ``m_v``::

        loss_v = -m_v * class_weights[t_v] * log(softmax(input)[t_v, v])

    reduced over the voxels whose class is not ``ignore_index`` (``"mean"`` divides by their number).

    Where the weight map comes from:
        - ``loss(input, target, weight)``: explicitly, ``weight`` of shape (B, *spatial) or (B, 1, *spatial);
        - ``loss(input, target)``: as the LAST channel of the target, which then has shape
          (B, 2, *spatial): the class indices, then the weights. This is the form MONAI's
          ``SupervisedTrainer`` can use, since it calls ``loss(prediction, label)``: concatenate the
          dataset's ``"weight"`` item onto the label with
          ``ConcatItemsd(keys=["label", "weight"], name="label", dim=0)`` in the training transforms.

    Shapes:
        - ``input``: logits (B, C, *spatial), one channel per class.
        - ``target``: class indices in ``[0, C)`` (or ``ignore_index``), shape (B, *spatial) or
          (B, 1, *spatial), integer or float dtype; or (B, 2, *spatial) with the weight map last.
        - output: a scalar for ``"mean"``/``"sum"``, (B, *spatial) for ``"none"`` (0 at ignored voxels).

    Relation to pytorch-3dunet: its ``PixelWiseCrossEntropyLoss`` took the weight map as a third argument
    and averaged ``-m * class_weight * one_hot(t) * log_softmax`` over the channel axis too, so its value
    is this one divided by C; it also let ignored voxels contribute ``-ignore_index * log p`` for every
    class, while here they are excluded.

    Args:
        class_weights: one non-negative weight per class, multiplied into the weight map.
        ignore_index: target value whose voxels are excluded; ``None`` keeps every voxel.
        reduction: ``"mean"`` (default, over the kept voxels), ``"sum"`` or ``"none"``.

    Example:
        >>> loss = PixelWiseCrossEntropyLoss(class_weights=[1.0, 3.0])
        >>> logits = torch.randn(2, 2, 8, 16, 16)
        >>> label = torch.randint(0, 2, (2, 1, 8, 16, 16)).float()
        >>> weight = torch.rand(2, 1, 8, 16, 16)
        >>> torch.allclose(loss(logits, label, weight), loss(logits, torch.cat([label, weight], dim=1)))
        True
    """

    def __init__(
        self,
        class_weights: Sequence[float] | torch.Tensor | None = None,
        ignore_index: int | None = None,
        reduction: LossReduction | str = LossReduction.MEAN,
    ) -> None:
        name = type(self).__name__
        super().__init__(reduction=validate_reduction(name, reduction))
        self.register_buffer("class_weights", as_weight_buffer(name, "class_weights", class_weights))
        self.class_weights: torch.Tensor | None
        self.ignore_index = None if ignore_index is None else int(ignore_index)

    def forward(self, input: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
        """
        Args:
            input: logits of shape (B, C, *spatial).
            target: class indices of shape (B, *spatial) or (B, 1, *spatial); or, when ``weight`` is
                ``None``, shape (B, 2, *spatial) holding the class indices then the weight map.
            weight: per-voxel weights of shape (B, *spatial) or (B, 1, *spatial).
        """
        name = type(self).__name__
        input = upcast_half(input)
        if weight is None:
            if target.ndim != input.ndim or target.shape[1] != 2:
                raise ValueError(
                    f"{name} called without a weight map expects it as the last target channel, a target of shape "
                    "(B, 2, *spatial) holding the class indices then the weights (e.g. after "
                    "ConcatItemsd(keys=['label', 'weight'], name='label')), but got a target of shape "
                    f"{tuple(target.shape)} for logits of shape {tuple(input.shape)}."
                )
            target, weight = target[:, :1], target[:, 1]
        labels = class_index_target(name, input, target, self.ignore_index)
        if weight.ndim == input.ndim and weight.shape[1] == 1:
            weight = weight[:, 0]
        if weight.shape != labels.shape:
            raise ValueError(
                f"{name} expects a weight map of shape (B, *spatial) or (B, 1, *spatial) matching the target "
                f"{tuple(labels.shape)}, but got a weight map of shape {tuple(weight.shape)}."
            )
        class_weights = check_class_weights(name, "class_weights", self.class_weights, input.shape[1])
        safe_labels = labels.clamp(0, input.shape[1] - 1)
        log_probabilities = torch.log_softmax(input, dim=1)
        nll = -log_probabilities.gather(1, safe_labels.unsqueeze(1)).squeeze(1)
        voxel_weight = weight.to(nll)
        if class_weights is not None:
            voxel_weight = voxel_weight * class_weights.to(nll)[safe_labels]
        kept = None if self.ignore_index is None else labels != self.ignore_index
        return reduce_masked(voxel_weight * nll, kept, self.reduction)
