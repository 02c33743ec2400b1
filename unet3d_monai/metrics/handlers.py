"""Ignite engine handlers of the metrics, for a bundle's ``key_val_metric`` / ``additional_metrics``.

Every handler declares ``higher_is_better`` (a class attribute, also readable on instances) so that checkpoint
selection, the evaluator's ``metric_cmp_fn`` (:meth:`DirectedMetricHandler.is_better`) and learning-rate
scheduling (:attr:`DirectedMetricHandler.mode`) follow the metric's direction. In a bundle::

    "key_val_metric": {"val_arand": {"_target_": "unet3d_monai.metrics.BoundaryAdaptedRandErrorHandler",
                                     "output_transform": "$monai.handlers.from_engine(['pred', 'label'])"}}
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import ignite.distributed as idist
import torch
from ignite.metrics.metric import reinit__is_reduced
from monai.handlers import IgniteMetricHandler
from monai.metrics import CumulativeIterationMetric

from .adapted_rand import AdaptedRandError, BoundaryAdaptedRandError
from .average_precision_metric import (
    DSB2018_IOU_THRESHOLDS,
    AveragePrecision,
    BlobsAveragePrecision,
    BoundaryAveragePrecision,
)
from .dice import DiceCoefficient
from .mean_iou import MeanIoU
from .regression import MSE, PSNR

__all__ = [
    "AdaptedRandErrorHandler",
    "AveragePrecisionHandler",
    "BlobsAveragePrecisionHandler",
    "BoundaryAdaptedRandErrorHandler",
    "BoundaryAveragePrecisionHandler",
    "DiceCoefficientHandler",
    "DirectedMetricHandler",
    "MSEHandler",
    "MeanIoUHandler",
    "PSNRHandler",
]

logger = logging.getLogger(__name__)


def _nonfinite_items(y_pred: torch.Tensor | Sequence[torch.Tensor]) -> int:
    """How many items of a batch ``(B, C, *spatial)`` or of a decollated list hold a NaN or an infinity."""
    if isinstance(y_pred, torch.Tensor):
        return int((~torch.isfinite(y_pred.detach())).flatten(1).any(dim=1).sum()) if y_pred.numel() else 0
    return sum(int(not torch.isfinite(torch.as_tensor(item).detach()).all()) for item in y_pred)


class DirectedMetricHandler(IgniteMetricHandler):
    """An :class:`monai.handlers.IgniteMetricHandler` that knows whether higher values of its metric are better.

    The engine's ``state.metrics[name]`` receives the metric's mean over all items seen in the run; with
    ``save_details`` the per-item values go to ``state.metric_details[name]``.

    A score computed from predictions that hold NaN or infinite values means nothing (thresholding NaN gives an
    empty segmentation, whose score can look good): when any prediction of the run is not finite, the result is
    NaN, which :meth:`is_better` and the checkpointers never take as an improvement.
    """

    higher_is_better: bool = True

    def __init__(self, metric_fn: CumulativeIterationMetric, output_transform: Callable, save_details: bool) -> None:
        self._nonfinite = 0
        super().__init__(metric_fn=metric_fn, output_transform=output_transform, save_details=save_details)

    @reinit__is_reduced
    def reset(self) -> None:
        super().reset()
        self._nonfinite = 0

    @reinit__is_reduced
    def update(self, output: Sequence[Any]) -> None:
        if len(output) == 2:
            self._nonfinite += _nonfinite_items(output[0])
        super().update(output)

    def compute(self) -> Any:
        result = super().compute()
        nonfinite = int(idist.all_reduce(self._nonfinite))
        if nonfinite:
            logger.warning(
                f"{nonfinite} validation prediction(s) hold NaN or infinite values: the metric is NaN and this "
                "validation cannot be a best."
            )
            return math.nan
        return result

    @property
    def mode(self) -> str:
        """``"max"`` or ``"min"``, the ``mode`` a ``ReduceLROnPlateau`` scheduler should use."""
        return "max" if self.higher_is_better else "min"

    def is_better(self, current: float, best: float) -> bool:
        """Whether ``current`` improves on ``best`` (usable as an evaluator's ``metric_cmp_fn``).

        NaN is never better, and anything that is not NaN is better than a NaN best.
        """
        if math.isnan(current):
            return False
        if math.isnan(best):
            return True
        return current > best if self.higher_is_better else current < best


class MeanIoUHandler(DirectedMetricHandler):
    """Engine handler of :class:`~unet3d_monai.metrics.MeanIoU` (higher is better); arguments as there."""

    higher_is_better = MeanIoU.higher_is_better

    def __init__(
        self,
        threshold: float = 0.5,
        skip_channels: Sequence[int] = (),
        ignore_index: int | None = None,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        metric = MeanIoU(threshold=threshold, skip_channels=skip_channels, ignore_index=ignore_index)
        super().__init__(metric, output_transform, save_details)


class DiceCoefficientHandler(DirectedMetricHandler):
    """Engine handler of :class:`~unet3d_monai.metrics.DiceCoefficient` (higher is better); arguments as there."""

    higher_is_better = DiceCoefficient.higher_is_better

    def __init__(
        self,
        epsilon: float = 1e-6,
        threshold: float | None = None,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        super().__init__(DiceCoefficient(epsilon=epsilon, threshold=threshold), output_transform, save_details)


class AdaptedRandErrorHandler(DirectedMetricHandler):
    """Engine handler of :class:`~unet3d_monai.metrics.AdaptedRandError` (lower is better); arguments as there."""

    higher_is_better = AdaptedRandError.higher_is_better

    def __init__(
        self,
        use_last_target: bool = False,
        ignore_index: int | None = None,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        metric = AdaptedRandError(use_last_target=use_last_target, ignore_index=ignore_index)
        super().__init__(metric, output_transform, save_details)


class BoundaryAdaptedRandErrorHandler(DirectedMetricHandler):
    """Engine handler of :class:`~unet3d_monai.metrics.BoundaryAdaptedRandError` (lower is better)."""

    higher_is_better = BoundaryAdaptedRandError.higher_is_better

    def __init__(
        self,
        thresholds: Sequence[float] = (0.3, 0.4, 0.5, 0.6),
        use_first_input: bool = True,
        use_last_target: bool = True,
        ignore_index: int | None = None,
        grow_segments: bool = False,
        segmenter: Callable | None = None,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        metric = BoundaryAdaptedRandError(
            thresholds=thresholds,
            use_first_input=use_first_input,
            use_last_target=use_last_target,
            ignore_index=ignore_index,
            grow_segments=grow_segments,
            segmenter=segmenter,
        )
        super().__init__(metric, output_transform, save_details)


class AveragePrecisionHandler(DirectedMetricHandler):
    """Engine handler of :class:`~unet3d_monai.metrics.AveragePrecision` (higher is better); arguments as there."""

    higher_is_better = AveragePrecision.higher_is_better

    def __init__(
        self,
        use_last_target: bool = False,
        iou_thresholds: Sequence[float] = DSB2018_IOU_THRESHOLDS,
        min_instance_size: int | None = None,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        metric = AveragePrecision(
            use_last_target=use_last_target, iou_thresholds=iou_thresholds, min_instance_size=min_instance_size
        )
        super().__init__(metric, output_transform, save_details)


class BoundaryAveragePrecisionHandler(DirectedMetricHandler):
    """Engine handler of :class:`~unet3d_monai.metrics.BoundaryAveragePrecision` (higher is better)."""

    higher_is_better = BoundaryAveragePrecision.higher_is_better

    def __init__(
        self,
        thresholds: Sequence[float] = (0.3, 0.4, 0.5, 0.6),
        input_channel: int = 0,
        use_last_target: bool = True,
        iou_thresholds: Sequence[float] = DSB2018_IOU_THRESHOLDS,
        min_instance_size: int | None = None,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        metric = BoundaryAveragePrecision(
            thresholds=thresholds,
            input_channel=input_channel,
            use_last_target=use_last_target,
            iou_thresholds=iou_thresholds,
            min_instance_size=min_instance_size,
        )
        super().__init__(metric, output_transform, save_details)


class BlobsAveragePrecisionHandler(DirectedMetricHandler):
    """Engine handler of :class:`~unet3d_monai.metrics.BlobsAveragePrecision` (higher is better)."""

    higher_is_better = BlobsAveragePrecision.higher_is_better

    def __init__(
        self,
        thresholds: Sequence[float] = (0.4, 0.5, 0.6, 0.7, 0.8),
        input_channel: int = 0,
        use_last_target: bool = True,
        iou_thresholds: Sequence[float] = DSB2018_IOU_THRESHOLDS,
        min_instance_size: int | None = None,
        segmenter: Callable | None = None,
        output_transform: Callable = lambda x: x,
        save_details: bool = True,
    ) -> None:
        metric = BlobsAveragePrecision(
            thresholds=thresholds,
            input_channel=input_channel,
            use_last_target=use_last_target,
            iou_thresholds=iou_thresholds,
            min_instance_size=min_instance_size,
            segmenter=segmenter,
        )
        super().__init__(metric, output_transform, save_details)


class PSNRHandler(DirectedMetricHandler):
    """Engine handler of :class:`~unet3d_monai.metrics.PSNR` (higher is better); arguments as there."""

    higher_is_better = PSNR.higher_is_better

    def __init__(
        self, data_range: float | None = None, output_transform: Callable = lambda x: x, save_details: bool = True
    ) -> None:
        super().__init__(PSNR(data_range=data_range), output_transform, save_details)


class MSEHandler(DirectedMetricHandler):
    """Engine handler of :class:`~unet3d_monai.metrics.MSE` (lower is better); arguments as there."""

    higher_is_better = MSE.higher_is_better

    def __init__(self, output_transform: Callable = lambda x: x, save_details: bool = True) -> None:
        super().__init__(MSE(), output_transform, save_details)
