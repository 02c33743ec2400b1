"""From probability maps to label volumes: thresholds, argmax, connected components and seeded watershed."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np
from monai.utils import StrEnum, look_up_option
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.feature import peak_local_max
from skimage.measure import label as connected_label
from skimage.segmentation import relabel_sequential, watershed

__all__ = [
    "SegmentationMode",
    "Segmenter",
    "boundary_components",
    "boundary_distance_watershed",
    "boundary_watershed",
    "connected_components",
    "foreground_watershed",
    "merge_weak_borders",
    "relative_sampling",
]


class SegmentationMode(StrEnum):
    """How a probability map ``(C, *spatial)`` becomes a ``uint32`` label volume.

    - ``threshold``: ``p > threshold`` per channel (0/1; one channel gives ``(*spatial)``).
    - ``argmax``: the most probable channel (semantic classes ``0..C-1``).
    - ``boundary_components``: instances = connected components of the cell interior ``p < threshold``
      of a boundary map.
    - ``boundary_watershed``: seeded watershed of a boundary map, seeds = interior components.
    - ``boundary_distance_watershed``: seeded watershed of a boundary map, seeds = maxima of the distance to the
      boundary inside the interior, so that a gap in a predicted membrane does not merge two cells.
    - ``foreground_components``: instances = connected components of ``p > threshold`` (blobs, nuclei).
    - ``foreground_watershed``: blobs split by a watershed of the distance transform inside ``p > threshold``.
    """

    THRESHOLD = "threshold"
    ARGMAX = "argmax"
    BOUNDARY_COMPONENTS = "boundary_components"
    BOUNDARY_WATERSHED = "boundary_watershed"
    BOUNDARY_DISTANCE_WATERSHED = "boundary_distance_watershed"
    FOREGROUND_COMPONENTS = "foreground_components"
    FOREGROUND_WATERSHED = "foreground_watershed"


INSTANCE_MODES = frozenset(
    {
        SegmentationMode.BOUNDARY_COMPONENTS,
        SegmentationMode.BOUNDARY_WATERSHED,
        SegmentationMode.BOUNDARY_DISTANCE_WATERSHED,
        SegmentationMode.FOREGROUND_COMPONENTS,
        SegmentationMode.FOREGROUND_WATERSHED,
    }
)

#: the modes whose seeds come from a distance transform: the only ones a voxel size (``sampling``) changes
DISTANCE_MODES = frozenset({SegmentationMode.BOUNDARY_DISTANCE_WATERSHED, SegmentationMode.FOREGROUND_WATERSHED})


def connected_components(mask: np.ndarray, min_size: int = 0) -> np.ndarray:
    """Label the face-connected components of a binary mask ``(*spatial)``, numbered 1..N in scan order.

    Components smaller than ``min_size`` voxels are dropped (label 0) and the rest renumbered.

    Example:
        >>> connected_components(np.array([[1, 0, 1], [1, 0, 0]], dtype=bool))
        array([[1, 0, 2],
               [1, 0, 0]], dtype=uint32)
    """
    labels = connected_label(np.asarray(mask, dtype=bool), connectivity=1)
    if min_size > 0 and labels.max() > 0:
        keep = np.bincount(labels.ravel()) >= min_size
        keep[0] = False
        labels = relabel_sequential(np.where(keep[labels], labels, 0))[0]
    return labels.astype(np.uint32)


def boundary_components(boundary: np.ndarray, threshold: float = 0.5, min_size: int = 0) -> np.ndarray:
    """Cells of a boundary probability map ``(*spatial)``: connected components of ``boundary < threshold``.

    Boundary voxels are label 0.
    """
    return connected_components(np.asarray(boundary) < threshold, min_size)


def boundary_watershed(boundary: np.ndarray, threshold: float = 0.5, min_size: int = 0) -> np.ndarray:
    """Cells of a boundary map grown by a seeded watershed until they meet on the boundaries.

    Seeds are the connected components of the interior ``boundary < threshold`` (components below
    ``min_size`` voxels are dropped); ``skimage.segmentation.watershed`` floods the boundary map from them,
    so every voxel gets the label of the nearest seed basin. With no seed the result is all zeros.
    """
    boundary = np.asarray(boundary, dtype=np.float32)
    seeds = boundary_components(boundary, threshold, min_size)
    if seeds.max() == 0:
        return seeds
    return watershed(boundary, markers=seeds).astype(np.uint32)


def relative_sampling(
    sampling: Sequence[float] | None, ndim: int, unit: float | None = None
) -> tuple[float, ...] | None:
    """The voxel size ``sampling`` (one positive number per spatial axis) divided by ``unit``, the length that
    distances and ``min_distance`` count (default: the finest axis of ``sampling``, which then has 1); None for None
    or when every axis comes out 1 (cubes of one unit: distances in voxels, as without a voxel size).

    Raises:
        ValueError: ``sampling`` does not have ``ndim`` positive finite values, or ``unit`` is not positive.

    Example:
        >>> relative_sampling([2.0, 0.25, 0.25], 3)
        (8.0, 1.0, 1.0)
        >>> relative_sampling([0.125, 0.125, 0.125], 3, unit=0.25)   # voxels half as long as the unit
        (0.5, 0.5, 0.5)
    """
    if sampling is None:
        return None
    values = np.asarray(sampling, dtype=np.float64).ravel()
    if values.size != ndim or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(
            f"sampling must be the voxel size of each of the {ndim} spatial axes (positive numbers), got {sampling!r}."
        )
    if unit is not None and not (np.isfinite(unit) and unit > 0):
        raise ValueError(f"unit must be a positive length, got {unit!r}.")
    relative = values / (values.min() if unit is None else float(unit))
    if np.all(relative == 1.0):
        return None
    return tuple(float(v) for v in relative)


def _distance(mask: np.ndarray, relative: tuple[float, ...] | None) -> np.ndarray:
    """The Euclidean distance to the mask's edge, in voxels of the finest axis."""
    if relative is None:
        return ndimage.distance_transform_edt(mask)
    return ndimage.distance_transform_edt(mask, sampling=relative)


def _spaced_peaks(
    distance: np.ndarray, components: np.ndarray, min_distance: int, relative: tuple[float, ...]
) -> np.ndarray:
    """The local maxima of ``distance`` per component with a box footprint of ``min_distance`` finest-axis voxels
    (radius ``max(1, round(min_distance / relative[axis]))`` voxels per axis), strongest first, dropping every peak
    that lies within that box of a stronger kept one of the same component (a plateau gives one seed, not one per
    other voxel)."""
    radius = np.array([max(1, round(min_distance / r)) for r in relative], dtype=np.float64)
    footprint = np.ones(tuple(int(2 * r + 1) for r in radius), dtype=bool)
    peaks = peak_local_max(distance, footprint=footprint, min_distance=1, labels=components, exclude_border=False)
    if len(peaks) < 2:
        return peaks
    order = np.argsort(-distance[tuple(peaks.T)], kind="stable")
    peaks = peaks[order]
    owner = components[tuple(peaks.T)]
    tree = cKDTree(peaks / radius)
    removed = np.zeros(len(peaks), dtype=bool)
    for index, close in enumerate(tree.query_ball_point(peaks / radius, r=1.0, p=np.inf)):
        if removed[index]:
            continue
        close = np.asarray(close, dtype=np.int64)
        removed[close[(close > index) & (owner[close] == owner[index])]] = True
    return peaks[~removed]


def distance_seeds(
    mask: np.ndarray,
    min_distance: int = 2,
    smoothing: float = 0.0,
    sampling: Sequence[float] | None = None,
    unit: float | None = None,
) -> np.ndarray:
    """Seeds inside a binary mask ``(*spatial)``: the local maxima of the Euclidean distance to the mask's edge, at
    least ``min_distance`` voxels apart, numbered ``1..N`` (``int64``, ``(*spatial)``, 0 elsewhere); every component
    of the mask gets at least one seed.

    ``smoothing`` (a Gaussian sigma, voxels) flattens the ridges of the distance map first, so that one object
    does not give several seeds along its medial axis.

    ``sampling`` is the voxel size of each spatial axis (any unit). None (or equal sizes) treats voxels as cubes.
    Otherwise the distance is measured in physical units, counted in voxels of the finest axis, and
    ``min_distance`` and ``smoothing`` are in voxels of the finest axis too: along an axis ``k`` times coarser,
    seeds are ``min_distance / k`` voxels apart (at least 1) and the sigma is ``smoothing / k``. On a stack with
    ``(2, 0.25, 0.25)`` um voxels a nucleus three slices thick gets one seed instead of none or one per slice.
    ``unit`` (same unit as ``sampling``) replaces the finest axis as the length these count, e.g. the finest voxel
    of the data a network was trained on: an input sampled twice as finely then gets seeds twice as many of its
    voxels apart, as far apart physically as on the training data.
    """
    mask = np.asarray(mask, dtype=bool)
    relative = relative_sampling(sampling, mask.ndim, unit)
    distance = _distance(mask, relative)
    if smoothing > 0:
        sigma = smoothing if relative is None else [smoothing / r for r in relative]
        distance = ndimage.gaussian_filter(distance, sigma)
    return _seeds_of_distance(mask, distance, min_distance, relative)


def _seeds_of_distance(
    mask: np.ndarray, distance: np.ndarray, min_distance: int, relative: tuple[float, ...] | None
) -> np.ndarray:
    """:func:`distance_seeds` of a distance map already computed (and smoothed) in ``relative`` voxels."""
    components = connected_label(mask, connectivity=1)
    if relative is None:
        peaks = peak_local_max(distance, min_distance=min_distance, labels=components, exclude_border=False)
    else:
        peaks = _spaced_peaks(distance, components, min_distance, relative)
    markers = np.zeros(mask.shape, dtype=np.int64)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    # a component without a peak (flat distance) still gets one seed
    seeded = np.zeros(components.max() + 1, dtype=bool)
    seeded[components[markers > 0]] = True
    next_label = len(peaks) + 1
    for component in np.flatnonzero(~seeded[1:]) + 1:
        position = np.unravel_index(np.argmax(np.where(components == component, distance, -1)), mask.shape)
        markers[position] = next_label
        next_label += 1
    return markers


def foreground_watershed(
    foreground: np.ndarray,
    threshold: float = 0.5,
    min_distance: int = 2,
    min_size: int = 0,
    sampling: Sequence[float] | None = None,
    unit: float | None = None,
) -> np.ndarray:
    """Blobs of a foreground probability map ``(*spatial)``, touching blobs split by a watershed of the distance
    transform; returns ``uint32`` labels ``(*spatial)``.

    The mask is ``foreground > threshold`` (components below ``min_size`` dropped); seeds are the local
    maxima of its Euclidean distance transform at least ``min_distance`` apart (one per component at least);
    the watershed of the negated distance inside the mask gives the labels; background is 0. ``sampling``, the
    voxel size per spatial axis, makes the distance physical and ``min_distance`` count voxels of the finest axis
    (see :func:`distance_seeds`, also for ``unit``); None treats voxels as cubes.
    """
    mask = connected_components(np.asarray(foreground) > threshold, min_size) > 0
    if not mask.any():
        return np.zeros(mask.shape, dtype=np.uint32)
    relative = relative_sampling(sampling, mask.ndim, unit)
    # one distance transform for the seeds and the flooding
    distance = _distance(mask, relative)
    labels = watershed(-distance, markers=_seeds_of_distance(mask, distance, min_distance, relative), mask=mask)
    return labels.astype(np.uint32)


def merge_weak_borders(labels: np.ndarray, boundary: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Merge neighbouring segments whose shared border is not a membrane: its mean boundary probability is below
    ``threshold``.

    ``labels`` and ``boundary`` are ``(*spatial)``. The border between two segments is the set of face-adjacent voxel
    pairs with one voxel in each; a pair scores the larger probability of its two voxels (so that a one-voxel
    membrane given to one side still counts) and a border the mean of its pairs: the region adjacency graph of
    the segmentation, weighted by the boundary map. Borders are merged weakest first, and a merged segment's
    borders are re-scored over all their pairs (mean linkage), so that a segment lying in a gap of a membrane
    joins one of the two cells, not both. A watershed seeded at several maxima of one cell splits it along lines
    of low probability, which score near 0; a real membrane scores near 1 even where part of it is missing.
    Label 0 stays 0; the result is renumbered ``1..N``.

    Example:
        >>> cells = np.array([[1, 1, 2, 2, 3, 3]])
        >>> boundary = np.array([[0.0, 0.1, 0.1, 0.2, 0.9, 0.1]])
        >>> merge_weak_borders(cells, boundary).tolist()
        [[1, 1, 1, 1, 2, 2]]
    """
    labels = np.asarray(labels)
    boundary = np.asarray(boundary, dtype=np.float64)
    if labels.shape != boundary.shape:
        raise ValueError(f"labels {labels.shape} and boundary {boundary.shape} must have the same shape.")
    count = int(labels.max()) + 1 if labels.size else 1
    pair_keys, pair_scores = [], []
    for axis in range(labels.ndim):
        low = [slice(None)] * labels.ndim
        high = [slice(None)] * labels.ndim
        low[axis], high[axis] = slice(None, -1), slice(1, None)
        first, second = labels[tuple(low)], labels[tuple(high)]
        border = (first != second) & (first > 0) & (second > 0)
        a, b = first[border].astype(np.int64), second[border].astype(np.int64)
        pair_keys.append(np.minimum(a, b) * count + np.maximum(a, b))
        pair_scores.append(np.maximum(boundary[tuple(low)][border], boundary[tuple(high)][border]))
    keys, index = np.unique(np.concatenate(pair_keys), return_inverse=True)
    sums = np.bincount(index, weights=np.concatenate(pair_scores), minlength=len(keys))
    sizes = np.bincount(index, minlength=len(keys))

    # border (sum of pair scores, number of pairs) per pair of segments, smaller label first
    borders: dict[tuple[int, int], tuple[float, int]] = {}
    neighbours: dict[int, set[int]] = {}
    for key, total, size in zip(keys.tolist(), sums.tolist(), sizes.tolist()):
        a, b = divmod(key, count)
        borders[(a, b)] = (total, size)
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    queue = [(total / size, a, b) for (a, b), (total, size) in borders.items()]
    heapq.heapify(queue)
    merged_into = np.arange(count)
    while queue and queue[0][0] < threshold:
        score, a, b = heapq.heappop(queue)
        current = borders.get((a, b))
        if current is None or current[0] / current[1] != score:
            continue  # a stale entry: the border was merged or re-scored since
        # b joins a: its borders with every other segment become (or add to) a's
        del borders[(a, b)]
        neighbours[a].discard(b)
        for other in neighbours.pop(b):
            if other == a:
                continue
            neighbours[other].discard(b)
            moved = borders.pop((min(b, other), max(b, other)))
            pair = (min(a, other), max(a, other))
            kept = borders.get(pair, (0.0, 0))
            borders[pair] = (kept[0] + moved[0], kept[1] + moved[1])
            neighbours[a].add(other)
            neighbours[other].add(a)
            heapq.heappush(queue, (borders[pair][0] / borders[pair][1], *pair))
        merged_into[b] = a
    # follow the merges to the surviving label
    for label in range(count):
        merged_into[label] = merged_into[merged_into[label]]
    return relabel_sequential(merged_into[labels.astype(np.int64)])[0].astype(np.uint32)


def boundary_distance_watershed(
    boundary: np.ndarray,
    threshold: float = 0.5,
    min_distance: int = 3,
    min_size: int = 0,
    smoothing: float = 1.0,
    merge_weak: bool = True,
    sampling: Sequence[float] | None = None,
    unit: float | None = None,
) -> np.ndarray:
    """Cells of a boundary map ``(*spatial)`` by a watershed seeded at the distance maxima of the interior; returns
    ``uint32`` labels ``(*spatial)``.

    The interior is ``boundary < threshold`` (components below ``min_size`` voxels dropped). Where a predicted
    membrane has a gap, the interiors of two cells touch through it and connected components would merge them;
    the distance to the boundary still peaks once in each cell, so seeding at those maxima (at least
    ``min_distance`` voxels apart, after a Gaussian ``smoothing``) keeps them apart. The boundary map is then
    flooded from the seeds, so every voxel belongs to a cell. A cell that is not round (flat along an
    anisotropic axis, elongated) has several distance maxima and is split along lines of low probability; with
    ``merge_weak`` such splits are undone by :func:`merge_weak_borders` at the same ``threshold``: a border whose
    mean probability is below the interior threshold is interior, not membrane. ``sampling``, the voxel size per
    spatial axis, makes the distance physical and ``min_distance`` and ``smoothing`` count voxels of the finest axis
    (see :func:`distance_seeds`, also for ``unit``); None treats voxels as cubes. The flooding and the merging follow
    the boundary map, not distances, and do not use it.

    Example:
        >>> wall = np.zeros((1, 9, 21), np.float32); wall[:, :, 10] = 1.0; wall[:, 4, 10] = 0.0  # a leaky wall
        >>> int(boundary_distance_watershed(wall, min_distance=3).max())
        2
    """
    boundary = np.asarray(boundary, dtype=np.float32)
    interior = connected_components(boundary < threshold, min_size) > 0
    if not interior.any():
        return np.zeros(boundary.shape, dtype=np.uint32)
    markers = distance_seeds(interior, min_distance, smoothing, sampling, unit)
    cells = watershed(boundary, markers=markers).astype(np.uint32)
    return merge_weak_borders(cells, boundary, threshold) if merge_weak else cells


class Segmenter:
    """Turns probabilities ``(C, *spatial)`` into a ``uint32`` label volume (see :class:`SegmentationMode`).

    Instance modes need one channel (a boundary or foreground map) and return ``(*spatial)``.

    Args:
        mode: a :class:`SegmentationMode` value.
        threshold: probability threshold.
        min_size: instances (or seeds) smaller than this many voxels are dropped.
        min_distance: minimum seed distance for ``foreground_watershed`` and ``boundary_distance_watershed``, in
            voxels (of the finest axis when a ``sampling`` is given).
        merge_weak: ``boundary_distance_watershed`` merges the segments whose shared border is weaker than
            ``threshold`` (:func:`merge_weak_borders`); the other modes do not use it.

    Calling it with ``sampling``, the voxel size of each spatial axis of the probabilities (e.g. ``(2.0, 0.25,
    0.25)`` um, ``(Z, Y, X)`` order as the array), measures the distances of those two modes physically (see
    :func:`distance_seeds`); None treats voxels as cubes. The other modes do not use it. ``unit`` (same unit) is the
    length ``min_distance`` counts instead of the finest axis: the finest voxel of the model's training data makes
    seeds as far apart physically on an input of another voxel size as on that data.

    Example:
        >>> Segmenter("argmax")(np.array([[[0.2, 0.7]], [[0.8, 0.3]]])).tolist()
        [[1, 0]]
    """

    def __init__(
        self,
        mode: SegmentationMode | str,
        threshold: float = 0.5,
        min_size: int = 0,
        min_distance: int = 2,
        merge_weak: bool = True,
    ) -> None:
        self.mode = SegmentationMode(look_up_option(mode, SegmentationMode))
        self.threshold = float(threshold)
        self.min_size = int(min_size)
        self.min_distance = int(min_distance)
        self.merge_weak = bool(merge_weak)

    def settings(self) -> dict[str, object]:
        """The mode and the settings it uses, as plain values (``mode``, ``threshold``, and ``min_size``,
        ``min_distance``, ``merge_weak`` where the mode uses them)."""
        values: dict[str, object] = {"mode": self.mode.value}
        if self.mode != SegmentationMode.ARGMAX:
            values["threshold"] = self.threshold
        if self.is_instance:
            values["min_size"] = self.min_size
        if self.uses_sampling:
            values["min_distance"] = self.min_distance
        if self.mode == SegmentationMode.BOUNDARY_DISTANCE_WATERSHED:
            values["merge_weak"] = self.merge_weak
        return values

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.settings().items())
        return f"{type(self).__name__}({settings})"

    @property
    def is_instance(self) -> bool:
        """Whether the mode labels instances (objects spanning many voxels, not each voxel on its own)."""
        return self.mode in INSTANCE_MODES

    @property
    def uses_sampling(self) -> bool:
        """Whether the mode measures distances, so that a voxel size (``sampling``) changes its result."""
        return self.mode in DISTANCE_MODES

    def __call__(
        self, probabilities: np.ndarray, sampling: Sequence[float] | None = None, unit: float | None = None
    ) -> np.ndarray:
        """Labels ``uint32`` of ``probabilities`` ``(C, *spatial)``: ``(*spatial)``, or ``(C, *spatial)`` for
        ``threshold`` of several channels. ``sampling``: the voxel size of each spatial axis, or None (cubes);
        ``unit``: the length ``min_distance`` counts (default: the finest axis of ``sampling``)."""
        probabilities = np.asarray(probabilities)
        if self.mode == SegmentationMode.THRESHOLD:
            labels = (probabilities > self.threshold).astype(np.uint32)
            return labels[0] if labels.shape[0] == 1 else labels
        if self.mode == SegmentationMode.ARGMAX:
            return np.argmax(probabilities, axis=0).astype(np.uint32)
        if probabilities.shape[0] != 1:
            raise ValueError(
                f"Segmentation mode '{self.mode.value}' needs a one-channel probability map; "
                f"got {probabilities.shape[0]} channels (shape {probabilities.shape})."
            )
        channel = probabilities[0]
        if self.mode == SegmentationMode.BOUNDARY_COMPONENTS:
            return boundary_components(channel, self.threshold, self.min_size)
        if self.mode == SegmentationMode.BOUNDARY_WATERSHED:
            return boundary_watershed(channel, self.threshold, self.min_size)
        if self.mode == SegmentationMode.BOUNDARY_DISTANCE_WATERSHED:
            return boundary_distance_watershed(
                channel,
                self.threshold,
                self.min_distance,
                self.min_size,
                merge_weak=self.merge_weak,
                sampling=sampling,
                unit=unit,
            )
        if self.mode == SegmentationMode.FOREGROUND_COMPONENTS:
            return connected_components(channel > self.threshold, self.min_size)
        return foreground_watershed(channel, self.threshold, self.min_distance, self.min_size, sampling, unit)
