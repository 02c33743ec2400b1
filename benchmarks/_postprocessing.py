"""Segmentation settings chosen on the validation volumes, for methods other than the bundle's own training.

The bundle chooses its segmentation settings on its validation volumes when training ends (the model record's
``segmentation``). For a fair comparison, pytorch-3dunet's probabilities and the no-learning baseline get the same
treatment: the bundle's segmenter, its settings searched by ``unet3d_monai.planning.choose_segmentation`` over
candidates derived from the training labels' objects, each scored on the validation volumes with scikit-image
(``_scores``); the test volumes are never looked at.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import _scores
import numpy as np

from unet3d_monai.io.voxel_size import read_voxel_size
from unet3d_monai.planning import (
    DatasetFingerprint,
    candidate_settings,
    choose_segmentation,
    compute_fingerprint,
    planned_segmenter,
)
from unet3d_monai.planning.segmentation_choice import SegmentationChoice
from unet3d_monai.segmentation.segmenter import Segmenter

__all__ = ["choose_on_validation", "rank_score", "sampling_of"]


def sampling_of(path: Path, spatial_ndim: int) -> list[float] | None:
    """The voxel size of a volume's last ``spatial_ndim`` axes, or None when its file states none."""
    voxel_size, _ = read_voxel_size(path)
    return None if voxel_size is None else list(voxel_size)[-spatial_ndim:]


def rank_score(kind: str, truth: np.ndarray, labels: np.ndarray) -> float:
    """The figure a segmentation is ranked by: adapted Rand error for cells (``boundary``), AP at IoU 0.5 for
    nuclei (``instances``)."""
    if kind == "boundary":
        return _scores.score_boundary(truth, labels.reshape(truth.shape))[_scores.ARAND]
    return _scores.ap50(truth, labels.reshape(truth.shape))


def choose_on_validation(
    kind: str,
    mode: str,
    maps: Sequence[np.ndarray],
    truths: Sequence[np.ndarray],
    samplings: Sequence[Sequence[float] | None],
    train_dir: Path | DatasetFingerprint,
    start_min_distance: int = 2,
) -> SegmentationChoice:
    """The settings of ``mode`` that score best on the validation volumes: ``maps`` their probabilities
    ``(1, *spatial)``, ``truths`` their labels, ``samplings`` their voxel sizes; candidates around the objects of
    the training labels in ``train_dir`` (or of a fingerprint already computed)."""
    fingerprint = train_dir if isinstance(train_dir, DatasetFingerprint) else compute_fingerprint(train_dir)
    start = planned_segmenter(mode, fingerprint, min_distance=start_min_distance)
    candidates = candidate_settings(start, fingerprint.object_radius, fingerprint.object_voxels)

    def score(segmenter: Segmenter) -> float:
        values = [
            rank_score(kind, truth, segmenter(np.asarray(probabilities), sampling=sampling))
            for probabilities, truth, sampling in zip(maps, truths, samplings)
        ]
        return float(np.mean(values))

    return choose_segmentation(score, start, candidates, higher_is_better=kind != "boundary")
