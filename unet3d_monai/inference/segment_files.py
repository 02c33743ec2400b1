"""Instance segmentation of probabilities made elsewhere: ``unet3d-monai segment --input PRED --output OUT``.

PRED is an HDF5 file or zarr store holding a probability map (dataset ``predictions`` by default, ``(C, Z, Y, X)`` or
``(Z, Y, X)``; ``uint8`` maps with a ``scale`` attribute, as this package writes them, are scaled back to [0, 1]); OUT,
an ``.h5`` file or ``.zarr`` store, receives ``segmentation`` (``uint32``). Without a block shape the map is segmented
in memory; with one, block by block with a halo and stitched
(:class:`~unet3d_monai.segmentation.blockwise.BlockwiseSegmentation`), in this process or on a Dask cluster. The voxel
size is read from PRED as prediction reads it from an input.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from unet3d_monai.inference.distributed import connect
from unet3d_monai.inference.input_sampling import input_sampling
from unet3d_monai.inference.on_disk import spatial_regions
from unet3d_monai.inference.zarr_store import import_zarr, is_zarr
from unet3d_monai.io.atomic import replace_path
from unet3d_monai.io.files import get_h5_dataset, open_h5
from unet3d_monai.io.region import Region
from unet3d_monai.io.voxel_size import read_voxel_size
from unet3d_monai.io.writers import VOXEL_SIZE_ATTRIBUTE, check_output_path
from unet3d_monai.io.zarr_store import open_zarr_array
from unet3d_monai.segmentation.blockwise import BlockwiseSegmentation, check_block_shape, required_halo
from unet3d_monai.segmentation.segmenter import Segmenter

__all__ = ["ProbabilityFile", "segment_file"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbabilityFile:
    """A probability map stored in an HDF5 dataset or zarr array, read region by region as float32 ``(C, *region)``
    (``uint8`` maps multiplied by their ``scale`` attribute). Picklable: each task opens the file itself.

    Example::

        ProbabilityFile.open("out/cells_predictions.h5").read((slice(0, 8), slice(0, 64), slice(0, 64)))
    """

    path: str
    key: str
    shape: tuple[int, ...]
    scale: float = 1.0

    @classmethod
    def open(cls, path: str | PathLike, key: str = "predictions") -> ProbabilityFile:
        """The map of ``key`` in ``path``; one sentence naming the file when it has no such map."""
        with _array(str(path), key) as array:
            shape = tuple(int(s) for s in array.shape)
            scale = float(array.attrs.get("scale", 1.0))
        if len(shape) == 3:
            shape = (1, *shape)
        if len(shape) != 4:
            raise ValueError(
                f"'{path}' dataset '{key}' has shape {shape}; expected probabilities (C, Z, Y, X) or (Z, Y, X)."
            )
        return cls(str(path), key, shape, scale)

    def read(self, region: Region) -> np.ndarray:
        with _array(self.path, self.key) as array:
            index = (slice(None), *region) if array.ndim == 4 else tuple(region)
            data = np.asarray(array[index], dtype=np.float32)
        if data.ndim == 3:
            data = data[None]
        return data * np.float32(self.scale) if self.scale != 1.0 else data


@contextlib.contextmanager
def _array(path: str, key: str) -> Iterator[Any]:
    if is_zarr(path):
        yield open_zarr_array(Path(path), key)
        return
    with open_h5(path) as f:
        yield get_h5_dataset(f, key)


class _LabelsOutput:
    """``segmentation`` of an ``.h5`` file or ``.zarr`` store, written under ``<output>.part`` and renamed when
    complete."""

    def __init__(self, output: Path, input_path: Path, shape: Sequence[int], chunks: Sequence[int], overwrite: bool):
        self.output = check_output_path(output, input_path, overwrite)
        self.temp = self.output.with_name(self.output.name + ".part")
        self.output.parent.mkdir(parents=True, exist_ok=True)
        if self.temp.is_dir():
            shutil.rmtree(self.temp)
        chunks = tuple(min(int(c), int(s)) for c, s in zip(chunks, shape))
        if is_zarr(self.output):
            group = import_zarr().open_group(str(self.temp), mode="w")
            self.labels = group.create_array("segmentation", shape=tuple(shape), chunks=chunks, dtype="uint32")
            self._file = None
        else:
            self._file = h5py.File(self.temp, "w")
            self.labels = self._file.create_dataset(
                "segmentation", shape=tuple(shape), dtype="uint32", chunks=chunks, compression="gzip"
            )

    def write(self, region: Region, labels: np.ndarray) -> None:
        self.labels[region] = labels

    def commit(self, voxel_size: Sequence[float] | None = None) -> Path:
        if voxel_size is not None and len(voxel_size) == len(self.labels.shape[-3:]):
            self.labels.attrs[VOXEL_SIZE_ATTRIBUTE] = [float(v) for v in voxel_size]
        if self._file is not None:
            self._file.close()
            self._file = None
        return replace_path(self.temp, self.output)

    def abandon(self) -> None:
        if self._file is not None:
            self._file.close()
        if self.temp.is_dir():
            shutil.rmtree(self.temp, ignore_errors=True)
        else:
            self.temp.unlink(missing_ok=True)


def segment_file(
    input_path: str | PathLike,
    output_path: str | PathLike,
    mode: str,
    dataset: str = "predictions",
    threshold: float = 0.5,
    min_size: int = 0,
    min_distance: int = 2,
    object_size: Sequence[int] | int = 32,
    block_shape: Sequence[int] | None = None,
    scheduler: Any = None,
    overwrite: bool = False,
    progress: bool = True,
    resume: bool = False,
) -> Path:
    """Segment the probabilities of ``input_path`` into ``output_path`` (see the module docstring); returns the output.

    Args:
        input_path: HDF5 file or zarr store with the probability map.
        output_path: ``.h5`` file or ``.zarr`` store to write ``segmentation`` to.
        mode: an instance mode of :class:`~unet3d_monai.segmentation.segmenter.SegmentationMode` (or a voxel-wise one,
            segmented in memory or block by block without a halo).
        dataset: the map's dataset (array) in ``input_path``.
        threshold, min_size, min_distance: see :class:`~unet3d_monai.segmentation.segmenter.Segmenter`.
        object_size: the largest object in voxels (one size, or ``(Z, Y, X)``): the halo of block-wise segmentation.
        block_shape: ``(Z, Y, X)`` blocks, at least twice the halo; None segments in memory.
        scheduler: ``local:N`` or a Dask scheduler's address for the blocks; None: this process.
        overwrite: replace an existing output.
        progress: a progress bar over the blocks.
        resume: keep the blocks an interrupted block-wise run on the same map with the same settings segmented.

    Raises:
        ValueError: a malformed map, block shape or option, an output that is the input; nothing is written.
        FileExistsError: the output exists and ``overwrite`` is false.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if not (output_path.name.endswith((".h5", ".hdf5", ".hdf")) or is_zarr(output_path)):
        raise ValueError(f"--output '{output_path}' must be an HDF5 file (.h5) or a zarr store (.zarr).")
    segmenter = Segmenter(mode, threshold=threshold, min_size=min_size, min_distance=min_distance)
    source = ProbabilityFile.open(input_path, dataset)
    spatial = source.shape[1:]
    if segmenter.is_instance and source.shape[0] != 1:
        raise ValueError(
            f"--mode {mode} segments a one-channel map; '{input_path}' dataset '{dataset}' has {source.shape[0]} "
            "channels (give the boundary or foreground channel as its own dataset)."
        )
    voxel_size, where = read_voxel_size(input_path, dataset)
    sampling = input_sampling(voxel_size, len(spatial), str(input_path), where) if segmenter.uses_sampling else None
    halo = None
    if block_shape is not None:
        block_shape = tuple(int(b) for b in block_shape)
        if len(block_shape) != 3 or min(block_shape) < 1:
            raise ValueError(f"--block_shape {list(block_shape)} must be three positive sizes (Z, Y, X).")
        if segmenter.is_instance:
            halo = required_halo(segmenter, object_size, sampling)
            check_block_shape(block_shape, tuple(h if b < s else 0 for h, b, s in zip(halo, block_shape, spatial)))
            halo = tuple(h if b < s else 0 for h, b, s in zip(halo, block_shape, spatial))
    labels_shape = spatial if segmenter.is_instance or source.shape[0] == 1 else source.shape
    output = _LabelsOutput(output_path, input_path, labels_shape, block_shape or (64, 256, 256), overwrite)
    try:
        if block_shape is None:
            whole = tuple(slice(0, s) for s in spatial)
            labels = segmenter(source.read(whole), sampling)
            output.write(whole if labels.ndim == 3 else (slice(None), *whole), labels)
        elif halo is None:
            for region in spatial_regions(spatial, block_shape):
                labels = segmenter(source.read(region))
                output.write(region if labels.ndim == 3 else (slice(None), *region), labels)
        else:
            with connect(scheduler) if scheduler is not None else contextlib.nullcontext() as runner:
                work = output.output.with_name(output.output.name + ".labels")
                stat = input_path.stat()
                fingerprint = {"input": str(input_path.resolve()), "dataset": dataset, "mtime_ns": stat.st_mtime_ns}
                segmentation = BlockwiseSegmentation(
                    segmenter, block_shape, halo, work, sampling, None, runner, progress, resume, fingerprint
                )
                count = segmentation.run(source, output.write)
            logger.info("Segmented %d objects of %s block-wise.", count, input_path)
        return output.commit(voxel_size)
    except BaseException:
        output.abandon()
        raise
