"""Per-channel Dice coefficient of probabilities against binary targets, averaged over channels."""

from __future__ import annotations

import torch
from monai.metrics import CumulativeIterationMetric
from monai.metrics.utils import do_metric_reduction
from monai.utils import MetricReduction

__all__ = ["DiceCoefficient"]


class DiceCoefficient(CumulativeIterationMetric):
    """Dice coefficient per channel, averaged over channels, per batch item (higher is better).

    ``y_pred`` of shape ``(B, C, *spatial)`` holds probabilities; ``y`` holds the binary target per channel,
    ``(B, C, *spatial)``, or (for ``C > 1``) class indices ``(B, 1, *spatial)`` that are expanded to one-hot.
    For every item and channel, with ``p`` the probabilities and ``t`` the target::

        dice_c = 2 * sum(p * t) / max(sum(p * p) + sum(t * t), epsilon)

    This is the *soft* Dice of the reference implementation: the probabilities are used as they are, so a
    confident correct prediction scores close to, not exactly, 1. Pass ``threshold`` to score the hard prediction
    ``p > threshold`` instead. :meth:`_compute_tensor` returns the ``(B, C)`` values and the default ``"mean"``
    reduction averages over channels, then over items (the reference pooled the whole batch per channel).

    Args:
        epsilon: lower bound of the denominator; a channel empty in both prediction and target scores 0.
        threshold: when given, binarise ``y_pred > threshold`` before scoring (thresholded Dice).
        reduction: MONAI reduction mode of :meth:`aggregate` (``"mean_batch"`` gives the Dice per channel).
        get_not_nans: whether :meth:`aggregate` also returns the number of values.

    Example::

        >>> metric = DiceCoefficient()
        >>> probabilities = torch.tensor([1.0, 0.5, 0.0, 0.0]).view(1, 1, 1, 4)
        >>> metric(y_pred=probabilities, y=torch.tensor([1.0, 1.0, 0.0, 0.0]).view(1, 1, 1, 4))
        tensor([[0.9231]])
    """

    higher_is_better: bool = True

    def __init__(
        self,
        epsilon: float = 1e-6,
        threshold: float | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__()
        if epsilon <= 0:
            raise ValueError(f"DiceCoefficient epsilon must be positive, got {epsilon}.")
        self.epsilon = float(epsilon)
        self.threshold = threshold
        self.reduction = reduction
        self.get_not_nans = get_not_nans

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        if not isinstance(y_pred, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise ValueError(
                f"DiceCoefficient needs y_pred and y as tensors, got {type(y_pred).__name__} and {type(y).__name__}."
            )
        if y_pred.ndim < 3:
            raise ValueError(f"DiceCoefficient expects y_pred of shape (B, C, *spatial), got {tuple(y_pred.shape)}.")
        n_channels = y_pred.shape[1]
        if y.shape == y_pred.shape:
            target = y.float()
        elif n_channels > 1 and y.shape[1] == 1 and y.shape[0] == y_pred.shape[0] and y.shape[2:] == y_pred.shape[2:]:
            if (y < 0).any() or (y >= n_channels).any() or (y != y.round()).any():
                raise ValueError(
                    f"DiceCoefficient expects class indices in y with values in 0..{n_channels - 1}, "
                    f"got values from {y.min().item()} to {y.max().item()}."
                )
            classes = torch.arange(n_channels, device=y.device).view(1, n_channels, *([1] * (y.ndim - 2)))
            target = (y == classes).float()
        else:
            raise ValueError(
                f"DiceCoefficient expects y of shape {tuple(y_pred.shape)} (binary target per channel) or, for "
                f"several channels, (B, 1, *spatial) class indices; got shape {tuple(y.shape)}."
            )
        predicted = y_pred.float() if self.threshold is None else (y_pred > self.threshold).float()
        spatial = tuple(range(2, y_pred.ndim))
        intersection = (predicted * target).sum(dim=spatial)
        denominator = (predicted * predicted).sum(dim=spatial) + (target * target).sum(dim=spatial)
        return 2.0 * intersection / denominator.clamp(min=self.epsilon)

    def aggregate(
        self, reduction: MetricReduction | str | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Reduce the per-item, per-channel Dice collected so far."""
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor):
            raise ValueError("DiceCoefficient has no values to aggregate; call it on some data first.")
        f, not_nans = do_metric_reduction(data, reduction or self.reduction)
        return (f, not_nans) if self.get_not_nans else f
