"""Volumes that go through the prediction chain on disk: an input too large for memory, and its predictions.

The chain of ``inference.json`` (``preprocessing`` -> ``inferer`` -> ``postprocessing``) carries a volume that fits
in memory as a tensor. A volume that does not (or any HDF5/zarr input with ``blockwise``) goes through the same
steps as one of these objects instead, read region by region:

- :class:`VolumeOnDisk`, the input: :class:`~unet3d_monai.inference.LoadVolumed` makes it,
  :class:`~unet3d_monai.data.Normalized` gives it its statistics, :class:`~unet3d_monai.inference.ToModelGridd` its
  model grid. It is a small picklable description that every process predicting a block opens itself.
- :class:`PredictionsOnDisk`, what :class:`~unet3d_monai.inference.FittedSlidingWindowInferer` returns for it: the
  partial sums of the blocks, assembled into probabilities region by region when the writer reads them, and removed
  with :meth:`PredictionsOnDisk.discard` once the output is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
import shutil
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from unet3d_monai.data.stats import VolumeStats
from unet3d_monai.inference.block_prediction import BlockPlan, assemble_block
from unet3d_monai.inference.chunked_volume import ChunkedVolume
from unet3d_monai.inference.resampled_volume import ResampledVolume
from unet3d_monai.inference.volumes import ArrayVolume, HDF5Volume
from unet3d_monai.inference.zarr_store import ZarrVolume, is_zarr
from unet3d_monai.io.region import Region
from unet3d_monai.runtime.tasks import TaskRunner
from unet3d_monai.segmentation.segmenter import SegmentationMode, Segmenter

__all__ = [
    "BatchItem",
    "LabelsOnDisk",
    "PredictionsOnDisk",
    "StoredLabels",
    "VolumeOnDisk",
    "VoxelwiseLabels",
    "is_on_disk",
    "spatial_regions",
]


class BatchItem:
    """One item of a batch, whole: MONAI's ``decollate_batch`` hands back a value of zero dimensions with ``item()``
    as its ``item()``, so a volume on disk collated into a list of one (see
    :func:`~unet3d_monai.inference.volume_batch.collate_volumes`) comes back as itself for ``postprocessing``. Its
    array dimensions are those of ``shape``."""

    #: read by ``decollate_batch`` only (a batch item is not split further); ``len(shape)`` is the array's
    ndim = 0

    def item(self) -> BatchItem:
        """This volume (what ``decollate_batch`` keeps of an item of zero dimensions)."""
        return self


def is_on_disk(value: object) -> bool:
    """Whether a value of a prediction sample is a volume read region by region (not a tensor or an array)."""
    return isinstance(value, VolumeOnDisk | PredictionsOnDisk | LabelsOnDisk)


def spatial_regions(spatial_shape: Sequence[int], block_shape: Sequence[int]) -> list[Region]:
    """The ``block_shape`` boxes tiling ``spatial_shape`` from its origin (the last ones clipped), in C order.

    Example:
        >>> spatial_regions((3, 4), (2, 4))
        [(slice(0, 2, None), slice(0, 4, None)), (slice(2, 3, None), slice(0, 4, None))]
    """
    ranges = [range(0, int(s), int(b)) for s, b in zip(spatial_shape, block_shape)]
    return [
        tuple(slice(p, min(p + int(b), int(s))) for p, b, s in zip(start, block_shape, spatial_shape))
        for start in itertools.product(*ranges)
    ]


@dataclass(frozen=True)
class VolumeOnDisk(BatchItem):
    """An HDF5 dataset or zarr array predicted block by block: ``(C, *spatial)`` float32 when opened, normalised with
    the whole volume's statistics and, with ``grid``, resampled trilinearly onto the model's grid.

    Small and picklable: the process that predicts a block (this one, or a Dask worker) opens the file itself with
    :meth:`open`; only this description travels.

    Args:
        path: the HDF5 file or zarr store (never opened for writing).
        key: the dataset (array) holding the volume.
        shape: ``(C, *spatial)`` as :meth:`open` reads it (the model's grid once ``grid`` is set).
        stored_spatial_shape: the spatial shape in the file.
        channels_first_3d: read a 3D dataset as ``(C, Y, X)`` (a multi-channel 2D image).
        replace_nonfinite: value given to NaN/Inf voxels; None leaves them.
        normalization: the :class:`~unet3d_monai.data.normalize.Normalize` mode regions are read with.
        stats: the whole volume's statistics (``VolumeStats.to_dict()``), computed once by :meth:`normalized`.
        grid: the spatial shape the volume is resampled to (the model's voxel size); None: as stored.

    Example::

        volume = VolumeOnDisk.of_file("big.h5", "raw").normalized("standardize")
        with volume.open() as opened:
            block = opened.read((slice(0, 32), slice(0, 64), slice(0, 64)))    # (C, 32, 64, 64)
    """

    path: str
    key: str
    shape: tuple[int, ...]
    stored_spatial_shape: tuple[int, ...]
    channels_first_3d: bool = False
    replace_nonfinite: float | None = None
    normalization: str = "none"
    stats: dict | None = None
    grid: tuple[int, ...] | None = None

    @classmethod
    def of_file(
        cls, path: str | Path, key: str, channels_first_3d: bool = False, replace_nonfinite: float | None = None
    ) -> VolumeOnDisk:
        """The volume of dataset ``key`` of ``path`` as stored (only its header is read)."""
        with _opener(path)(path, key, "none", channels_first_3d, replace_nonfinite) as volume:
            shape = tuple(int(s) for s in volume.shape)
        return cls(str(path), key, shape, shape[1:], bool(channels_first_3d), replace_nonfinite)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        """The spatial shape :meth:`open` reads."""
        return self.shape[1:]

    def normalized(self, mode: str) -> VolumeOnDisk:
        """This volume read with normalisation ``mode``; its statistics are computed now, block by block."""
        with _opener(self.path)(self.path, self.key, mode, self.channels_first_3d, self.replace_nonfinite) as opened:
            stats = None if opened.stats is None else opened.stats.to_dict()
        return dataclasses.replace(self, normalization=str(mode), stats=stats)

    def on_grid(self, grid: Sequence[int] | None) -> VolumeOnDisk:
        """This volume resampled onto the spatial shape ``grid`` (None: the stored grid)."""
        spatial = self.stored_spatial_shape if grid is None else tuple(int(g) for g in grid)
        return dataclasses.replace(self, grid=None if grid is None else spatial, shape=(self.shape[0], *spatial))

    @contextlib.contextmanager
    def open(self) -> Iterator[ChunkedVolume | ResampledVolume]:
        """The volume, opened read-only, read region by region (``read(region)`` gives ``(C, *region)``)."""
        stats = None if self.stats is None else VolumeStats.from_dict(self.stats)
        opener = _opener(self.path)
        with opener(
            self.path, self.key, self.normalization, self.channels_first_3d, self.replace_nonfinite, stats
        ) as volume:
            yield volume if self.grid is None else ResampledVolume(volume, self.grid)


def _opener(path: str | Path) -> type[ChunkedVolume]:
    return ZarrVolume if is_zarr(path) else HDF5Volume


class PredictionsOnDisk(BatchItem):
    """The probabilities ``(C_out, *spatial)`` of a volume predicted block by block, read region by region.

    Until the writer reads them they are partial sums on disk, one file per block in ``partials`` (see
    :class:`~unet3d_monai.inference.BlockwisePrediction`): reading a region adds up the partials of the blocks it
    touches and divides by their weights, which gives the in-memory prediction of that region (to float rounding).
    :meth:`on_grid` brings predictions made on the model's grid back onto the input's. :meth:`regions` are the
    regions a writer reads one at a time; :meth:`discard` removes the work folder once the output is written.

    Args:
        plan: the blocks of the volume.
        partials: folder of the blocks' partial sums.
        work_dir: the work folder holding ``partials`` (removed by :meth:`discard`).
        out_channels: channels of the predictions.

    Example::

        predictions = inferer([volume_on_disk], network)[0]          # a PredictionsOnDisk
        for region in predictions.regions():
            output[(slice(None), *region)] = predictions.read(region)
        predictions.discard()
    """

    def __init__(self, plan: BlockPlan, partials: str | Path, work_dir: str | Path, out_channels: int) -> None:
        self.plan = plan
        self.partials = str(partials)
        self.work_dir = Path(work_dir)
        self.shape = (int(out_channels), *plan.spatial_shape)
        self.block_shape = plan.block_shape
        self.grid_path: Path | None = None  # the assembled predictions on the model's grid (see on_grid)
        #: the cluster the blocks were predicted on (None: this process); the writer assembles regions there too
        self.runner: TaskRunner | None = None
        self._grid_file: h5py.File | None = None
        self._resampled: ResampledVolume | None = None
        self._opening = threading.Lock()

    def __getstate__(self) -> dict:
        # picklable for tasks on a cluster: the open model-grid file is reopened where it is read
        state = dict(self.__dict__)
        state["_grid_file"] = state["_resampled"] = state["_opening"] = state["runner"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._opening = threading.Lock()

    def read(self, region: Region) -> np.ndarray:
        """float32 ``(C_out, *region)``."""
        if self.grid_path is not None:
            with self._opening:  # regions may be read by several threads
                if self._resampled is None:
                    self._grid_file = h5py.File(self.grid_path, "r")
                    predictions = ArrayVolume(self._grid_file["predictions"])
                    self._resampled = ResampledVolume(predictions, self.shape[1:])
            return self._resampled.read(region)
        region = tuple(slice(*r.indices(s)) for r, s in zip(region, self.plan.spatial_shape))
        out = np.empty((self.shape[0], *(r.stop - r.start for r in region)), dtype=np.float32)
        first = [r.start // b for r, b in zip(region, self.plan.block_shape)]
        last = [(r.stop - 1) // b for r, b in zip(region, self.plan.block_shape)]
        for key in itertools.product(*(range(a, b + 1) for a, b in zip(first, last))):
            block = self.plan.region(key)
            values = assemble_block(self.plan, key, self.partials)
            overlap = tuple(slice(max(r.start, k.start), min(r.stop, k.stop)) for r, k in zip(region, block))
            source = tuple(slice(o.start - k.start, o.stop - k.start) for o, k in zip(overlap, block))
            target = tuple(slice(o.start - r.start, o.stop - r.start) for o, r in zip(overlap, region))
            out[(slice(None), *target)] = values[(slice(None), *source)]
        return out

    def regions(self) -> list[Region]:
        """Regions covering the predictions, each read at the cost of about one block."""
        return spatial_regions(self.shape[1:], self.block_shape)

    def on_grid(self, spatial_shape: Sequence[int]) -> PredictionsOnDisk:
        """These predictions resampled (trilinear) onto ``spatial_shape``: the predictions on the model's grid are
        assembled into ``<work_dir>/model_grid.h5`` once, and each region is read resampled from it."""
        spatial = tuple(int(s) for s in spatial_shape)
        if spatial == self.shape[1:]:
            return self
        grid_path = self.work_dir / "model_grid.h5"
        with h5py.File(grid_path, "w") as f:
            stored = f.create_dataset("predictions", shape=self.shape, dtype=np.float32, chunks=True)
            for key in self.plan.blocks():
                stored[(slice(None), *self.plan.region(key))] = assemble_block(self.plan, key, self.partials)
        resampled = PredictionsOnDisk(self.plan, self.partials, self.work_dir, self.shape[0])
        resampled.grid_path = grid_path
        resampled.runner = self.runner
        resampled.shape = (self.shape[0], *spatial)
        factors = [s / m for s, m in zip(spatial, self.plan.spatial_shape)]
        resampled.block_shape = tuple(
            min(s, max(1, math.ceil(b * f))) for b, f, s in zip(self.plan.block_shape, factors, spatial)
        )
        return resampled

    def discard(self) -> None:
        """Remove the work folder (once the predictions are written)."""
        if self._grid_file is not None:
            self._grid_file.close()
        self._grid_file = self._resampled = None
        shutil.rmtree(self.work_dir, ignore_errors=True)


class LabelsOnDisk(BatchItem, ABC):
    """``uint32`` labels of :class:`PredictionsOnDisk`, read region by region as the writer writes them:
    ``(*spatial)``, or ``(C, *spatial)`` for ``threshold`` of several channels. Computed from the predictions of each
    region under a voxel-wise mode (:class:`VoxelwiseLabels`), or stored by a block-wise instance segmentation
    (:class:`StoredLabels`)."""

    shape: tuple[int, ...]

    @abstractmethod
    def read(self, region: Region) -> np.ndarray:
        """``uint32`` labels of a spatial region."""


class VoxelwiseLabels(LabelsOnDisk):
    """The labels of :class:`PredictionsOnDisk` under a voxel-wise :class:`Segmenter` mode (``threshold``,
    ``argmax``), computed region by region.

    Example::

        labels = VoxelwiseLabels(predictions, Segmenter("threshold", threshold=0.5))
        labels.read(region)                      # uint32 (*region)
    """

    def __init__(self, predictions: PredictionsOnDisk, segmenter: Segmenter) -> None:
        if segmenter.is_instance:
            raise ValueError(f"Segmentation mode '{segmenter.mode.value}' labels objects, not single voxels.")
        self.predictions = predictions
        self.segmenter = segmenter
        channels = predictions.shape[0]
        several = segmenter.mode == SegmentationMode.THRESHOLD and channels > 1
        self.shape = (channels, *predictions.shape[1:]) if several else tuple(predictions.shape[1:])

    def read(self, region: Region) -> np.ndarray:
        return self.segmenter(self.predictions.read(region))


class StoredLabels(LabelsOnDisk):
    """Labels ``(*spatial)`` in dataset ``segmentation`` of an HDF5 file (a block-wise instance segmentation in the
    predictions' work folder), read region by region.

    Example::

        StoredLabels("out/a_predictions.blocks/segmentation.h5").read(region)     # uint32 (*region)
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        with h5py.File(self.path, "r") as f:
            self.shape = tuple(int(s) for s in f["segmentation"].shape)

    def read(self, region: Region) -> np.ndarray:
        with h5py.File(self.path, "r") as f:
            return np.asarray(f["segmentation"][region], dtype=np.uint32)
