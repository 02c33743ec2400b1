"""Ignite engine handlers of the metrics, for a bundle's ``key_val_metric`` / ``additional_metrics``.

Every handler declares ``higher_is_better`` (a class attribute, also readable on instances) so that checkpoint
selection, the evaluator's ``metric_cmp_fn`` (:meth:`DirectedMetricHandler.is_better`) and learning-rate
scheduling (:attr:`DirectedMetricHandler.mode`) follow the metric's direction. In a bundle::

    "key_val_metric": {"val_arand": {"_target_": "unet3d_monai.metrics.BoundaryAdaptedRandErrorHandler",
                                     "output_transform": "$monai.handlers.from_engine(['pred', 'label'])"}}
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import ignite.distributed as idist
import torch
from ignite.metrics.metric import reinit__is_reduced
from monai.handlers import IgniteMetricHandler
from monai.metrics import CumulativeIterationMetric

from .adapted_rand import AdaptedRandError, BoundaryAdaptedRandError
from .average_precision_metric import (
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


def _identity(x: Any) -> Any:
    return x


# arguments of the metrics that their handler sets itself, and the handler's own arguments
_HANDLER_DECIDES = ("reduction", "get_not_nans")
_KIND = inspect.Parameter.POSITIONAL_OR_KEYWORD
_HANDLER_PARAMETERS = (
    inspect.Parameter("output_transform", _KIND, default=_identity, annotation=Callable),
    inspect.Parameter("save_details", _KIND, default=True, annotation=bool),
)


class _OneMetricHandler(DirectedMetricHandler):
    """The handler of one metric class, ``metric_class``: it takes the metric's arguments (all but ``reduction``
    and ``get_not_nans``, which the handler decides) followed by ``output_transform`` and ``save_details``, builds
    the metric with them, and has its direction (``higher_is_better``).

    The signature is the metric's (``inspect.signature`` shows it, and a misspelt argument is refused with a
    ``TypeError`` naming it), so every handler below is the metric class and a docstring.
    """

    metric_class: ClassVar[type[CumulativeIterationMetric]]
    __signature__: ClassVar[inspect.Signature]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.higher_is_better = cls.metric_class.higher_is_better
        metric_parameters = [
            parameter
            for name, parameter in inspect.signature(cls.metric_class).parameters.items()
            if name not in _HANDLER_DECIDES
        ]
        cls.__signature__ = inspect.Signature([*metric_parameters, *_HANDLER_PARAMETERS])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            bound = self.__signature__.bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"{type(self).__name__}: {error}.") from None
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        output_transform, save_details = arguments.pop("output_transform"), arguments.pop("save_details")
        super().__init__(self.metric_class(**arguments), output_transform, save_details)


class MeanIoUHandler(_OneMetricHandler):
    """Engine handler of :class:`~unet3d_monai.metrics.MeanIoU` (higher is better); arguments as there."""

    metric_class = MeanIoU


class DiceCoefficientHandler(_OneMetricHandler):
    """Engine handler of :class:`~unet3d_monai.metrics.DiceCoefficient` (higher is better); arguments as there."""

    metric_class = DiceCoefficient


class AdaptedRandErrorHandler(_OneMetricHandler):
    """Engine handler of :class:`~unet3d_monai.metrics.AdaptedRandError` (lower is better); arguments as there."""

    metric_class = AdaptedRandError


class BoundaryAdaptedRandErrorHandler(_OneMetricHandler):
    """Engine handler of :class:`~unet3d_monai.metrics.BoundaryAdaptedRandError` (lower is better)."""

    metric_class = BoundaryAdaptedRandError


class AveragePrecisionHandler(_OneMetricHandler):
    """Engine handler of :class:`~unet3d_monai.metrics.AveragePrecision` (higher is better); arguments as there."""

    metric_class = AveragePrecision


class BoundaryAveragePrecisionHandler(_OneMetricHandler):
    """Engine handler of :class:`~unet3d_monai.metrics.BoundaryAveragePrecision` (higher is better)."""

    metric_class = BoundaryAveragePrecision


class BlobsAveragePrecisionHandler(_OneMetricHandler):
    """Engine handler of :class:`~unet3d_monai.metrics.BlobsAveragePrecision` (higher is better)."""

    metric_class = BlobsAveragePrecision


class PSNRHandler(_OneMetricHandler):
    """Engine handler of :class:`~unet3d_monai.metrics.PSNR` (higher is better); arguments as there."""

    metric_class = PSNR


class MSEHandler(_OneMetricHandler):
    """Engine handler of :class:`~unet3d_monai.metrics.MSE` (lower is better); arguments as there."""

    metric_class = MSE
