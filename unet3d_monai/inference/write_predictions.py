"""Writing the predictions of one volume from a prediction chain: the HDF5/NIfTI/zarr output and its preview."""

from __future__ import annotations

import collections
import contextlib
import logging
import os
from collections.abc import Hashable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from os import PathLike
from pathlib import Path
from typing import Any

import h5py
import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform
from monai.utils import PostFix, look_up_option

from unet3d_monai.inference.on_disk import LabelsOnDisk, PredictionsOnDisk, VolumeOnDisk, VoxelwiseLabels
from unet3d_monai.inference.preview import preview_image, write_preview
from unet3d_monai.inference.volumes import ArrayVolume, is_nifti, volume_stem
from unet3d_monai.inference.zarr_store import ZarrPredictionWriter, import_zarr, is_zarr
from unet3d_monai.io.region import Region
from unet3d_monai.io.voxel_size import meta_voxel_size
from unet3d_monai.io.writers import (
    HDF5PredictionWriter,
    OutputDtype,
    check_output_path,
    convert_predictions,
    write_nifti,
)
from unet3d_monai.options import as_bool

__all__ = [
    "OUTPUT_FORMATS",
    "StoredPredictions",
    "WritePredictionsd",
    "WritePreviewd",
    "prediction_path",
    "preview_path",
]

#: the ``output_format`` values: as the input (zarr for zarr, NIfTI for NIfTI, else HDF5), HDF5, or zarr
OUTPUT_FORMATS = ("auto", "h5", "zarr")

logger = logging.getLogger(__name__)


def _numpy(value: object) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def prediction_path(output_dir: str | PathLike, input_path: str | PathLike, output_format: str = "auto") -> Path:
    """Where the predictions of ``input_path`` go: ``<output_dir>/<stem>_predictions.h5``, ``.nii.gz`` for NIfTI,
    ``.zarr`` for a zarr input (``output_format`` ``"auto"``) or for any HDF5/zarr input with ``"zarr"``.

    Example:
        >>> prediction_path("out", "data/ct.nii.gz").as_posix()
        'out/ct_predictions.nii.gz'
        >>> prediction_path("out", "data/cells.h5", "zarr").as_posix()
        'out/cells_predictions.zarr'
    """
    if output_format not in OUTPUT_FORMATS:
        raise ValueError(f"--output_format {output_format!r} must be 'auto' (as the input), 'h5' or 'zarr'.")
    if is_nifti(input_path):
        suffix = ".nii.gz"
    elif output_format == "zarr" or (output_format == "auto" and is_zarr(input_path)):
        suffix = ".zarr"
    else:
        suffix = ".h5"
    return Path(output_dir) / f"{volume_stem(input_path)}_predictions{suffix}"


class StoredPredictions:
    """The ``predictions`` of a written HDF5 or zarr output, read region by region as float32 (``uint8`` outputs
    scaled back to [0, 1]); each read opens the file.

    Example::

        StoredPredictions("out/cells_predictions.h5").read(region)      # (C, *region)
    """

    def __init__(self, path: str | PathLike) -> None:
        self.path = Path(path)
        with self._open() as stored:
            self.shape = tuple(int(s) for s in stored.shape)

    def _open(self) -> contextlib.AbstractContextManager:
        if is_zarr(self.path):
            return contextlib.nullcontext(import_zarr().open_array(str(self.path), path="predictions", mode="r"))
        return _h5_predictions(self.path)

    def read(self, region: tuple[slice, ...]) -> np.ndarray:
        with self._open() as stored:
            return ArrayVolume(stored, scale=float(stored.attrs.get("scale", 1.0))).read(region)


@contextlib.contextmanager
def _h5_predictions(path: Path) -> Iterator[h5py.Dataset]:
    with h5py.File(path, "r") as f:
        yield f["predictions"]


def preview_path(output_dir: str | PathLike, input_path: str | PathLike) -> Path:
    """Where the preview of ``input_path`` goes: ``<output_dir>/<stem>_preview.png``."""
    return Path(output_dir) / f"{volume_stem(input_path)}_preview.png"


def _input_path(data: Mapping[Hashable, object], image_key: str) -> str:
    meta = data.get(PostFix.meta(image_key))
    if not isinstance(meta, Mapping) or "filename_or_obj" not in meta:
        raise KeyError(f"The sample has no '{PostFix.meta(image_key)}' with the input path; load it with LoadVolumed.")
    return str(meta["filename_or_obj"])


def _read_region(
    region: Region, predictions: Any, labels: LabelsOnDisk | None
) -> tuple[Region, np.ndarray, np.ndarray | None]:
    values = predictions.read(region)
    if labels is None:
        return region, values, None
    if isinstance(labels, VoxelwiseLabels):
        return region, values, labels.segmenter(values)  # labelled from the predictions just read
    return region, values, labels.read(region)


def _write_zarr_region(
    writer: ZarrPredictionWriter, region: Region, predictions: Any, labels: LabelsOnDisk | None
) -> Region:
    """Assemble, label and write one region of a zarr output (a task on the cluster that predicted the blocks)."""
    _, values, region_labels = _read_region(region, predictions, labels)
    writer.write_predictions(region, values)
    if region_labels is not None:
        writer.write_segmentation(region, region_labels)
    return region


def _read_ahead(
    regions: Sequence[Region], predictions: Any, labels: LabelsOnDisk | None
) -> Iterator[tuple[Region, np.ndarray, np.ndarray | None]]:
    """``(region, predictions, labels)`` of every region, in order, read by as many threads as there are cores (at
    most four), each at most two regions ahead of the caller."""
    threads = max(1, min(4, len(os.sched_getaffinity(0))))
    with ThreadPoolExecutor(threads) as pool:
        pending: collections.deque = collections.deque()
        for region in regions:
            pending.append(pool.submit(_read_region, region, predictions, labels))
            if len(pending) > 2 * threads:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


class WritePredictionsd(MapTransform):
    """Write the probabilities under ``keys`` (``(C, *spatial)``) of the volume loaded from ``image_key``.

    An HDF5 input gives ``<output_dir>/<stem>_predictions.h5`` with dataset ``predictions`` in ``output_dtype``
    (see :class:`~unet3d_monai.io.writers.OutputDtype`) and, when the sample holds ``segmentation_key``,
    dataset ``segmentation`` (``uint32``). A NIfTI input gives ``<stem>_predictions.nii.gz`` (and
    ``<stem>_segmentation.nii.gz``) with the input's affine. A zarr input (or ``output_format`` ``"zarr"``) gives
    ``<stem>_predictions.zarr`` with arrays ``predictions`` and ``segmentation``. Every file is written under a
    temporary name and renamed when complete; an existing output is refused unless ``overwrite``, an output equal to
    the input always. The written path is added to the sample under ``<key>_path``. HDF5 and zarr outputs carry the
    input's voxel size (as :class:`~unet3d_monai.inference.LoadVolumed` read it) as ``element_size_um`` of
    ``predictions`` and ``segmentation``, so that a viewer shows them at the input's scale.

    Predictions on disk (:class:`~unet3d_monai.inference.on_disk.PredictionsOnDisk`, from block-wise prediction) are
    written region by region, with their labels; their work folder is then removed and the sample holds the written
    predictions (:class:`StoredPredictions`) for the steps after this one.

    Args:
        keys: keys of the probabilities (usually ``"pred"``).
        output_dir: the output folder (created if needed).
        output_dtype: ``"float32"``, ``"float16"`` or ``"uint8"``.
        overwrite: replace existing outputs.
        image_key: key of the input, whose ``<image_key>_meta_dict`` names the input file.
        segmentation_key: key of the labels written beside the probabilities, when present.
        output_format: ``"auto"`` (as the input), ``"h5"`` or ``"zarr"`` (HDF5 and zarr inputs; NIfTI stays NIfTI).
        allow_missing_keys: don't raise if a key is missing.

    Example::

        Compose([Segmentd("pred", mode="threshold"), WritePredictionsd("pred", output_dir="out")])
    """

    def __init__(
        self,
        keys: KeysCollection,
        output_dir: str | PathLike,
        output_dtype: OutputDtype | str = OutputDtype.FLOAT32,
        overwrite: bool | str = False,
        image_key: str = "image",
        segmentation_key: str = "segmentation",
        output_format: str = "auto",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if output_format not in OUTPUT_FORMATS:
            raise ValueError(f"--output_format {output_format!r} must be 'auto' (as the input), 'h5' or 'zarr'.")
        self.output_dir = Path(output_dir)
        self.output_dtype = OutputDtype(look_up_option(output_dtype, OutputDtype))
        self.overwrite = as_bool(overwrite, "overwrite")
        self.image_key = image_key
        self.segmentation_key = segmentation_key
        self.output_format = output_format

    def output_path(self, input_path: str | PathLike) -> Path:
        """Where the predictions of ``input_path`` are written (see :func:`prediction_path`)."""
        return prediction_path(self.output_dir, input_path, self.output_format)

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        input_path = _input_path(d, self.image_key)
        meta = d.get(PostFix.meta(self.image_key), {})
        voxel_size = meta_voxel_size(meta) if isinstance(meta, Mapping) else None
        voxel_size = voxel_size if voxel_size is not None and len(voxel_size) == 3 else None
        for key in self.key_iterator(d):
            labels = d.get(self.segmentation_key)
            output = self.output_path(input_path)
            if isinstance(d[key], PredictionsOnDisk):
                written = self._write_regions(output, input_path, d[key], labels, voxel_size)
                d[key].discard()
                d[key] = StoredPredictions(written)
                d[f"{key}_path"] = written
                logger.info("Wrote %s", written)
                continue
            probabilities = _numpy(d[key])
            if is_nifti(input_path):
                written = self._write_nifti(output, input_path, probabilities, labels, d)
            elif is_zarr(output):
                written = self._write_regions(output, input_path, ArrayVolume(probabilities), labels, voxel_size)
            else:
                written = self._write_hdf5(output, input_path, probabilities, labels, voxel_size)
            d[f"{key}_path"] = written
            logger.info("Wrote %s", written)
        return d

    def _write_hdf5(
        self, output: Path, input_path: str, probabilities: np.ndarray, labels: object, voxel_size: Any = None
    ) -> Path:
        with HDF5PredictionWriter(output, input_path, self.overwrite, self.output_dtype) as writer:
            writer.create_predictions(probabilities.shape)
            writer.write_predictions(tuple(slice(0, s) for s in probabilities.shape[1:]), probabilities)
            if labels is not None:
                writer.write_segmentation(_numpy(labels))
            writer.write_voxel_size(voxel_size)
            writer.write_source(input_path)
            return writer.commit()

    def _write_regions(
        self, output: Path, input_path: str, predictions: object, labels: object, voxel_size: Any = None
    ) -> Path:
        """Write predictions read region by region (and their labels, read by region or whole) to HDF5 or zarr.

        Regions are read (for predictions on disk: assembled from the blocks' partial sums) by a few threads ahead of
        the writes, which this thread makes in order."""
        regions = (
            predictions.regions()
            if hasattr(predictions, "regions")
            else [tuple(slice(0, s) for s in predictions.shape[1:])]
        )
        whole = None if labels is None or isinstance(labels, LabelsOnDisk) else _numpy(labels)
        by_region = labels if isinstance(labels, LabelsOnDisk) else None
        if is_zarr(output):
            writer = ZarrPredictionWriter(output, input_path, self.overwrite, self.output_dtype)
            labels_channels = None
            if labels is not None:
                labels_shape = labels.shape if whole is None else whole.shape
                labels_channels = 0 if len(labels_shape) == len(predictions.shape) - 1 else int(labels_shape[0])
            block_shape = getattr(predictions, "block_shape", None) or predictions.shape[1:]
            writer.create(predictions.shape, block_shape, labels_channels)
            runner = getattr(predictions, "runner", None)
            if runner is not None:
                # predicted on a cluster: each region is assembled and written by a task there (zarr chunks are the
                # regions, so no two tasks write the same chunk)
                shared = runner.share(predictions)
                for region in regions:
                    runner.submit(_write_zarr_region, writer, region, shared, by_region)
                for future in runner.completed():
                    future.result()
                regions = []
            for region, values, region_labels in _read_ahead(regions, predictions, by_region):
                writer.write_predictions(region, values)
                if region_labels is not None:
                    writer.write_segmentation(region, region_labels)
            if whole is not None:
                writer.write_segmentation(tuple(slice(0, s) for s in predictions.shape[1:]), whole)
            writer.write_voxel_size(voxel_size)
            writer.write_source(input_path)
            return writer.commit()
        with HDF5PredictionWriter(output, input_path, self.overwrite, self.output_dtype) as writer:
            writer.create_predictions(tuple(predictions.shape))
            if by_region is not None:
                writer.create_segmentation(tuple(by_region.shape))
            for region, values, region_labels in _read_ahead(regions, predictions, by_region):
                writer.write_predictions(region, values)
                if region_labels is not None:
                    writer.write_segmentation(region_labels, region)
            if whole is not None:
                writer.write_segmentation(whole)
            writer.write_voxel_size(voxel_size)
            writer.write_source(input_path)
            return writer.commit()

    def _write_nifti(
        self, output: Path, input_path: str, probabilities: np.ndarray, labels: object, d: Mapping
    ) -> Path:
        check_output_path(output, input_path, self.overwrite)
        affine = _numpy(d[PostFix.meta(self.image_key)]["affine"])
        if labels is not None:
            labels = _numpy(labels)
            segmentation = output.with_name(f"{volume_stem(input_path)}_segmentation.nii.gz")
            write_nifti(segmentation, labels if labels.ndim == 4 else labels[None], affine, input_path, self.overwrite)
        stored = convert_predictions(probabilities, self.output_dtype)
        return write_nifti(output, stored, affine, input_path, self.overwrite)


class WritePreviewd(MapTransform):
    """Write ``<output_dir>/<stem>_preview.png``: the central orthogonal slices of the input (``image_key``) next to
    those of each channel of the probabilities under ``keys`` (see
    :func:`~unet3d_monai.inference.preview.preview_image`).

    Args:
        keys: keys of the probabilities (usually ``"pred"``), ``(C, Z, Y, X)``.
        output_dir: the output folder.
        overwrite: replace an existing preview.
        image_key: key of the (normalised) input ``(C, Z, Y, X)``, whose meta dict names the input file.
        allow_missing_keys: don't raise if a key is missing.
    """

    def __init__(
        self,
        keys: KeysCollection,
        output_dir: str | PathLike,
        overwrite: bool | str = False,
        image_key: str = "image",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.output_dir = Path(output_dir)
        self.overwrite = as_bool(overwrite, "overwrite")
        self.image_key = image_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        input_path = _input_path(d, self.image_key)
        image = d[self.image_key]
        with image.open() if isinstance(image, VolumeOnDisk) else contextlib.nullcontext(None) as opened:
            image = opened if opened is not None else ArrayVolume(_numpy(image))
            for key in self.key_iterator(d):
                output = check_output_path(preview_path(self.output_dir, input_path), input_path, self.overwrite)
                predictions = d[key] if hasattr(d[key], "read") else ArrayVolume(_numpy(d[key]))
                written = write_preview(output, preview_image(image, predictions))
                logger.info("Wrote %s", written)
        return d
