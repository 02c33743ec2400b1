"""Writing the predictions of one volume from a prediction chain: the HDF5/NIfTI output and its preview."""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping
from os import PathLike
from pathlib import Path

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform
from monai.utils import PostFix, look_up_option

from unet3d_monai.inference.preview import preview_image, write_preview
from unet3d_monai.inference.volumes import ArrayVolume, is_nifti, volume_stem
from unet3d_monai.io.writers import (
    HDF5PredictionWriter,
    OutputDtype,
    check_output_path,
    convert_predictions,
    write_nifti,
)
from unet3d_monai.options import as_bool

__all__ = ["WritePredictionsd", "WritePreviewd", "prediction_path", "preview_path"]

logger = logging.getLogger(__name__)


def _numpy(value: object) -> np.ndarray:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)


def prediction_path(output_dir: str | PathLike, input_path: str | PathLike) -> Path:
    """Where the predictions of ``input_path`` go: ``<output_dir>/<stem>_predictions.h5`` (``.nii.gz`` for NIfTI).

    Example:
        >>> prediction_path("out", "data/ct.nii.gz").as_posix()
        'out/ct_predictions.nii.gz'
    """
    suffix = ".nii.gz" if is_nifti(input_path) else ".h5"
    return Path(output_dir) / f"{volume_stem(input_path)}_predictions{suffix}"


def preview_path(output_dir: str | PathLike, input_path: str | PathLike) -> Path:
    """Where the preview of ``input_path`` goes: ``<output_dir>/<stem>_preview.png``."""
    return Path(output_dir) / f"{volume_stem(input_path)}_preview.png"


def _input_path(data: Mapping[Hashable, object], image_key: str) -> str:
    meta = data.get(PostFix.meta(image_key))
    if not isinstance(meta, Mapping) or "filename_or_obj" not in meta:
        raise KeyError(f"The sample has no '{PostFix.meta(image_key)}' with the input path; load it with LoadVolumed.")
    return str(meta["filename_or_obj"])


class WritePredictionsd(MapTransform):
    """Write the probabilities under ``keys`` (``(C, *spatial)``) of the volume loaded from ``image_key``.

    An HDF5 input gives ``<output_dir>/<stem>_predictions.h5`` with dataset ``predictions`` in ``output_dtype``
    (see :class:`~unet3d_monai.io.writers.OutputDtype`) and, when the sample holds ``segmentation_key``,
    dataset ``segmentation`` (``uint32``). A NIfTI input gives ``<stem>_predictions.nii.gz`` (and
    ``<stem>_segmentation.nii.gz``) with the input's affine. Every file is written under a temporary name and
    renamed when complete; an existing output is refused unless ``overwrite``, an output equal to the input always.
    The written path is added to the sample under ``<key>_path``.

    Args:
        keys: keys of the probabilities (usually ``"pred"``).
        output_dir: the output folder (created if needed).
        output_dtype: ``"float32"``, ``"float16"`` or ``"uint8"``.
        overwrite: replace existing outputs.
        image_key: key of the input, whose ``<image_key>_meta_dict`` names the input file.
        segmentation_key: key of the labels written beside the probabilities, when present.
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
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.output_dir = Path(output_dir)
        self.output_dtype = OutputDtype(look_up_option(output_dtype, OutputDtype))
        self.overwrite = as_bool(overwrite, "overwrite")
        self.image_key = image_key
        self.segmentation_key = segmentation_key

    def __call__(self, data: Mapping[Hashable, object]) -> dict[Hashable, object]:
        d = dict(data)
        input_path = _input_path(d, self.image_key)
        for key in self.key_iterator(d):
            probabilities = _numpy(d[key])
            labels = d.get(self.segmentation_key)
            output = prediction_path(self.output_dir, input_path)
            if is_nifti(input_path):
                written = self._write_nifti(output, input_path, probabilities, labels, d)
            else:
                written = self._write_hdf5(output, input_path, probabilities, labels)
            d[f"{key}_path"] = written
            logger.info("Wrote %s", written)
        return d

    def _write_hdf5(self, output: Path, input_path: str, probabilities: np.ndarray, labels: object) -> Path:
        with HDF5PredictionWriter(output, input_path, self.overwrite, self.output_dtype) as writer:
            writer.create_predictions(probabilities.shape)
            writer.write_predictions(tuple(slice(0, s) for s in probabilities.shape[1:]), probabilities)
            if labels is not None:
                writer.write_segmentation(_numpy(labels))
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
        image = ArrayVolume(_numpy(d[self.image_key]))
        for key in self.key_iterator(d):
            output = check_output_path(preview_path(self.output_dir, input_path), input_path, self.overwrite)
            written = write_preview(output, preview_image(image, ArrayVolume(_numpy(d[key]))))
            logger.info("Wrote %s", written)
        return d
