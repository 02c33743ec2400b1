"""Regression metrics: peak signal-to-noise ratio and mean squared error."""

from __future__ import annotations

import torch
from monai.metrics import MSEMetric
from monai.metrics.regression import RegressionMetric, compute_mean_error_metrics
from monai.utils import MetricReduction

__all__ = ["MSE", "PSNR"]


def _squared(x: torch.Tensor) -> torch.Tensor:
    return x * x


class PSNR(RegressionMetric):
    """Peak signal-to-noise ratio in decibels, per batch item (higher is better).

    ``y_pred`` and ``y`` have the same shape ``(B, C, *spatial)``. For each item, with the mean squared error taken
    over channels and voxels::

        psnr = 10 * log10(data_range ** 2 / mse)

    When ``data_range`` is None it is the item's target range ``max(y) - min(y)``, which suits intensities of any
    scale (``skimage.metrics.peak_signal_noise_ratio`` instead takes the dtype's range, 1 or 2 for floating point,
    and refuses float targets outside [-1, 1]). A constant target without ``data_range`` gives NaN, which the mean
    reduction skips; a perfect prediction gives ``inf``. ``monai.metrics.PSNRMetric`` is the same with a fixed
    ``max_val``.

    Args:
        data_range: the distance between the lowest and highest possible intensity; per-item target range if None.
        reduction: MONAI reduction mode of :meth:`aggregate`, default ``"mean"``.
        get_not_nans: whether :meth:`aggregate` also returns the number of defined values.

    Example::

        >>> metric = PSNR(data_range=1.0)
        >>> metric(y_pred=torch.full((1, 1, 2, 2), 0.1), y=torch.zeros(1, 1, 2, 2))
        tensor([[20.]])
    """

    higher_is_better: bool = True

    def __init__(
        self,
        data_range: float | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__(reduction=reduction, get_not_nans=get_not_nans)
        if data_range is not None and data_range <= 0:
            raise ValueError(f"PSNR data_range must be positive or None, got {data_range}.")
        self.data_range = data_range

    def _compute_metric(self, y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        y_pred, y = y_pred.double(), y.double()
        mse = compute_mean_error_metrics(y_pred, y, func=_squared)
        if self.data_range is None:
            flat = y.flatten(start_dim=1)
            data_range = (flat.amax(dim=1) - flat.amin(dim=1)).unsqueeze(1)
        else:
            data_range = torch.full_like(mse, float(self.data_range))
        psnr = 10.0 * torch.log10(data_range * data_range / mse)
        return torch.where(data_range > 0, psnr, torch.full_like(psnr, float("nan"))).float()


class MSE(MSEMetric):
    """Mean squared error over channels and voxels, per batch item (lower is better).

    ``monai.metrics.MSEMetric`` with its direction declared; ``y_pred`` and ``y`` have the same shape
    ``(B, C, *spatial)`` and :meth:`_compute_tensor` returns ``(B, 1)`` values.

    Args:
        reduction: MONAI reduction mode of :meth:`aggregate`, default ``"mean"``.
        get_not_nans: whether :meth:`aggregate` also returns the number of defined values.

    Example::

        >>> MSE()(y_pred=torch.ones(1, 1, 2, 2), y=torch.zeros(1, 1, 2, 2))
        tensor([[1.]])
    """

    higher_is_better: bool = False

    def __init__(self, reduction: MetricReduction | str = MetricReduction.MEAN, get_not_nans: bool = False) -> None:
        super().__init__(reduction=reduction, get_not_nans=get_not_nans)
