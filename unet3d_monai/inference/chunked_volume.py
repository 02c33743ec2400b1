"""The common part of stored input volumes (HDF5 datasets, zarr arrays): a channel-first view read and normalised
region by region."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any, Self

import numpy as np

from unet3d_monai.data.normalize import Normalize
from unet3d_monai.data.stats import VolumeStats, count_dataset_nonfinite
from unet3d_monai.inference.input_checks import fill_nonfinite
from unet3d_monai.io.region import Region

__all__ = ["ChunkedVolume", "channel_first_shape"]

#: the most bytes read at once when the stored array is counted for NaN/Inf (no statistics at hand)
_NONFINITE_BLOCK_BYTES = 8 * 2**20


def channel_first_shape(shape: Sequence[int], name: str, channels_first_3d: bool) -> tuple[int, ...]:
    """(C, Z, Y, X) view of a stored shape: (Y, X) and (Z, Y, X) gain a channel axis, (C, Y, X) a depth.

    Example:
        >>> channel_first_shape((5, 6), "a", False), channel_first_shape((2, 5, 6), "a", True)
        ((1, 1, 5, 6), (2, 1, 5, 6))
    """
    if len(shape) == 2:
        return (1, 1, *shape)
    if len(shape) == 3:
        return (shape[0], 1, shape[1], shape[2]) if channels_first_3d else (1, *shape)
    if len(shape) == 4:
        return tuple(shape)
    raise ValueError(f"{name} has shape {tuple(shape)}; expected (Y, X), (Z, Y, X) or (C, Z, Y, X).")


class ChunkedVolume(ABC):
    """A stored array (an HDF5 dataset, a zarr array) seen as ``(C, Z, Y, X)``, read and normalised lazily.

    The stored array may be ``(Y, X)``, ``(Z, Y, X)`` or ``(C, Z, Y, X)``; a 3D array is ``(C, Y, X)`` when
    ``channels_first_3d`` is set (a multi-channel 2D image). Every region read is normalised with the whole
    volume's statistics, so a region equals the same region of the normalised whole volume. A subclass opens the
    array in :meth:`_open`, computes the statistics in :meth:`_compute_stats` and releases the file in :meth:`close`.

    Args:
        path: the file or store (never opened for writing).
        key: the array's name in it, e.g. ``"raw"``.
        normalization: a :class:`~unet3d_monai.data.normalize.Normalize` mode.
        channels_first_3d: read a 3D array as ``(C, Y, X)`` instead of ``(Z, Y, X)``.
        replace_nonfinite: value given to NaN/Inf voxels when read (in the input's units, before normalisation);
            None leaves them (see :meth:`count_nonfinite`).
        stats: the volume's statistics when already known; None computes them.

    Attributes:
        stored_shape: the array's shape as stored.
        shape: the channel-first shape ``(C, Z, Y, X)``.
        chunks: the stored chunk shape, None for an unchunked array.
    """

    def __init__(
        self,
        path: str | PathLike,
        key: str = "raw",
        normalization: str = "standardize",
        channels_first_3d: bool = False,
        replace_nonfinite: float | None = None,
        stats: VolumeStats | None = None,
    ) -> None:
        self.path = Path(path)
        self.key = key
        self.channels_first_3d = channels_first_3d
        self.replace_nonfinite = None if replace_nonfinite is None else float(replace_nonfinite)
        self.normalize = Normalize(normalization)
        self.stats: VolumeStats | None = stats
        try:
            self._stored, name = self._open()
            self.stored_shape = tuple(int(s) for s in self._stored.shape)
            chunks = self._stored.chunks
            self.chunks = None if chunks is None else tuple(int(c) for c in chunks)
            self.shape = channel_first_shape(self.stored_shape, name, self.channels_first_3d)
            if self.normalize.mode.value != "none" and self.stats is None:
                self.stats = self._compute_stats()
        except BaseException:
            self.close()
            raise

    @abstractmethod
    def _open(self) -> tuple[Any, str]:
        """Open the stored array ``key`` of ``path``: the array, and the words naming it in errors (e.g.
        ``"HDF5 file 'a.h5' dataset 'raw'"``)."""

    @abstractmethod
    def _compute_stats(self) -> VolumeStats:
        """The whole volume's statistics for :attr:`normalize`."""

    def read(self, region: Region) -> np.ndarray:
        """Normalised float32 ``(C, *region)`` for a spatial region ``(z, y, x)`` of the volume."""
        ndim = len(self.stored_shape)
        if ndim == 2:
            data = np.asarray(self._stored[region[1:]])[None, None]
        elif ndim == 3 and self.channels_first_3d:
            data = np.asarray(self._stored[(slice(None), *region[1:])])[:, None]
        elif ndim == 3:
            data = np.asarray(self._stored[region])[None]
        else:
            data = np.asarray(self._stored[(slice(None), *region)])
        data = fill_nonfinite(data, self.replace_nonfinite)
        return np.asarray(self.normalize(data, self.stats), dtype=np.float32)

    def count_nonfinite(self) -> int:
        """Number of NaN/Inf voxels stored in the array (from the statistics, or one pass over the data)."""
        return (
            self.stats.nonfinite
            if self.stats is not None
            else count_dataset_nonfinite(self._stored, _NONFINITE_BLOCK_BYTES)
        )

    def read_all(self) -> np.ndarray:
        """The whole normalised volume ``(C, Z, Y, X)``."""
        return self.read(tuple(slice(0, s) for s in self.shape[1:]))

    @abstractmethod
    def close(self) -> None:
        """Release what the volume holds open."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
