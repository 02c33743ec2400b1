"""From probability maps to label volumes: thresholds, argmax, connected components and seeded watershed."""

from __future__ import annotations

import numpy as np
from monai.utils import StrEnum, look_up_option
from scipy import ndimage
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


def distance_seeds(mask: np.ndarray, min_distance: int = 2, smoothing: float = 0.0) -> np.ndarray:
    """Seeds inside a binary mask: the local maxima of the Euclidean distance to the mask's edge, at least
    ``min_distance`` voxels apart, numbered ``1..N``; every component of the mask gets at least one seed.

    ``smoothing`` (a Gaussian sigma, voxels) flattens the ridges of the distance map first, so that one object
    does not give several seeds along its medial axis.
    """
    mask = np.asarray(mask, dtype=bool)
    distance = ndimage.distance_transform_edt(mask)
    if smoothing > 0:
        distance = ndimage.gaussian_filter(distance, smoothing)
    components = connected_label(mask, connectivity=1)
    peaks = peak_local_max(distance, min_distance=min_distance, labels=components, exclude_border=False)
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
    foreground: np.ndarray, threshold: float = 0.5, min_distance: int = 2, min_size: int = 0
) -> np.ndarray:
    """Blobs of a foreground probability map, touching blobs split by a watershed of the distance transform.

    The mask is ``foreground > threshold`` (components below ``min_size`` dropped); seeds are the local
    maxima of its Euclidean distance transform at least ``min_distance`` apart (one per component at least);
    the watershed of the negated distance inside the mask gives the labels; background is 0.
    """
    mask = connected_components(np.asarray(foreground) > threshold, min_size) > 0
    if not mask.any():
        return np.zeros(mask.shape, dtype=np.uint32)
    distance = ndimage.distance_transform_edt(mask)
    markers = distance_seeds(mask, min_distance)
    labels = watershed(-distance, markers=markers, mask=mask)
    return labels.astype(np.uint32)


def boundary_distance_watershed(
    boundary: np.ndarray, threshold: float = 0.5, min_distance: int = 3, min_size: int = 0, smoothing: float = 1.0
) -> np.ndarray:
    """Cells of a boundary map by a watershed seeded at the distance maxima of the interior.

    The interior is ``boundary < threshold`` (components below ``min_size`` voxels dropped). Where a predicted
    membrane has a gap, the interiors of two cells touch through it and connected components would merge them;
    the distance to the boundary still peaks once in each cell, so seeding at those maxima (at least
    ``min_distance`` voxels apart, after a Gaussian ``smoothing``) keeps them apart. The boundary map is then
    flooded from the seeds, so every voxel belongs to a cell.

    Example:
        >>> wall = np.zeros((1, 9, 21), np.float32); wall[:, :, 10] = 1.0; wall[:, 4, 10] = 0.0  # a leaky wall
        >>> int(boundary_distance_watershed(wall, min_distance=3).max())
        2
    """
    boundary = np.asarray(boundary, dtype=np.float32)
    interior = connected_components(boundary < threshold, min_size) > 0
    if not interior.any():
        return np.zeros(boundary.shape, dtype=np.uint32)
    markers = distance_seeds(interior, min_distance, smoothing)
    return watershed(boundary, markers=markers).astype(np.uint32)


class Segmenter:
    """Turns probabilities ``(C, *spatial)`` into a ``uint32`` label volume (see :class:`SegmentationMode`).

    Instance modes need one channel (a boundary or foreground map) and return ``(*spatial)``.

    Args:
        mode: a :class:`SegmentationMode` value.
        threshold: probability threshold.
        min_size: instances (or seeds) smaller than this many voxels are dropped.
        min_distance: minimum seed distance for ``foreground_watershed`` and ``boundary_distance_watershed``.

    Example:
        >>> Segmenter("argmax")(np.array([[[0.2, 0.7]], [[0.8, 0.3]]])).tolist()
        [[1, 0]]
    """

    def __init__(
        self, mode: SegmentationMode | str, threshold: float = 0.5, min_size: int = 0, min_distance: int = 2
    ) -> None:
        self.mode = SegmentationMode(look_up_option(mode, SegmentationMode))
        self.threshold = float(threshold)
        self.min_size = int(min_size)
        self.min_distance = int(min_distance)

    @property
    def is_instance(self) -> bool:
        """Whether the mode labels instances (needs the whole volume in memory)."""
        return self.mode in INSTANCE_MODES

    def __call__(self, probabilities: np.ndarray) -> np.ndarray:
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
            return boundary_distance_watershed(channel, self.threshold, self.min_distance, self.min_size)
        if self.mode == SegmentationMode.FOREGROUND_COMPONENTS:
            return connected_components(channel > self.threshold, self.min_size)
        return foreground_watershed(channel, self.threshold, self.min_distance, self.min_size)
