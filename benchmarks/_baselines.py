"""No-learning baselines of the quality benchmark: Gaussian smoothing, Otsu thresholds and watersheds
(scikit-image).

Each baseline maps a raw volume ``(Z, Y, X)`` (``(1, Y, X)`` for 2D data) to what the trained network's
post-processing would give: cells, nucleus instances, class ids, or a denoised volume in the raw's units.
:func:`candidates` lists the variants tried for a kind of task (smoothing sigma 1 or 2 voxels, two ways of
seeding); :func:`intensity_map` turns smoothed raw into a map the bundle's own segmenter takes. The benchmark picks
the variant that scores best on the validation volumes and reports it on the test volumes, with its description.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage
from scipy.optimize import linear_sum_assignment
from skimage.feature import peak_local_max
from skimage.filters import gaussian, threshold_multiotsu, threshold_otsu
from skimage.measure import label as connected_label
from skimage.metrics import contingency_table
from skimage.segmentation import watershed

__all__ = [
    "Baseline",
    "candidates",
    "distance_seeds",
    "intensity_map",
    "membrane_watershed",
    "multi_otsu_classes",
    "otsu_components",
    "smooth",
]

SIGMAS = (1.0, 2.0)
MIN_DISTANCE = 2

Baseline = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(raw, truth) -> output``; only the multiclass baseline looks at ``truth`` (to name its classes)."""


def smooth(raw: np.ndarray, sigma: float) -> np.ndarray:
    """``skimage.filters.gaussian`` with ``sigma`` voxels along every axis longer than one voxel."""
    raw = np.asarray(raw, dtype=np.float32)
    if sigma == 0:
        return raw
    sigmas = [sigma if size > 1 else 0.0 for size in raw.shape]
    return gaussian(raw, sigma=sigmas, preserve_range=True).astype(np.float32)


def intensity_map(raw: np.ndarray, sigma: float) -> np.ndarray:
    """``raw`` smoothed (:func:`smooth`) and scaled to [0, 1] between its 0.5th and 99.5th percentiles: a stand-in
    for a network's probability map ``(1, *raw.shape)``, bright structures (membranes, nuclei) near 1."""
    smoothed = smooth(raw, sigma)
    low, high = np.percentile(smoothed, [0.5, 99.5])
    return np.clip((smoothed - low) / max(float(high - low), 1e-12), 0.0, 1.0)[None].astype(np.float32)


def distance_seeds(mask: np.ndarray, min_distance: int = MIN_DISTANCE) -> np.ndarray:
    """Seeds at the local maxima of the Euclidean distance transform of ``mask``, ``min_distance`` apart."""
    distance = ndimage.distance_transform_edt(mask)
    peaks = peak_local_max(
        distance, min_distance=min_distance, labels=connected_label(mask, connectivity=1), exclude_border=False
    )
    seeds = np.zeros(mask.shape, dtype=np.int64)
    seeds[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return seeds


def membrane_watershed(raw: np.ndarray, sigma: float, seeding: str) -> np.ndarray:
    """Cells of a membrane stain: smoothed raw, Otsu threshold, seeds in the interior (at or below the
    threshold), then ``skimage.segmentation.watershed`` of the smoothed raw from the seeds.

    Args:
        seeding: ``"components"`` (each connected component of the interior is a seed) or ``"distance"``
            (local maxima of the interior's distance transform, which splits cells joined through gaps in
            their membranes).
    """
    smoothed = smooth(raw, sigma)
    interior = smoothed <= threshold_otsu(smoothed)
    seeds = connected_label(interior, connectivity=1) if seeding == "components" else distance_seeds(interior)
    return watershed(smoothed, markers=seeds).astype(np.uint32)


def otsu_components(raw: np.ndarray, sigma: float, seeding: str) -> np.ndarray:
    """Nuclei of a nuclear stain: the smoothed raw above its Otsu threshold, as connected components
    (``seeding="components"``) or split by a watershed of its distance transform (``seeding="distance"``)."""
    smoothed = smooth(raw, sigma)
    mask = smoothed > threshold_otsu(smoothed)
    if seeding == "components":
        return connected_label(mask, connectivity=1).astype(np.uint32)
    distance = ndimage.distance_transform_edt(mask)
    return watershed(-distance, markers=distance_seeds(mask), mask=mask).astype(np.uint32)


def multi_otsu_classes(raw: np.ndarray, sigma: float, label: np.ndarray) -> tuple[np.ndarray, dict[int, int]]:
    """Three intensity classes of the smoothed raw (``threshold_multiotsu``), renamed to label ids.

    The synthetic multiclass data draw a dark background (0), dim cytoplasm (1) and bright nuclei (2), so
    the intensity order should already be the id order; the renaming is the one-to-one assignment of the
    intensity classes to the ids ``0, 1, 2`` with the largest total overlap with ``label`` (it looks at the
    ground truth, which can only help the baseline).

    Returns:
        ``(classes, mapping)``: the class ids and ``{intensity class: label id}``.
    """
    smoothed = smooth(raw, sigma)
    intensity_class = np.digitize(smoothed, threshold_multiotsu(smoothed, classes=3)).astype(np.int64)
    table = contingency_table(intensity_class, np.asarray(label, dtype=np.int64)).toarray()[:3, :3]
    overlap = np.zeros((3, 3), dtype=np.int64)
    overlap[: table.shape[0], : table.shape[1]] = table
    rows, cols = linear_sum_assignment(-overlap)
    mapping = {int(r): int(c) for r, c in zip(rows, cols)}
    lookup = np.array([mapping[i] for i in range(3)], dtype=np.uint32)
    return lookup[intensity_class], mapping


def candidates(kind: str) -> dict[str, Baseline]:
    """The baselines tried for a kind of task (``boundary``, ``instances``, ``classes``, ``regression``),
    by description."""
    found: dict[str, Baseline] = {}
    if kind == "regression":
        found["noisy input"] = lambda raw, truth: smooth(raw, 0.0)
    for sigma in SIGMAS:
        if kind == "boundary":
            found[f"sigma {sigma:g}, interior components"] = lambda raw, truth, s=sigma: membrane_watershed(
                raw, s, "components"
            )
            found[f"sigma {sigma:g}, distance-transform seeds"] = lambda raw, truth, s=sigma: membrane_watershed(
                raw, s, "distance"
            )
        elif kind == "instances":
            found[f"sigma {sigma:g}, Otsu components"] = lambda raw, truth, s=sigma: otsu_components(
                raw, s, "components"
            )
            found[f"sigma {sigma:g}, Otsu + distance watershed"] = lambda raw, truth, s=sigma: otsu_components(
                raw, s, "distance"
            )
        elif kind == "classes":
            found[f"sigma {sigma:g}, multi-Otsu"] = lambda raw, truth, s=sigma: multi_otsu_classes(raw, s, truth)[0]
        elif kind == "regression":
            found[f"sigma {sigma:g} smoothing"] = lambda raw, truth, s=sigma: smooth(raw, s)
        else:
            raise ValueError(f"Unknown kind of task {kind!r}.")
    return found
