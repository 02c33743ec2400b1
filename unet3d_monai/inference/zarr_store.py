"""zarr (v3) volumes for prediction: a lazily normalised input, and a predictions store written block by block.

zarr is optional (``pip install 'unet3d-monai[distributed]'``); this module imports it when a zarr volume is
first opened. Concurrent writers are safe when each one writes whole chunks: the predictions store is chunked
by the blocks of block-wise prediction, so every block task writes its own chunks.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from unet3d_monai.data.stats import DEFAULT_PERCENTILES, VolumeStats, _small_integer_stats, _two_pass_stats, iter_blocks
from unet3d_monai.inference.chunked_volume import ChunkedVolume
from unet3d_monai.io.files import ZARR_SUFFIX, is_zarr
from unet3d_monai.io.region import Region
from unet3d_monai.io.writers import (
    SOURCE_ATTRIBUTE,
    VOXEL_SIZE_ATTRIBUTE,
    OutputDtype,
    StagedOutput,
    convert_predictions,
)
from unet3d_monai.io.zarr_store import import_zarr, open_zarr_array

__all__ = [
    "ZARR_SUFFIX",
    "ZarrPredictionWriter",
    "ZarrVolume",
    "import_zarr",
    "is_zarr",
    "zarr_volume_stats",
]

_STATS_BLOCK_BYTES = 64 * 2**20
_STATS_CACHE: dict[tuple, VolumeStats] = {}
_STATS_LOCK = threading.Lock()


class _StatsView:
    """A zarr array seen through the attributes the HDF5 statistics read (``file.filename``, ``name``)."""

    def __init__(self, array: Any, path: Path, key: str) -> None:
        self.array, self.dtype, self.shape = array, array.dtype, array.shape
        self.file, self.name = SimpleNamespace(filename=str(path)), key

    def __getitem__(self, index: Any) -> np.ndarray:
        return np.asarray(self.array[index])


def zarr_volume_stats(
    path: str | PathLike, key: str, percentiles: Sequence[float] = DEFAULT_PERCENTILES
) -> VolumeStats:
    """Statistics of a zarr array read chunk-aligned block by block, as
    :func:`~unet3d_monai.data.stats.compute_volume_stats` computes them for HDF5 (cached per process)."""
    path = Path(path)
    array = open_zarr_array(path, key)
    if array.dtype.kind not in "biuf" or array.size == 0:
        raise ValueError(f"zarr store '{path}' array '{key}' must hold numbers; got {array.dtype} {array.shape}.")
    cache_key = (str(path.resolve()), key, tuple(percentiles), os.stat(path).st_mtime_ns)
    with _STATS_LOCK:
        if cache_key in _STATS_CACHE:
            return _STATS_CACHE[cache_key]
    blocks = list(iter_blocks(array.shape, array.chunks, array.dtype.itemsize, _STATS_BLOCK_BYTES))
    view = _StatsView(array, path, key)
    q_low, q_high = (float(p) for p in percentiles)
    if array.dtype.kind in "biu" and array.dtype.itemsize <= 2:
        stats = _small_integer_stats(view, blocks, q_low, q_high)
    else:
        stats = _two_pass_stats(view, blocks, q_low, q_high)
    with _STATS_LOCK:
        _STATS_CACHE[cache_key] = stats
    return stats


class ZarrVolume(ChunkedVolume):
    """An array of a zarr store opened read-only, seen as ``(C, Z, Y, X)``, read and normalised lazily.

    The zarr counterpart of :class:`~unet3d_monai.inference.volumes.HDF5Volume`: the array may be ``(Y, X)``,
    ``(Z, Y, X)`` or ``(C, Z, Y, X)`` (``(C, Y, X)`` with ``channels_first_3d``); every region is normalised with
    the whole volume's statistics.

    Args:
        path: the ``.zarr`` store (a group holding ``key``, or one array).
        key: the array's name in the group, e.g. ``"raw"``.
        normalization: a :class:`~unet3d_monai.data.normalize.Normalize` mode.
        channels_first_3d: read a 3D array as ``(C, Y, X)``.
        replace_nonfinite: value given to NaN/Inf voxels when read; None leaves them.
        stats: the statistics when already known; None computes them.

    Example::

        with ZarrVolume("cells.zarr", "raw") as volume:
            block = volume.read((slice(0, 32), slice(0, 64), slice(0, 64)))   # (C, 32, 64, 64) float32
    """

    def _open(self) -> tuple[Any, str]:
        return open_zarr_array(self.path, self.key), f"zarr store '{self.path}' array '{self.key}'"

    def _compute_stats(self) -> VolumeStats:
        return zarr_volume_stats(self.path, self.key, self.normalize.percentiles)

    def close(self) -> None:
        """Nothing to release (zarr opens chunk files per read); for symmetry with ``HDF5Volume``."""


class ZarrPredictionWriter(StagedOutput):
    """Writes ``predictions`` ``(C, Z, Y, X)`` (and ``segmentation``) to a zarr store ``<output>.part``, renamed on
    :meth:`commit`; an interrupted run leaves the ``.part`` store for ``resume`` and never a partial output under
    the final name.

    The arrays are chunked by ``block_shape``: block-wise prediction writes each block from the process that
    assembled it, and no two processes ever write the same chunk. The writer is picklable (it holds paths
    only), so block tasks on a Dask cluster write with it directly.

    Args:
        output_path: final store name, e.g. ``out/cells_predictions.zarr``.
        input_path: the input (the output must differ from it).
        overwrite: replace an existing output.
        dtype: storage type of ``predictions`` (see :class:`~unet3d_monai.io.writers.OutputDtype`).
        resume: keep an existing ``.part`` store of an interrupted run.

    Example::

        writer = ZarrPredictionWriter("out/a_predictions.zarr", "a.zarr")
        writer.create((1, 256, 1024, 1024), block_shape=(128, 256, 256))
        writer.write_predictions((slice(0, 128), slice(0, 256), slice(0, 256)), block)
        writer.commit()
    """

    def __init__(
        self,
        output_path: str | PathLike,
        input_path: str | PathLike | None = None,
        overwrite: bool = False,
        dtype: OutputDtype | str = OutputDtype.FLOAT32,
        resume: bool = False,
    ) -> None:
        import_zarr()
        super().__init__(output_path, input_path, overwrite, dtype)
        self.resume = resume
        self.fresh = True

    def create(
        self, shape: Sequence[int], block_shape: Sequence[int], segmentation_channels: int | None = None
    ) -> None:
        """Create the store (or, with ``resume``, reopen a matching one): ``predictions`` ``shape`` ``(C, *spatial)``
        chunked ``(1, *block_shape)``, and ``segmentation`` ``uint32`` when ``segmentation_channels`` is given
        (0: ``(Z, Y, X)``, else ``(channels, Z, Y, X)``)."""
        zarr = import_zarr()
        shape, block_shape = tuple(int(s) for s in shape), tuple(int(b) for b in block_shape)
        if self.resume and self.temp_path.is_dir():
            group = zarr.open_group(str(self.temp_path), mode="r")
            if (
                "predictions" in group
                and tuple(group["predictions"].shape) == shape
                and tuple(group["predictions"].chunks) == (1, *block_shape)
                and str(group["predictions"].dtype) == self.dtype.value
            ):
                self.fresh = False
                return
        if self.temp_path.exists():
            shutil.rmtree(self.temp_path)
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        group = zarr.open_group(str(self.temp_path), mode="w")
        predictions = group.create_array(
            "predictions", shape=shape, chunks=(1, *block_shape), dtype=self.dtype.value, fill_value=0
        )
        if self.dtype == OutputDtype.UINT8:
            predictions.attrs["scale"] = 1.0 / 255.0
        if segmentation_channels is not None:
            labels_shape = shape[1:] if segmentation_channels == 0 else (segmentation_channels, *shape[1:])
            chunks = block_shape if segmentation_channels == 0 else (1, *block_shape)
            group.create_array("segmentation", shape=labels_shape, chunks=chunks, dtype="uint32", fill_value=0)
        self.fresh = True

    def _array(self, name: str) -> Any:
        return import_zarr().open_array(str(self.temp_path), path=name, mode="r+")

    def write_predictions(self, region: Region, predictions: np.ndarray) -> None:
        """Write float predictions ``(C, *region)`` at a spatial region (whole chunks, from one process)."""
        self._array("predictions")[(slice(None), *region)] = convert_predictions(predictions, self.dtype)

    def write_segmentation(self, region: Region, labels: np.ndarray) -> None:
        """Write labels ``(*region)`` or ``(C, *region)`` at a spatial region."""
        index = region if labels.ndim == len(region) else (slice(None), *region)
        self._array("segmentation")[index] = np.asarray(labels, dtype=np.uint32)

    def write_voxel_size(self, voxel_size: Sequence[float] | None) -> None:
        """Record the input's voxel size ``(Z, Y, X)`` as ``element_size_um`` of the arrays (None: nothing)."""
        if voxel_size is None:
            return
        group = import_zarr().open_group(str(self.temp_path), mode="r+")
        for name in ("predictions", "segmentation"):
            if name in group:
                group[name].attrs[VOXEL_SIZE_ATTRIBUTE] = [float(v) for v in voxel_size]

    def write_source(self, input_path: str | PathLike) -> None:
        """Record the input's absolute path as the ``source`` attribute of ``predictions``."""
        group = import_zarr().open_group(str(self.temp_path), mode="r+")
        if "predictions" in group:
            group["predictions"].attrs[SOURCE_ATTRIBUTE] = str(Path(input_path).resolve())

    def commit(self) -> Path:
        """Rename the ``.part`` store to the output name (an overwritten output is replaced only now)."""
        return self.publish()
