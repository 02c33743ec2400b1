"""Checks that an input volume can be scored by a network, made before any output is written."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import numpy as np

__all__ = ["check_dimensions", "check_finite", "fill_nonfinite"]


def check_finite(count: int, path: str | PathLike, key: str | None, replacement: float | None) -> None:
    """Refuse an input with ``count`` NaN/Inf voxels unless they are to be replaced by ``replacement``.

    Raises:
        ValueError: ``count > 0`` and ``replacement`` is None, naming the file, the key and the count.
    """
    if count and replacement is None:
        where = f"'{path}'" + (f" (dataset '{key}')" if key is not None else "")
        raise ValueError(
            f"Input {where} has {count} NaN or infinite voxels, which the network cannot score; nothing was written. "
            "Repair the data, or pass --replace_nonfinite <value> (e.g. 0) to predict with those voxels replaced."
        )


def fill_nonfinite(array: np.ndarray, replacement: float | None) -> np.ndarray:
    """``array`` with its NaN and infinite values replaced by ``replacement`` (unchanged when None or integer).

    Example:
        >>> fill_nonfinite(np.array([1.0, np.nan, np.inf]), 0.0).tolist()
        [1.0, 0.0, 0.0]
    """
    if replacement is None or array.dtype.kind not in "fc":
        return array
    finite = np.isfinite(array)
    return array if finite.all() else np.where(finite, array, np.asarray(replacement, dtype=array.dtype))


def check_dimensions(path: str | PathLike, key: str | None, shape: Sequence[int], spatial_dims: int) -> None:
    """Refuse a 2D image (stored ``(Y, X)``) given to a 3D network, naming both.

    Raises:
        ValueError: ``shape`` has two axes and ``spatial_dims`` is 3.
    """
    if spatial_dims == 3 and len(shape) == 2:
        where = f"'{Path(path)}'" + (f" (dataset '{key}')" if key is not None else "")
        raise ValueError(
            f"Input {where} is a 2D image of shape (Y, X) = {tuple(shape)}, but this network is 3D and needs a "
            "(Z, Y, X) or (C, Z, Y, X) volume: use a 2D bundle such as dsb2018_2d for 2D images, or store the "
            "image as a (Z, Y, X) volume."
        )
