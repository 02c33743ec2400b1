"""Sparse contingency table between two label images, the common ground of the instance metrics."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CompactLabels", "ContingencyTable", "compact_labels", "contingency_table"]

# Dense look-up tables and dense count tables are used while they stay this small (in entries) or no larger than
# the image itself; beyond that a sort (np.unique) takes over, which is slower but bounded in memory.
_DENSE_MIN_ENTRIES = 1 << 20


@dataclass(frozen=True)
class CompactLabels:
    """A label image renumbered to ``0 .. n - 1``.

    Attributes:
        index: flat array (one entry per voxel, C order) of the new label of every voxel.
        values: ``(n,)`` int64 array, the original label of each new label, in increasing order.
    """

    index: np.ndarray
    values: np.ndarray

    @property
    def num_labels(self) -> int:
        return int(self.values.size)


def compact_labels(labels: np.ndarray) -> CompactLabels:
    """Renumber an integer label image to consecutive labels ``0 .. n - 1`` preserving their order.

    Uses a dense look-up table (two linear passes) when the label values span a range no larger than the image,
    and a sort otherwise.

    Args:
        labels: integer (or boolean) array of any shape and at least one element.

    Returns:
        the renumbered image (flattened) and the original value of each new label.

    Example::

        >>> c = compact_labels(np.array([[7, 7], [3, 10]]))
        >>> c.index.tolist(), c.values.tolist()
        ([1, 1, 0, 2], [3, 7, 10])
    """
    flat = np.asarray(labels).reshape(-1)
    if flat.size == 0:
        raise ValueError("compact_labels needs a label image with at least one voxel, got an empty array.")
    if not (np.issubdtype(flat.dtype, np.integer) or flat.dtype == np.bool_):
        raise ValueError(f"compact_labels expects an integer label image, got dtype {flat.dtype}.")
    flat = flat.astype(np.int64, copy=False)
    low, high = int(flat.min()), int(flat.max())
    span = high - low + 1
    if span <= max(flat.size, _DENSE_MIN_ENTRIES):
        shifted = flat if low == 0 else flat - low
        occupied = np.bincount(shifted, minlength=span) > 0
        values = np.flatnonzero(occupied) + low
        if values.size == span:
            return CompactLabels(shifted, values)
        lookup = np.cumsum(occupied) - 1
        return CompactLabels(lookup[shifted], values)
    values, inverse = np.unique(flat, return_inverse=True)
    return CompactLabels(inverse.reshape(-1).astype(np.int64, copy=False), values)


@dataclass(frozen=True)
class ContingencyTable:
    """Non-zero entries of the contingency table of two label images.

    Entry ``k`` says that ``counts[k]`` voxels carry label ``true_values[rows[k]]`` in the true image and label
    ``test_values[cols[k]]`` in the test image. Labels absent from an image have no row/column.

    Attributes:
        true_values: ``(R,)`` original labels of the true image (rows), increasing.
        test_values: ``(K,)`` original labels of the test image (columns), increasing.
        rows: ``(M,)`` row of each non-zero entry.
        cols: ``(M,)`` column of each non-zero entry.
        counts: ``(M,)`` int64 voxel count of each non-zero entry.
    """

    true_values: np.ndarray
    test_values: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    counts: np.ndarray

    @property
    def true_sizes(self) -> np.ndarray:
        """``(R,)`` voxel count of every true label."""
        return np.bincount(self.rows, weights=self.counts, minlength=self.true_values.size).astype(np.int64)

    @property
    def test_sizes(self) -> np.ndarray:
        """``(K,)`` voxel count of every test label."""
        return np.bincount(self.cols, weights=self.counts, minlength=self.test_values.size).astype(np.int64)


def contingency_table(
    true: np.ndarray | CompactLabels, test: np.ndarray | CompactLabels, shape_check: bool = True
) -> ContingencyTable:
    """Count the voxels of every (true label, test label) pair that occurs, without any loop over labels.

    Both images are renumbered (:func:`compact_labels`), combined into one int64 key per voxel and counted with
    ``np.bincount`` when the dense table is no larger than the image, else with ``np.unique``.

    Args:
        true: the reference label image, or its :class:`CompactLabels`.
        test: the label image to compare, same number of voxels, or its :class:`CompactLabels`.
        shape_check: when both are arrays, require equal shapes (not only equal sizes).

    Example::

        >>> t = contingency_table(np.array([1, 1, 2, 2]), np.array([5, 5, 5, 6]))
        >>> t.rows.tolist(), t.cols.tolist(), t.counts.tolist()
        ([0, 1, 1], [0, 0, 1], [2, 1, 1])
    """
    if shape_check and isinstance(true, np.ndarray) and isinstance(test, np.ndarray) and true.shape != test.shape:
        raise ValueError(f"contingency_table needs label images of equal shape, got {true.shape} and {test.shape}.")
    true_c = true if isinstance(true, CompactLabels) else compact_labels(true)
    test_c = test if isinstance(test, CompactLabels) else compact_labels(test)
    if true_c.index.size != test_c.index.size:
        raise ValueError(
            f"contingency_table needs label images with the same number of voxels, "
            f"got {true_c.index.size} and {test_c.index.size}."
        )
    n_test = test_c.num_labels
    n_cells = true_c.num_labels * n_test
    key = true_c.index * n_test
    key += test_c.index
    if n_cells <= max(key.size, _DENSE_MIN_ENTRIES):
        dense = np.bincount(key, minlength=n_cells)
        cells = np.flatnonzero(dense)
        counts = dense[cells]
    else:
        cells, counts = np.unique(key, return_counts=True)
    rows, cols = np.divmod(cells, n_test)
    return ContingencyTable(true_c.values, test_c.values, rows, cols, counts.astype(np.int64, copy=False))
