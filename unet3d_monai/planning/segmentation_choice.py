"""Segmentation settings from the data: derived from the objects of the training labels, then chosen on validation.

The settings that turn probabilities into objects depend on the user's objects, not on the network: seeds of a
distance watershed must be closer than the objects are wide and farther apart than the bumps of one object's
distance map; the smallest object kept is a share of a typical one. :func:`planned_segmenter` derives them from
the fingerprint of the training labels (the objects' size, measured physically and counted in voxels of the
finest axis, as ``min_distance`` counts), and :func:`choose_segmentation` then tries values around them on the
validation volumes, scored by the bundle's own validation metric, as nnU-Net chooses its post-processing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np
import torch

from unet3d_monai.planning.fingerprint import DatasetFingerprint
from unet3d_monai.segmentation.segmenter import DISTANCE_MODES, SegmentationMode, Segmenter

__all__ = [
    "SEED_DISTANCE_SHARE",
    "TOLERANCE",
    "SegmentationChoice",
    "candidate_settings",
    "choose_segmentation",
    "departure",
    "metric_score",
    "nearest_to_plan",
    "planned_segmenter",
]

logger = logging.getLogger(__name__)

#: ``min_distance`` as a share of the objects' radius, per mode, before any choice on validation: blobs keep one
#: seed per object unless two maxima are most of a radius apart; cells (with weak borders merged afterwards) are
#: seeded densely, so that a gap in a membrane cannot leave two cells with one seed
SEED_DISTANCE_SHARE = {
    SegmentationMode.FOREGROUND_WATERSHED: 0.8,
    SegmentationMode.BOUNDARY_DISTANCE_WATERSHED: 0.25,
}
#: the seed distances tried on validation, as shares of the objects' radius
SEED_DISTANCE_SHARES = (0.15, 0.25, 0.4, 0.6, 0.8, 1.0, 1.3)
#: the probability thresholds tried on validation
THRESHOLDS = (0.3, 0.4, 0.5, 0.6, 0.7)
#: the smallest objects tried on validation, as shares of the median object's voxels
MIN_SIZE_SHARES = (0.0, 0.05, 0.2)


def _fingerprint(fingerprint: DatasetFingerprint | Mapping[str, Any] | None) -> DatasetFingerprint | None:
    if fingerprint is None or isinstance(fingerprint, DatasetFingerprint):
        return fingerprint
    return DatasetFingerprint.from_dict(fingerprint)


def planned_segmenter(
    mode: SegmentationMode | str,
    fingerprint: DatasetFingerprint | Mapping[str, Any] | None,
    threshold: float = 0.5,
    min_distance: int = 2,
) -> Segmenter:
    """The :class:`Segmenter` of ``mode`` with its seed distance derived from the training objects.

    For the modes that seed at distance maxima (``foreground_watershed``, ``boundary_distance_watershed``),
    ``min_distance`` is ``SEED_DISTANCE_SHARE[mode]`` times the objects' radius
    (:attr:`DatasetFingerprint.object_radius`, in voxels of the finest axis); without measured objects, or for the
    other modes, the given ``min_distance`` stays.

    Example::

        segmenter = planned_segmenter("foreground_watershed", compute_fingerprint("data"))
        segmenter.min_distance   # 5 for nuclei 12 voxels across
    """
    segmenter = Segmenter(mode, threshold=threshold, min_distance=min_distance)
    radius = None if (found := _fingerprint(fingerprint)) is None else found.object_radius
    if segmenter.mode in DISTANCE_MODES and radius:
        segmenter.min_distance = max(1, round(SEED_DISTANCE_SHARE[segmenter.mode] * radius))
    return segmenter


def candidate_settings(
    segmenter: Segmenter, object_radius: float | None, object_voxels: float | None
) -> dict[str, list[Any]]:
    """The values tried for each setting ``segmenter``'s mode uses, around the objects' size: seed distances
    (``SEED_DISTANCE_SHARES`` of ``object_radius``, voxels of the finest axis), thresholds (``THRESHOLDS``),
    smallest objects (``MIN_SIZE_SHARES`` of ``object_voxels``) and, for ``boundary_distance_watershed``, whether to
    merge weak borders. A setting with one value is left out. Without measured objects, seed distances and sizes
    are tried around the segmenter's own.

    Example:
        >>> candidate_settings(Segmenter("foreground_watershed", min_distance=5), 6.0, 400.0)["min_distance"]
        [1, 2, 4, 5, 6, 8]
    """
    candidates: dict[str, list[Any]] = {}
    used = segmenter.settings()
    if "min_distance" in used:
        radius = object_radius or segmenter.min_distance / SEED_DISTANCE_SHARE[segmenter.mode]
        candidates["min_distance"] = sorted({max(1, round(share * radius)) for share in SEED_DISTANCE_SHARES})
    if "threshold" in used:
        candidates["threshold"] = sorted({*THRESHOLDS, segmenter.threshold})
    if "min_size" in used and object_voxels:
        candidates["min_size"] = sorted({round(share * object_voxels) for share in MIN_SIZE_SHARES})
    if "merge_weak" in used:
        candidates["merge_weak"] = [True, False]
    return {name: values for name, values in candidates.items() if len(values) > 1}


@dataclass
class SegmentationChoice:
    """The settings chosen on validation, their score, and every setting tried with its score.

    Attributes:
        settings: the chosen :meth:`Segmenter.settings` (mode, threshold, min_distance, ...).
        score: their validation score.
        start_score: the score of the settings the search started from (the planned ones).
        higher_is_better: the direction of the score.
        trials: one ``{"settings": ..., "score": ...}`` per setting tried, in the order tried.
    """

    settings: dict[str, Any]
    score: float
    start_score: float
    higher_is_better: bool
    trials: list[dict[str, Any]] = field(default_factory=list)

    @property
    def best_score(self) -> float:
        """The best score of any setting tried (the chosen one's may be within the tolerance of it)."""
        scores = [float(t["score"]) for t in self.trials if not math.isnan(float(t["score"]))]
        if not scores:
            return self.score
        return max(scores) if self.higher_is_better else min(scores)

    def segmenter(self) -> Segmenter:
        """A :class:`Segmenter` with the chosen settings."""
        return Segmenter(**self.settings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": dict(self.settings),
            "score": self.score,
            "start_score": self.start_score,
            "higher_is_better": self.higher_is_better,
            "trials": [dict(trial) for trial in self.trials],
            "best_score": self.best_score,
        }


def _better(score: float, best: float, higher_is_better: bool) -> bool:
    if math.isnan(score):
        return False
    if math.isnan(best):
        return True
    return score > best if higher_is_better else score < best


#: the settings searched together, over every combination of their values: they interact (a lower threshold widens
#: what a seed distance separates; merging weak borders undoes what close seeds split)
JOINT_SETTINGS = ("min_distance", "threshold", "merge_weak")


#: how close to the best validation score a setting counts as equally good, as a share of the best's error (1 - score
#: when higher is better, the score itself otherwise): one validation volume holds a few hundred objects, so scores
#: this close are within its sampling noise, and the settings nearest the planned ones are kept among them
TOLERANCE = 0.05


def _check_tolerance(tolerance: float) -> None:
    if not 0.0 <= tolerance < 1.0:
        raise ValueError(f"tolerance must be in [0, 1), the share of the best score's error; got {tolerance}.")


def departure(settings: Mapping[str, Any], planned: Mapping[str, Any]) -> float:
    """How far ``settings`` are from the ``planned`` ones: the seed distance by the log of their ratio, the
    threshold in units of 0.2, any other setting (smallest object, merging weak borders) 0.5 when it differs.

    Example:
        >>> round(departure({"min_distance": 8, "threshold": 0.4}, {"min_distance": 4, "threshold": 0.5}), 3)
        1.193
    """
    total = 0.0
    for name, value in settings.items():
        start = planned.get(name)
        if value == start or name == "mode":
            continue
        if name == "min_distance" and start:
            total += abs(math.log(float(value) / float(start)))
        elif name == "threshold" and start is not None:
            total += abs(float(value) - float(start)) / 0.2
        else:
            total += 0.5
    return total


def choose_segmentation(
    score: Callable[[Segmenter], float],
    start: Segmenter,
    candidates: Mapping[str, Sequence[Any]],
    higher_is_better: bool,
    rounds: int = 2,
    tolerance: float = TOLERANCE,
) -> SegmentationChoice:
    """The settings among ``candidates`` that ``score`` rates best, the planned ones preferred among near-ties.

    The settings of ``JOINT_SETTINGS`` that ``candidates`` holds are searched over every combination of their
    values; then each setting in turn (in the order of ``candidates``) takes the value that scores best with the
    others kept, and the settings are gone through again (at most ``rounds`` times) while that changes any of them.
    Of every setting tried, those scoring within ``tolerance`` times the best's error (scores in [0, 1]: the error
    is 1 - score when higher is better, the score otherwise) of the best are equally good on this validation; the
    one nearest ``start`` (:func:`departure`) is chosen, the better score breaking ties. A NaN score is never
    chosen; with ``tolerance`` 0 the best score wins, ties keeping ``start``.

    Args:
        score: the validation score of a :class:`Segmenter` (see :func:`metric_score`).
        start: the settings to start from (the planned ones, and their mode).
        candidates: the values to try per setting (see :func:`candidate_settings`).
        higher_is_better: the direction of ``score``.
        rounds: the most passes over the settings one at a time.
        tolerance: the share of the best's error within which a score counts as the best.

    Example::

        start = planned_segmenter("foreground_watershed", fingerprint)
        choice = choose_segmentation(metric_score(metric, predictions, labels), start,
                                     candidate_settings(start, fingerprint.object_radius, fingerprint.object_voxels),
                                     higher_is_better=True)
        choice.settings, choice.score
    """
    _check_tolerance(tolerance)
    scores: dict[tuple, float] = {}
    trials: list[dict[str, Any]] = []

    def rated(settings: dict[str, Any]) -> float:
        key = tuple(sorted(settings.items()))
        if key not in scores:
            value = float(score(Segmenter(**settings)))
            scores[key] = value
            trials.append({"settings": dict(settings), "score": value})
        return scores[key]

    current = start.settings()
    best = start_score = rated(current)
    joint = [name for name in candidates if name in JOINT_SETTINGS]
    start_values = {**current}
    for values in product(*(candidates[name] for name in joint)):
        trial = {**start_values, **dict(zip(joint, values))}
        value_score = rated(trial)
        if _better(value_score, best, higher_is_better):
            current, best = trial, value_score
    for _ in range(max(1, int(rounds))):
        changed = False
        for name, values in candidates.items():
            for value in values:
                trial = {**current, name: value}
                value_score = rated(trial)
                if _better(value_score, best, higher_is_better):
                    current, best, changed = trial, value_score, True
        if not changed:
            break
    kept = nearest_to_plan(trials, start_values, higher_is_better, tolerance) or {"settings": current, "score": best}
    return SegmentationChoice(kept["settings"], kept["score"], start_score, bool(higher_is_better), trials)


def nearest_to_plan(
    trials: Sequence[Mapping[str, Any]],
    planned: Mapping[str, Any],
    higher_is_better: bool,
    tolerance: float = TOLERANCE,
) -> dict[str, Any] | None:
    """Of ``trials`` (``{"settings": ..., "score": ...}``), the one nearest ``planned`` (:func:`departure`) among
    those scoring within ``tolerance`` times the best's error of the best (the better score breaking ties; the
    first trial on equal scores); None when every score is NaN.

    Example:
        >>> trials = [{"settings": {"min_distance": d}, "score": s} for d, s in [(4, 0.70), (5, 0.795), (6, 0.804)]]
        >>> nearest_to_plan(trials, {"min_distance": 4}, higher_is_better=True)["settings"]
        {'min_distance': 5}
    """
    _check_tolerance(tolerance)
    scored = [t for t in trials if not math.isnan(float(t["score"]))]
    if not scored:
        return None
    sign = 1.0 if higher_is_better else -1.0
    best = max(sign * float(t["score"]) for t in scored) * sign
    margin = tolerance * max(0.0, (1.0 - best) if higher_is_better else best)
    near = [t for t in scored if abs(float(t["score"]) - best) <= margin]
    pick = min(near, key=lambda t: (departure(t["settings"], planned), -sign * float(t["score"])))
    return {"settings": dict(pick["settings"]), "score": float(pick["score"])}


def metric_score(
    metric: Any, predictions: Sequence[torch.Tensor], labels: Sequence[torch.Tensor]
) -> Callable[[Segmenter], float]:
    """A score of a :class:`Segmenter`: the mean of ``metric`` over the validation items, with the segmenter in
    place of the metric's own (its ``segmenter`` attribute, restored afterwards).

    ``metric`` is a cumulative instance metric that segments its input itself
    (:class:`~unet3d_monai.metrics.BlobsAveragePrecision`, :class:`~unet3d_monai.metrics.BoundaryAdaptedRandError`,
    ...); ``predictions`` are the items' probabilities ``(C, *spatial)`` and ``labels`` their targets
    ``(C_label, *spatial)``, as the validation hands them to the metric.
    """
    if not hasattr(metric, "segmenter"):
        raise TypeError(f"{type(metric).__name__} does not segment its input (no 'segmenter'): nothing to choose.")
    if len(predictions) != len(labels) or not predictions:
        raise ValueError(
            f"metric_score needs as many labels as predictions (>= 1), got {len(predictions)} and {len(labels)}."
        )

    def score(segmenter: Segmenter) -> float:
        own = metric.segmenter
        metric.segmenter = segmenter
        try:
            metric.reset()
            metric(y_pred=list(predictions), y=list(labels))  # one item at a time, as in validation
            value = metric.aggregate()
            value = value[0] if isinstance(value, (tuple, list)) else value
            return float(np.asarray(torch.as_tensor(value).detach().cpu()).mean())
        finally:
            metric.reset()
            metric.segmenter = own

    return score
