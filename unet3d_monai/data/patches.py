"""Patch enumeration over a volume (sliding window) and label-foreground filtering, read chunk-wise.

Enumeration follows pytorch-3dunet's ``SliceBuilder``: along each axis the windows start at
``0, stride, 2 * stride, ...`` while they fit, and one more window is added flush with the end of the axis
when the last one stops short, so every voxel is covered. Filtering follows its ``FilterSliceBuilder``: a
patch is kept when the fraction of its label voxels that are neither 0 nor ``ignore_index`` exceeds
``threshold``, or else with probability ``slack_acceptance`` (drawn from a ``numpy.random.RandomState``
seeded per volume, in enumeration order, as the seed does).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "check_patch_size",
    "foreground_counts",
    "grid_origins",
    "select_patches",
    "window_starts",
]


def check_patch_size(value: Sequence[int] | int, name: str, ndim: int | None = None) -> tuple[int, ...]:
    """Validate a patch size or stride: a sequence of positive integers (of length ``ndim`` when given).

    Raises:
        ValueError: a value is not a positive integer, or the length is wrong.
    """
    values = (value,) if isinstance(value, (int, np.integer)) else tuple(value)
    if not values or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) or int(v) <= 0 for v in values):
        raise ValueError(f"{name} must be a sequence of positive integers, got {value!r}.")
    if ndim is not None and len(values) != ndim:
        raise ValueError(f"{name} {tuple(values)} has {len(values)} dimensions; expected {ndim}.")
    return tuple(int(v) for v in values)


def window_starts(size: int, patch: int, stride: int) -> list[int]:
    """Window starts along one axis; the last window ends flush with the axis.

    An axis shorter than the patch has the single start 0 (the patch is padded by the reader).

    Example::

        >>> window_starts(10, 4, 3)
        [0, 3, 6]
        >>> window_starts(11, 4, 3)
        [0, 3, 6, 7]
    """
    if size <= patch:
        return [0]
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] + patch < size:
        starts.append(size - patch)
    return starts


def grid_origins(
    spatial_shape: Sequence[int], patch_size: Sequence[int], stride: Sequence[int]
) -> tuple[list[list[int]], list[tuple[int, ...]]]:
    """Sliding-window patch origins over a volume, last axis fastest.

    Returns:
        the starts per axis, and every origin (their Cartesian product) in enumeration order.
    """
    starts = [window_starts(s, p, st) for s, p, st in zip(spatial_shape, patch_size, stride)]
    return starts, list(itertools.product(*starts))


def _box_sums(array: np.ndarray, axis: int, starts: Sequence[int], length: int) -> np.ndarray:
    """Sums of ``array`` over the windows ``[s, s + length)`` (clipped to the axis) along ``axis``."""
    size = array.shape[axis]
    shape = list(array.shape)
    shape[axis] += 1
    cum = np.zeros(shape, dtype=np.int64)  # cum[k] = sum of the first k elements along axis
    np.cumsum(array, axis=axis, dtype=np.int64, out=cum[(slice(None),) * axis + (slice(1, None),)])
    lo = np.asarray(starts, dtype=np.intp)
    hi = np.minimum(lo + length, size)
    return np.take(cum, hi, axis=axis) - np.take(cum, lo, axis=axis)


def foreground_counts(
    read_slab: Callable[[int, int], np.ndarray],
    spatial_shape: Sequence[int],
    starts: Sequence[Sequence[int]],
    patch_size: Sequence[int],
    ignore_index: int | None = None,
    slab_size: int = 1,
) -> np.ndarray:
    """Number of foreground label voxels in every grid patch, reading the label one slab at a time.

    A voxel counts once per channel whose value is neither 0 nor ``ignore_index``. Only one slab along the
    first spatial axis and the per-slab window sums are in memory at any time (box sums from cumulative sums,
    exact integers).

    Args:
        read_slab: ``read_slab(a, b)`` returns the label for first-axis indices ``[a, b)`` as
            ``(C, b - a, *rest)``.
        spatial_shape: the label's spatial shape.
        starts: window starts per axis (from :func:`grid_origins`).
        patch_size: the window size per axis.
        ignore_index: label value that does not count as foreground.
        slab_size: thickness of the slabs along the first axis.

    Returns:
        int64 array of shape ``(len(starts[0]), len(starts[1]), ...)``.
    """
    size0 = int(spatial_shape[0])
    rows = []
    for a in range(0, size0, slab_size):
        b = min(a + slab_size, size0)
        label = read_slab(a, b)
        fg = label != 0
        if ignore_index is not None:
            fg &= label != ignore_index
        counts = fg.sum(axis=0, dtype=np.int64)  # over channels: (b - a, *rest)
        for axis in range(1, counts.ndim):
            counts = _box_sums(counts, axis, starts[axis], patch_size[axis])
        rows.append(counts)
    per_row = np.concatenate(rows, axis=0)
    return _box_sums(per_row, 0, starts[0], patch_size[0])


def select_patches(
    counts: np.ndarray, patch_voxels: int, threshold: float, slack_acceptance: float, seed: int
) -> list[int]:
    """Flat indices (enumeration order) of the patches kept by the foreground filter.

    Args:
        counts: foreground voxels per patch, from :func:`foreground_counts`.
        patch_voxels: voxels per patch times label channels (the fraction's denominator).
        threshold: keep a patch whose foreground fraction is greater than this.
        slack_acceptance: probability of keeping a patch that fails the threshold.
        seed: seed of the ``RandomState`` that draws the slack acceptances.
    """
    rng = np.random.RandomState(seed)
    kept = []
    for i, c in enumerate(counts.ravel()):
        if c / patch_voxels > threshold or rng.rand() < slack_acceptance:
            kept.append(i)
    return kept


FILTER_BYTES_PER_VOXEL = 17
"""Working memory of :func:`foreground_counts` per voxel of a slab, besides the label itself (a boolean mask,
an int64 per-voxel count and an int64 cumulative sum)."""


def slab_thickness(slice_bytes: int, max_bytes: int, chunk: int | None) -> int:
    """Slab thickness along the first axis within ``max_bytes``, a multiple of the chunk size when possible."""
    n = max(1, max_bytes // max(1, slice_bytes))
    if chunk is not None and n >= chunk:
        n = (n // chunk) * chunk
    return n


def num_voxels(shape: Sequence[int]) -> int:
    """Product of a shape."""
    return math.prod(int(s) for s in shape)
