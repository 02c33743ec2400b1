"""Mean intersection over union of a semantic segmentation, from probabilities."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.metrics import CumulativeIterationMetric
from monai.metrics.utils import do_metric_reduction
from monai.utils import MetricReduction

__all__ = ["MeanIoU"]


class MeanIoU(CumulativeIterationMetric):
    """Mean intersection over union (Jaccard index) over the classes present, per batch item (higher is better).

    ``y_pred`` of shape ``(B, C, *spatial)`` holds probabilities. With ``C == 1`` the prediction is
    ``y_pred > threshold``; with ``C > 1`` it is the argmax over channels. ``y`` is either class indices of shape
    ``(B, 1, *spatial)`` (values in ``0 .. C - 1``) or per-channel binary masks of shape ``(B, C, *spatial)`` (one-hot,
    or independent labels; values > 0.5 are foreground).

    For every item and class ``c`` with predicted mask ``P_c`` and true mask ``T_c``, counted over voxels that are
    not ignored, ``IoU_c = |P_c & T_c| / |P_c | T_c|``. A class is *present* in an item when ``P_c | T_c`` is not
    empty; absent classes get NaN. :meth:`_compute_tensor` returns these ``(B, C')`` values (the channels not in
    ``skip_channels``), and the default ``"mean"`` reduction averages each item over its present classes, then over
    the items that have at least one present class. (The reference implementation averaged over all channels,
    counting an absent class as 0, and pooled nothing across the batch.)

    Args:
        threshold: probability threshold of the binary case (``C == 1``).
        skip_channels: channels (classes) left out of the mean, e.g. ``(0,)`` for the background.
        ignore_index: voxels whose label equals this value are left out: with class indices, from every class;
            with per-channel masks, from that channel.
        reduction: MONAI reduction mode of :meth:`aggregate` (``"mean_batch"`` gives the IoU per class).
        get_not_nans: whether :meth:`aggregate` also returns the number of present values.

    Example::

        >>> metric = MeanIoU()
        >>> probabilities = torch.tensor([0.9, 0.8, 0.2, 0.1]).view(1, 1, 1, 4)
        >>> metric(y_pred=probabilities, y=torch.tensor([1, 0, 0, 0]).view(1, 1, 1, 4))
        tensor([[0.5000]])
    """

    higher_is_better: bool = True

    def __init__(
        self,
        threshold: float = 0.5,
        skip_channels: Sequence[int] = (),
        ignore_index: int | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__()
        self.threshold = float(threshold)
        self.skip_channels = tuple(int(c) for c in skip_channels)
        self.ignore_index = ignore_index
        self.reduction = reduction
        self.get_not_nans = get_not_nans

    def _compute_tensor(self, y_pred: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        if not isinstance(y_pred, torch.Tensor) or not isinstance(y, torch.Tensor):
            raise ValueError(
                f"MeanIoU needs y_pred and y as tensors, got {type(y_pred).__name__} and {type(y).__name__}."
            )
        if y_pred.ndim < 3:
            raise ValueError(f"MeanIoU expects y_pred of shape (B, C, *spatial), got shape {tuple(y_pred.shape)}.")
        n_classes = y_pred.shape[1]
        if y.ndim != y_pred.ndim or y.shape[0] != y_pred.shape[0] or y.shape[2:] != y_pred.shape[2:]:
            raise ValueError(
                f"MeanIoU expects y of shape (B, 1, *spatial) or (B, C, *spatial) matching y_pred "
                f"{tuple(y_pred.shape)}, got shape {tuple(y.shape)}."
            )
        bad_skips = [c for c in self.skip_channels if not 0 <= c < n_classes]
        if bad_skips:
            raise ValueError(
                f"MeanIoU skip_channels {bad_skips} are out of range for y_pred with {n_classes} channels."
            )
        kept = [c for c in range(n_classes) if c not in self.skip_channels]
        if not kept:
            raise ValueError(f"MeanIoU skip_channels {list(self.skip_channels)} leave no channel to evaluate.")

        classes = torch.arange(n_classes, device=y_pred.device).view(1, n_classes, *([1] * (y_pred.ndim - 2)))
        if n_classes == 1:
            predicted = y_pred > self.threshold
        else:
            predicted = y_pred.argmax(dim=1, keepdim=True) == classes

        valid = None if self.ignore_index is None else y != self.ignore_index
        if y.shape[1] == n_classes:
            target = y > 0.5
        elif y.shape[1] == 1:
            labels = y if valid is None else y[valid]
            if labels.numel() and (labels.min() < 0 or labels.max() >= n_classes or (labels != labels.round()).any()):
                raise ValueError(
                    f"MeanIoU expects class indices in y with values in 0..{n_classes - 1} (y_pred has {n_classes} "
                    f"channels), got values from {labels.min().item()} to {labels.max().item()}."
                )
            target = y == classes
        else:
            raise ValueError(
                f"MeanIoU expects y with 1 channel (class indices) or {n_classes} channels (per-class masks) for "
                f"y_pred of shape {tuple(y_pred.shape)}, got shape {tuple(y.shape)}."
            )
        if valid is not None:
            predicted = predicted & valid
            target = target & valid

        spatial = tuple(range(2, y_pred.ndim))
        intersection = (predicted & target).sum(dim=spatial)
        union = (predicted | target).sum(dim=spatial)
        iou = intersection.float() / union.clamp(min=1).float()
        iou = torch.where(union > 0, iou, torch.full_like(iou, float("nan")))
        return iou[:, kept]

    def aggregate(
        self, reduction: MetricReduction | str | None = None
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Reduce the per-item, per-class IoU collected so far (absent classes, NaN, are skipped)."""
        data = self.get_buffer()
        if not isinstance(data, torch.Tensor):
            raise ValueError("MeanIoU has no values to aggregate; call it on some data first.")
        f, not_nans = do_metric_reduction(data, reduction or self.reduction)
        return (f, not_nans) if self.get_not_nans else f
