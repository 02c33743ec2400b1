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
    "filter_block_shape",
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


def _pieces(size: int, starts: Sequence[int], length: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut an axis at every window start and end.

    Returns:
        the sorted cut positions (0 and ``size`` included), and for each window the index of its first cut and of
        its end cut, so a window is the run of pieces ``[lo_idx, hi_idx)``.
    """
    lo = np.asarray(starts, dtype=np.intp)
    hi = np.minimum(lo + length, size)
    bounds = np.unique(np.concatenate([[0], lo, hi, [size]]))
    return bounds, np.searchsorted(bounds, lo), np.searchsorted(bounds, hi)


def _windows_from_pieces(pieces: np.ndarray, axis: int, lo_idx: np.ndarray, hi_idx: np.ndarray) -> np.ndarray:
    """Window sums from per-piece sums along ``axis`` (a cumulative sum over the few pieces)."""
    shape = list(pieces.shape)
    shape[axis] += 1
    cum = np.zeros(shape, dtype=np.int64)
    np.cumsum(pieces, axis=axis, out=cum[(slice(None),) * axis + (slice(1, None),)])
    return np.take(cum, hi_idx, axis=axis) - np.take(cum, lo_idx, axis=axis)


def _box_sums(array: np.ndarray, axis: int, starts: Sequence[int], length: int) -> np.ndarray:
    """Sums of ``array`` over the windows ``[s, s + length)`` (clipped to the axis) along ``axis``.

    The pieces between window starts and ends are summed with ``np.add.reduceat`` (no full-size temporary).
    """
    bounds, lo_idx, hi_idx = _pieces(array.shape[axis], starts, length)
    pieces = np.add.reduceat(array, bounds[:-1], axis=axis, dtype=np.int64)
    return _windows_from_pieces(pieces, axis, lo_idx, hi_idx)


def _foreground(label: np.ndarray, ignore_index: int | None) -> np.ndarray:
    fg = label != 0
    if ignore_index is not None:
        fg &= label != ignore_index
    return fg


def foreground_counts(
    read_block: Callable[[tuple[slice, ...]], np.ndarray],
    spatial_shape: Sequence[int],
    starts: Sequence[Sequence[int]],
    patch_size: Sequence[int],
    ignore_index: int | None = None,
    block_shape: Sequence[int] | None = None,
) -> np.ndarray:
    """Number of foreground label voxels in every grid patch, reading the label block by block.

    A voxel counts once per channel whose value is neither 0 nor ``ignore_index``. The label is read in blocks
    spanning ``block_shape`` along the leading axes and the whole last axis (choose them chunk-aligned, see
    :func:`filter_block_shape`); besides one block and its boolean mask, only per-piece sums (a few values
    per window and row) are kept. The counts are exact integers.

    Args:
        read_block: ``read_block(region)`` returns the label inside ``region`` (one slice per spatial axis)
            as ``(C, *region_shape)``.
        spatial_shape: the label's spatial shape (2 or 3 axes).
        starts: window starts per axis (from :func:`grid_origins`).
        patch_size: the window size per axis.
        ignore_index: label value that does not count as foreground.
        block_shape: block size along every axis but the last (default 1).

    Returns:
        int64 array of shape ``(len(starts[0]), len(starts[1]), ...)``.
    """
    shape = tuple(int(s) for s in spatial_shape)
    if len(shape) not in (2, 3):
        raise ValueError(f"foreground_counts handles 2 or 3 spatial axes, got shape {shape}.")
    block = tuple(block_shape) if block_shape is not None else (1,) * (len(shape) - 1)
    last = slice(0, shape[-1])
    rows = []
    for a in range(0, shape[0], block[0]):
        b = min(a + block[0], shape[0])
        if len(shape) == 2:
            fg = _foreground(read_block((slice(a, b), last)), ignore_index)
            rows.append(sum(_box_sums(c, 1, starts[1], patch_size[1]) for c in fg))
            continue
        bounds, lo_idx, hi_idx = _pieces(shape[1], starts[1], patch_size[1])
        pieces = np.zeros((b - a, len(bounds) - 1, shape[2]), dtype=np.int64)
        for y0 in range(0, shape[1], block[1]):
            y1 = min(y0 + block[1], shape[1])
            fg = _foreground(read_block((slice(a, b), slice(y0, y1), last)), ignore_index)
            cuts = np.concatenate([[y0], bounds[(bounds > y0) & (bounds < y1)]]) - y0
            first = int(np.searchsorted(bounds, y0, side="right")) - 1
            for c in fg:
                pieces[:, first : first + len(cuts)] += np.add.reduceat(c, cuts, axis=1, dtype=np.int64)
        per_y = _windows_from_pieces(pieces, 1, lo_idx, hi_idx)
        rows.append(_box_sums(per_y, 2, starts[2], patch_size[2]))
    return _box_sums(np.concatenate(rows, axis=0), 0, starts[0], patch_size[0])


def filter_block_shape(
    spatial_shape: Sequence[int], chunks: Sequence[int] | None, bytes_per_voxel: int, max_bytes: int
) -> tuple[int, ...]:
    """Block sizes along every axis but the last for :func:`foreground_counts`.

    Blocks are whole chunks (so no chunk is read twice) and hold at most ``max_bytes`` unless one chunk row
    (one chunk along the leading axes, the whole last axis) is bigger.
    """
    shape = tuple(int(s) for s in spatial_shape)
    unit = tuple(int(c) for c in chunks[:-1]) if chunks is not None else (1,) * (len(shape) - 1)
    row = shape[-1] * bytes_per_voxel
    if len(shape) == 2:
        n = max(1, max_bytes // row)
        return (min(shape[0], max(unit[0], n // unit[0] * unit[0])),)
    slice_bytes = shape[1] * row
    if unit[0] * slice_bytes <= max_bytes:  # whole slices fit
        n = max_bytes // slice_bytes
        return (min(shape[0], n // unit[0] * unit[0]), shape[1])
    n = max(1, max_bytes // (unit[0] * row))
    return (min(shape[0], unit[0]), min(shape[1], max(unit[1], n // unit[1] * unit[1])))


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


FILTER_BYTES_PER_VOXEL = 2
"""Working memory of :func:`foreground_counts` per voxel and channel of a block besides the label itself (boolean
masks)."""


def num_voxels(shape: Sequence[int]) -> int:
    """Product of a shape."""
    return math.prod(int(s) for s in shape)
