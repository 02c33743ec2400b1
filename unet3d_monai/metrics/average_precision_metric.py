"""Average precision of instance segmentations (the DSB2018 definition), also from boundary and blob maps."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterator, Sequence
from typing import ClassVar

import numpy as np
import torch
from monai.utils import MetricReduction

from .contingency import CompactLabels, ContingencyTable, contingency_table
from .instance import InstanceMetric, check_thresholds, component_labels, segment_item, to_label_array

__all__ = [
    "DSB2018_IOU_THRESHOLDS",
    "AveragePrecision",
    "BlobsAveragePrecision",
    "BoundaryAveragePrecision",
    "average_precision",
    "average_precision_from_table",
]

#: IoU thresholds of the 2018 Data Science Bowl score: 0.5, 0.55, ..., 0.95.
DSB2018_IOU_THRESHOLDS: tuple[float, ...] = tuple(round(0.5 + 0.05 * k, 2) for k in range(10))


def average_precision_from_table(
    table: ContingencyTable,
    iou_thresholds: Sequence[float] = DSB2018_IOU_THRESHOLDS,
    min_instance_size: int | None = None,
) -> float:
    """Average precision from a contingency table (rows: ground truth, columns: prediction).

    Label 0 is background in both images. The IoU of a true instance ``g`` and a predicted instance ``s`` is
    ``|g & s| / (|g| + |s| - |g & s|)`` with whole-instance sizes. At threshold ``t`` a pair with IoU > t is a
    true positive; for ``t >= 0.5`` an instance has at most one such partner, so the matching is one-to-one.
    Unmatched predictions are false positives and unmatched true instances false negatives, and the score at
    ``t`` is ``TP / (TP + FP + FN)``. The result is the mean over thresholds. When neither image has an instance
    the score is 1; when only one has, it is 0. Instances smaller than ``min_instance_size`` voxels are treated as
    background in both images.
    """
    true_sizes = table.true_sizes
    test_sizes = table.test_sizes
    min_size = 0 if min_instance_size is None else int(min_instance_size)
    true_kept = (table.true_values != 0) & (true_sizes >= min_size)
    test_kept = (table.test_values != 0) & (test_sizes >= min_size)
    n_true = int(np.count_nonzero(true_kept))
    n_test = int(np.count_nonzero(test_kept))
    if n_true == 0 and n_test == 0:
        return 1.0
    pairs = true_kept[table.rows] & test_kept[table.cols]
    overlap = table.counts[pairs].astype(np.float64)
    union = true_sizes[table.rows[pairs]] + test_sizes[table.cols[pairs]] - overlap
    iou = overlap / union
    thresholds = np.asarray(iou_thresholds, dtype=np.float64)
    true_positives = np.count_nonzero(iou[None, :] > thresholds[:, None], axis=1)
    scores = true_positives / (n_true + n_test - true_positives)
    return float(scores.mean())


def average_precision(
    true: np.ndarray | CompactLabels,
    test: np.ndarray | CompactLabels,
    iou_thresholds: Sequence[float] = DSB2018_IOU_THRESHOLDS,
    min_instance_size: int | None = None,
) -> float:
    """DSB2018 average precision of the instance segmentation ``test`` against the ground truth ``true``.

    See :func:`average_precision_from_table` for the exact definition; label 0 is background in both.

    Example::

        >>> average_precision(np.array([1, 1, 0, 2, 2]), np.array([1, 1, 0, 0, 0]))  # one instance missed
        0.5
    """
    return average_precision_from_table(contingency_table(true, test), iou_thresholds, min_instance_size)


class AveragePrecision(InstanceMetric):
    """DSB2018 average precision of instance segmentations, per batch item (higher is better).

    ``y_pred`` of shape ``(B, C, *spatial)`` holds integer instance labels (0 is background; whole-valued floats are
    accepted); every channel is a candidate and the best score over channels is the item's score. ``y`` of shape
    ``(B, C_label, *spatial)`` holds the ground-truth instances (0 is background). The score of an item is the mean,
    over IoU thresholds ``t`` (default 0.5, 0.55, ..., 0.95), of ``TP / (TP + FP + FN)`` with one-to-one matching of
    instances at IoU > t (see :func:`average_precision_from_table`).

    Args:
        use_last_target: take the last channel of ``y`` as the ground-truth instances; otherwise ``y`` must have
            one channel.
        iou_thresholds: IoU thresholds, each in [0.5, 1] (matching is one-to-one only from 0.5 on).
        min_instance_size: instances smaller than this many voxels count as background in both images.
        reduction: MONAI reduction mode of :meth:`aggregate`, default ``"mean"`` (mean over items).
        get_not_nans: whether :meth:`aggregate` also returns the number of defined items.

    Example::

        >>> metric = AveragePrecision()
        >>> y = torch.tensor([1, 1, 0, 2, 2]).view(1, 1, 1, 5)
        >>> metric(y_pred=y, y=y)
        tensor([[1.]], dtype=torch.float64)
    """

    higher_is_better = True

    def __init__(
        self,
        use_last_target: bool = False,
        iou_thresholds: Sequence[float] = DSB2018_IOU_THRESHOLDS,
        min_instance_size: int | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__(use_last_target=use_last_target, reduction=reduction, get_not_nans=get_not_nans)
        self.iou_thresholds = check_thresholds(iou_thresholds, f"{type(self).__name__} iou_thresholds", low=0.5)
        if min_instance_size is not None and min_instance_size < 1:
            raise ValueError(f"{type(self).__name__} min_instance_size must be None or >= 1, got {min_instance_size}.")
        self.min_instance_size = min_instance_size

    def _candidates(self, y_pred: torch.Tensor) -> Iterator[np.ndarray | CompactLabels]:
        for channel in y_pred:
            yield to_label_array(channel, "y_pred (predicted instances)")

    def _score(self, truth: CompactLabels, candidate: np.ndarray | CompactLabels) -> float:
        return average_precision(truth, candidate, self.iou_thresholds, self.min_instance_size)


class _ProbabilityMapAveragePrecision(AveragePrecision):
    """Average precision of the segmentations obtained by thresholding one channel of a probability map.

    A subclass gives the kept voxels (:meth:`_mask`) and the thresholds used when none are given
    (``default_thresholds``); the arguments are documented there.
    """

    default_thresholds: ClassVar[tuple[float, ...]]

    def __init__(
        self,
        thresholds: Sequence[float] | None = None,
        input_channel: int = 0,
        use_last_target: bool = True,
        iou_thresholds: Sequence[float] = DSB2018_IOU_THRESHOLDS,
        min_instance_size: int | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
        segmenter: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        super().__init__(
            use_last_target=use_last_target,
            iou_thresholds=iou_thresholds,
            min_instance_size=min_instance_size,
            reduction=reduction,
            get_not_nans=get_not_nans,
        )
        thresholds = self.default_thresholds if thresholds is None else thresholds
        self.thresholds = check_thresholds(thresholds, f"{type(self).__name__} thresholds")
        self.input_channel = input_channel
        if segmenter is not None and not callable(segmenter):
            raise TypeError(f"{type(self).__name__} segmenter must be callable, got {type(segmenter).__name__}.")
        self.segmenter = segmenter

    def _check_inputs(self, y_pred: torch.Tensor, y: torch.Tensor | None) -> None:
        super()._check_inputs(y_pred, y)
        if not -y_pred.shape[1] <= self.input_channel < y_pred.shape[1]:
            raise ValueError(
                f"{type(self).__name__} input_channel={self.input_channel} is out of range for y_pred with "
                f"{y_pred.shape[1]} channels."
            )

    @abstractmethod
    def _mask(self, probabilities: np.ndarray, threshold: float) -> np.ndarray:
        """The voxels kept at ``threshold``; their connected components are the predicted instances."""

    def _candidates(self, y_pred: torch.Tensor) -> Iterator[np.ndarray | CompactLabels]:
        probabilities = y_pred[self.input_channel].detach().float().cpu().numpy()
        if self.segmenter is not None:
            yield segment_item(self.segmenter, probabilities[None], y_pred)
            return
        for threshold in self.thresholds:
            yield component_labels(self._mask(probabilities, threshold))


class BoundaryAveragePrecision(_ProbabilityMapAveragePrecision):
    """Average precision of the segmentations obtained from a boundary probability map (higher is better).

    For each threshold ``t`` the interior ``p < t`` of channel ``input_channel`` is split into connected components
    (face connectivity; boundary voxels are background) and scored with :class:`AveragePrecision`; the item's
    score is the best over thresholds. The reference implementation kept ``not (p > t)``, which differs only on
    voxels exactly equal to a threshold.

    ``y_pred``: ``(B, C, *spatial)`` boundary probabilities. ``y``: ``(B, C_label, *spatial)``, the instances in the
    last channel by default.

    Args:
        thresholds: probability thresholds, values in [0, 1]; None: 0.3, 0.4, 0.5, 0.6.
        input_channel: channel of ``y_pred`` holding the boundary map.
        use_last_target: take the last channel of ``y`` as the ground-truth instances.
        iou_thresholds: IoU thresholds of the average precision, each in [0.5, 1].
        min_instance_size: instances smaller than this many voxels count as background in both images.
        reduction: MONAI reduction mode of :meth:`aggregate`.
        get_not_nans: whether :meth:`aggregate` also returns the number of defined items.
        segmenter: score the segmentation this callable makes of the boundary map ``(1, *spatial)`` instead of
            the thresholded components, e.g. the ``Segmenter`` that prediction uses, so that validation scores what
            prediction delivers (``thresholds`` is then not used).

    Example::

        >>> metric = BoundaryAveragePrecision(thresholds=(0.5,))
        >>> boundary = torch.tensor([0.1, 0.1, 0.9, 0.1, 0.1]).view(1, 1, 1, 5)
        >>> metric(y_pred=boundary, y=torch.tensor([1, 1, 0, 2, 2]).view(1, 1, 1, 5))
        tensor([[1.]], dtype=torch.float64)
    """

    default_thresholds = (0.3, 0.4, 0.5, 0.6)

    def _mask(self, probabilities: np.ndarray, threshold: float) -> np.ndarray:
        return probabilities < threshold


class BlobsAveragePrecision(_ProbabilityMapAveragePrecision):
    """Average precision of the segmentations obtained from a foreground (blob) probability map (higher is better).

    For each threshold ``t`` the foreground ``p > t`` of channel ``input_channel`` is split into connected
    components (face connectivity) and scored with :class:`AveragePrecision`; the item's score is the best over
    thresholds.

    ``y_pred``: ``(B, C, *spatial)`` foreground probabilities. ``y``: ``(B, C_label, *spatial)``, the instances in
    the last channel by default.

    Args:
        thresholds: probability thresholds, values in [0, 1]; None: 0.4, 0.5, 0.6, 0.7, 0.8.
        input_channel: channel of ``y_pred`` holding the foreground map.
        use_last_target: take the last channel of ``y`` as the ground-truth instances.
        iou_thresholds: IoU thresholds of the average precision, each in [0.5, 1].
        min_instance_size: instances smaller than this many voxels count as background in both images.
        reduction: MONAI reduction mode of :meth:`aggregate`.
        get_not_nans: whether :meth:`aggregate` also returns the number of defined items.
        segmenter: score the segmentation this callable makes of the foreground map ``(1, *spatial)`` instead of
            the thresholded components, e.g. the ``Segmenter`` that prediction uses (``foreground_watershed``
            splits touching nuclei that components merge), so that validation scores what prediction delivers
            (``thresholds`` is then not used).

    Example::

        >>> metric = BlobsAveragePrecision()
        >>> blobs = torch.tensor([0.9, 0.9, 0.1, 0.9, 0.9]).view(1, 1, 1, 5)
        >>> metric(y_pred=blobs, y=torch.tensor([1, 1, 0, 2, 2]).view(1, 1, 1, 5))
        tensor([[1.]], dtype=torch.float64)
    """

    default_thresholds = (0.4, 0.5, 0.6, 0.7, 0.8)

    def _mask(self, probabilities: np.ndarray, threshold: float) -> np.ndarray:
        return probabilities > threshold
