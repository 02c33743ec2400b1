"""Adapted Rand error (SNEMI3D) of instance segmentations and of boundary probability maps."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from monai.utils import MetricReduction
from scipy import ndimage

from .contingency import CompactLabels, ContingencyTable, contingency_table
from .instance import InstanceMetric, check_thresholds, component_labels, grow_segments, segment_item, to_label_array

__all__ = ["AdaptedRandError", "BoundaryAdaptedRandError", "adapted_rand_error", "adapted_rand_error_from_table"]


def adapted_rand_error_from_table(table: ContingencyTable, ignore_labels: Sequence[int] = (0,)) -> float:
    """Adapted Rand error from a contingency table (rows: ground truth, columns: prediction).

    With ``n_ij`` the voxels shared by true label ``i`` and predicted label ``j``, ``a_i`` and ``b_j`` the row and
    column sums and ``N`` the total, all counted over voxels whose true label is not in ``ignore_labels``::

        error = 1 - (sum n_ij^2 - N) / (0.5 * (sum a_i^2 - N) + 0.5 * (sum b_j^2 - N))

    i.e. one minus the F-score of the Rand split and merge scores over pairs of distinct voxels. Returns NaN where
    the denominator is zero (no pair of counted voxels shares a label in either image, e.g. no voxel counted).
    """
    keep = ~np.isin(table.true_values[table.rows], np.asarray(ignore_labels, dtype=np.int64))
    counts = table.counts[keep].astype(np.float64)
    total = counts.sum()
    true_sizes = np.bincount(table.rows[keep], weights=counts, minlength=table.true_values.size)
    test_sizes = np.bincount(table.cols[keep], weights=counts, minlength=table.test_values.size)
    pairs_both = counts @ counts - total
    pairs_true = true_sizes @ true_sizes - total
    pairs_test = test_sizes @ test_sizes - total
    denominator = 0.5 * pairs_true + 0.5 * pairs_test
    if denominator == 0:
        return float("nan")
    return float(1.0 - pairs_both / denominator)


def adapted_rand_error(
    true: np.ndarray | CompactLabels, test: np.ndarray | CompactLabels, ignore_labels: Sequence[int] = (0,)
) -> float:
    """Adapted Rand error between a ground-truth labelling ``true`` and a segmentation ``test``.

    Equal to ``skimage.metrics.adapted_rand_error(true, test, ignore_labels=ignore_labels)[0]`` (voxels whose
    *true* label is in ``ignore_labels`` are left out; label 0 of ``test`` is an ordinary segment), computed from a
    sparse contingency table so that it needs no loop over labels. 0 is a perfect segmentation.

    Example::

        >>> adapted_rand_error(np.array([1, 1, 2, 2]), np.array([1, 1, 1, 1]))  # one merge
        0.5
    """
    return adapted_rand_error_from_table(contingency_table(true, test), ignore_labels)


class AdaptedRandError(InstanceMetric):
    """Adapted Rand error of instance segmentations, per batch item (lower is better).

    ``y_pred`` of shape ``(B, C, *spatial)`` holds integer instance labels (whole-valued floats are accepted);
    every channel is a candidate segmentation and the lowest error over channels is the item's score (with one
    channel, simply its error). ``y`` of shape ``(B, C_label, *spatial)`` holds the ground-truth instances.
    Ground-truth voxels labelled 0 (and ``ignore_index``) are left out, exactly as
    ``skimage.metrics.adapted_rand_error`` does; the item's value equals ``adapted_rand_error(y, y_pred)[0]``.
    Items where the error is undefined (for instance a ground truth without any labelled voxel) are NaN and are
    skipped by the mean reduction.

    Args:
        use_last_target: take the last channel of ``y`` as the ground-truth instances; otherwise ``y`` must have
            one channel.
        ignore_index: a ground-truth label left out of the score, in addition to 0.
        reduction: MONAI reduction mode of :meth:`aggregate`, default ``"mean"`` (mean over items).
        get_not_nans: whether :meth:`aggregate` also returns the number of defined items.

    Example::

        >>> metric = AdaptedRandError()
        >>> y = torch.tensor([1, 1, 2, 2]).view(1, 1, 1, 4)
        >>> metric(y_pred=torch.ones_like(y), y=y)  # the two instances merged
        tensor([[0.5000]], dtype=torch.float64)
    """

    higher_is_better = False

    def __init__(
        self,
        use_last_target: bool = False,
        ignore_index: int | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__(use_last_target=use_last_target, reduction=reduction, get_not_nans=get_not_nans)
        self.ignore_index = ignore_index
        self.ignore_labels = (0,) if ignore_index is None else (0, int(ignore_index))

    def _candidates(self, y_pred: torch.Tensor) -> Iterator[np.ndarray | CompactLabels]:
        for channel in y_pred:
            yield to_label_array(channel, "y_pred (predicted instances)")

    def _score(self, truth: CompactLabels, candidate: np.ndarray | CompactLabels) -> float:
        return adapted_rand_error(truth, candidate, self.ignore_labels)


class BoundaryAdaptedRandError(AdaptedRandError):
    """Adapted Rand error of the segmentations obtained from a boundary probability map (lower is better).

    For each threshold ``t``, the interior ``y_pred < t`` is split into connected components (face connectivity;
    boundary voxels form label 0, which counts as one ordinary predicted segment) and scored with
    :class:`AdaptedRandError` against the ground-truth instances; the item's score is the lowest error over
    thresholds (and channels, when ``use_first_input`` is False).

    The reference implementation kept ``not (p > t)``, which differs only on voxels exactly equal to a threshold.
    As in ``skimage.metrics.adapted_rand_error``, the predicted label 0 (all boundary voxels) is one ordinary
    segment, so a thick predicted boundary band raises the error: where boundaries are a large share of the
    volume (small cells, anisotropic stacks), every segmentation scores close to 1. ``grow_segments=True``
    first gives each boundary voxel the label of the nearest interior component (as a seeded watershed would)
    and so scores the cells themselves; it costs one Euclidean distance transform per threshold.

    ``y_pred``: ``(B, C, *spatial)`` boundary probabilities. ``y``: ``(B, C_label, *spatial)``, the instances in the
    last channel by default.

    Args:
        thresholds: probability thresholds, values in [0, 1].
        use_first_input: use only channel 0 of ``y_pred``; otherwise every channel is a boundary map candidate.
        use_last_target: take the last channel of ``y`` as the ground-truth instances.
        ignore_index: a ground-truth label left out of the score, in addition to 0.
        grow_segments: assign the boundary voxels to the nearest component before scoring (False: the seed's
            definition).
        segmenter: score the segmentation this callable makes of each boundary map ``(1, *spatial)`` instead of
            the thresholded components, e.g. the ``Segmenter`` that prediction uses, so that validation scores
            what prediction will deliver (``thresholds`` and ``grow_segments`` are then not used).
        reduction: MONAI reduction mode of :meth:`aggregate`.
        get_not_nans: whether :meth:`aggregate` also returns the number of defined items.

    Example::

        >>> metric = BoundaryAdaptedRandError(thresholds=(0.5,))
        >>> boundary = torch.tensor([0.1, 0.1, 0.9, 0.1, 0.1]).view(1, 1, 1, 5)
        >>> instances = torch.tensor([1, 1, 0, 2, 2]).view(1, 1, 1, 5)
        >>> metric(y_pred=boundary, y=instances)
        tensor([[0.]], dtype=torch.float64)
    """

    def __init__(
        self,
        thresholds: Sequence[float] = (0.3, 0.4, 0.5, 0.6),
        use_first_input: bool = True,
        use_last_target: bool = True,
        ignore_index: int | None = None,
        grow_segments: bool = False,
        segmenter: Callable[[np.ndarray], np.ndarray] | None = None,
        reduction: MetricReduction | str = MetricReduction.MEAN,
        get_not_nans: bool = False,
    ) -> None:
        super().__init__(
            use_last_target=use_last_target, ignore_index=ignore_index, reduction=reduction, get_not_nans=get_not_nans
        )
        self.thresholds = check_thresholds(thresholds, "BoundaryAdaptedRandError thresholds")
        self.use_first_input = use_first_input
        self.grow_segments = bool(grow_segments)
        if segmenter is not None and not callable(segmenter):
            raise TypeError(f"BoundaryAdaptedRandError segmenter must be callable, got {type(segmenter).__name__}.")
        self.segmenter = segmenter

    def _candidates(self, y_pred: torch.Tensor) -> Iterator[np.ndarray | CompactLabels]:
        maps = y_pred[:1] if self.use_first_input else y_pred
        for boundary in maps:
            probabilities = boundary.detach().float().cpu().numpy()
            if self.segmenter is not None:
                yield segment_item(self.segmenter, probabilities[None], y_pred)
                continue
            for threshold in self.thresholds:
                if self.grow_segments:
                    structure = ndimage.generate_binary_structure(probabilities.ndim, 1)
                    yield grow_segments(ndimage.label(probabilities < threshold, structure=structure)[0])
                else:
                    yield component_labels(probabilities < threshold)
