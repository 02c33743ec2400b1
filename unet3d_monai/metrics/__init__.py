"""Evaluation metrics as MONAI ``CumulativeIterationMetric`` classes, with ignite engine handlers.

Every metric and handler declares ``higher_is_better``. Semantic: :class:`MeanIoU` (the default),
:class:`DiceCoefficient`. Instance: :class:`AdaptedRandError`, :class:`BoundaryAdaptedRandError`,
:class:`AveragePrecision`, :class:`BoundaryAveragePrecision`, :class:`BlobsAveragePrecision`.
Regression: :class:`PSNR`, :class:`MSE`.
"""

from .adapted_rand import AdaptedRandError, BoundaryAdaptedRandError, adapted_rand_error, adapted_rand_error_from_table
from .average_precision_metric import (
    DSB2018_IOU_THRESHOLDS,
    AveragePrecision,
    BlobsAveragePrecision,
    BoundaryAveragePrecision,
    average_precision,
    average_precision_from_table,
)
from .contingency import CompactLabels, ContingencyTable, compact_labels, contingency_table
from .dice import DiceCoefficient
from .handlers import (
    AdaptedRandErrorHandler,
    AveragePrecisionHandler,
    BlobsAveragePrecisionHandler,
    BoundaryAdaptedRandErrorHandler,
    BoundaryAveragePrecisionHandler,
    DiceCoefficientHandler,
    DirectedMetricHandler,
    MeanIoUHandler,
    MSEHandler,
    PSNRHandler,
)
from .instance import InstanceMetric, component_labels
from .mean_iou import MeanIoU
from .regression import MSE, PSNR

__all__ = [
    "DSB2018_IOU_THRESHOLDS",
    "MSE",
    "PSNR",
    "AdaptedRandError",
    "AdaptedRandErrorHandler",
    "AveragePrecision",
    "AveragePrecisionHandler",
    "BlobsAveragePrecision",
    "BlobsAveragePrecisionHandler",
    "BoundaryAdaptedRandError",
    "BoundaryAdaptedRandErrorHandler",
    "BoundaryAveragePrecision",
    "BoundaryAveragePrecisionHandler",
    "CompactLabels",
    "ContingencyTable",
    "DiceCoefficient",
    "DiceCoefficientHandler",
    "DirectedMetricHandler",
    "InstanceMetric",
    "MSEHandler",
    "MeanIoU",
    "MeanIoUHandler",
    "PSNRHandler",
    "adapted_rand_error",
    "adapted_rand_error_from_table",
    "average_precision",
    "average_precision_from_table",
    "compact_labels",
    "component_labels",
    "contingency_table",
]
