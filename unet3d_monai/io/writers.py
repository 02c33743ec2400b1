"""Prediction outputs written safely: a temporary name renamed at the end, never over an input or unasked."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
from monai.utils import StrEnum, look_up_option

from unet3d_monai.io.atomic import atomic_path, replace_path
from unet3d_monai.io.region import Region

__all__ = [
    "HDF5PredictionWriter",
    "OutputDtype",
    "StagedOutput",
    "check_output_path",
    "convert_predictions",
    "write_nifti",
]


class OutputDtype(StrEnum):
    """Storage type of the ``predictions`` dataset.

    - ``float32``: as computed.
    - ``float16``: half the disk space, about 3 significant digits.
    - ``uint8``: probabilities in [0, 1] scaled to 0..255 (rounded); the dataset's ``scale`` attribute
      (1/255) converts back. Only for probabilities, not for regression outputs.
    """

    FLOAT32 = "float32"
    FLOAT16 = "float16"
    UINT8 = "uint8"


def convert_predictions(predictions: np.ndarray, dtype: OutputDtype | str) -> np.ndarray:
    """``predictions`` in the storage type ``dtype`` (see :class:`OutputDtype`).

    Example:
        >>> convert_predictions(np.array([0.0, 0.5, 1.0]), "uint8").tolist()
        [0, 128, 255]
    """
    dtype = OutputDtype(look_up_option(dtype, OutputDtype))
    if dtype == OutputDtype.UINT8:
        return np.rint(np.clip(predictions, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.asarray(predictions, dtype=dtype.value)


def check_output_path(output_path: str | PathLike, input_path: str | PathLike | None, overwrite: bool) -> Path:
    """Refuse an output that is the input, or that exists when ``overwrite`` is false.

    Raises:
        ValueError: the output path is the input file.
        FileExistsError: the output exists and ``overwrite`` is false.
    """
    output_path = Path(output_path)
    if input_path is not None and output_path.resolve() == Path(input_path).resolve():
        raise ValueError(f"Output path '{output_path}' is the input file; choose another output folder.")
    if output_path.exists() and not overwrite:
        raise FileExistsError(f"Output '{output_path}' already exists; pass overwrite=True (--overwrite true).")
    return output_path


#: the attribute the writers record the voxel size in (micrometres, ``(Z, Y, X)``), as microscopy tools write it
VOXEL_SIZE_ATTRIBUTE = "element_size_um"
#: the attribute of ``predictions`` naming the input the output was predicted from
SOURCE_ATTRIBUTE = "source"


class StagedOutput:
    """An output file or folder written under the temporary name ``<output>.part`` and renamed to ``output_path``
    by :meth:`publish`, so that an interrupted run never leaves a partial output under the final name.

    The base of the prediction writers: it refuses an output that is the input, or that exists when ``overwrite``
    is false (:func:`check_output_path`), and holds the storage type of the predictions.

    Args:
        output_path: final name, e.g. ``out/cells_predictions.h5``.
        input_path: the input (the output must differ from it).
        overwrite: replace an existing output.
        dtype: storage type of ``predictions`` (see :class:`OutputDtype`).

    Example::

        staged = StagedOutput("out/a_predictions.h5", "a.h5")
        ...  # write staged.temp_path
        staged.publish()   # -> out/a_predictions.h5
    """

    def __init__(
        self,
        output_path: str | PathLike,
        input_path: str | PathLike | None = None,
        overwrite: bool = False,
        dtype: OutputDtype | str = OutputDtype.FLOAT32,
    ) -> None:
        self.output_path = check_output_path(output_path, input_path, overwrite)
        self.temp_path = self.output_path.with_name(self.output_path.name + ".part")
        self.dtype = OutputDtype(look_up_option(dtype, OutputDtype))
        self._start()

    def _start(self) -> None:
        """Begin writing the output (nothing to do here; a subclass may create its ``.part`` file)."""

    def publish(self) -> Path:
        """Rename the finished ``.part`` file or folder to the output name (an overwritten output is replaced only
        now); returns the output path."""
        return replace_path(self.temp_path, self.output_path)


class HDF5PredictionWriter(StagedOutput):
    """Writes ``predictions`` (and optionally ``segmentation``) to ``<output>.part``, renamed on :meth:`commit`.

    Datasets: ``predictions`` ``(C, Z, Y, X)`` in the chosen :class:`OutputDtype`, chunked so block-wise
    writing stays cheap; ``segmentation`` ``uint32``. If the writer is closed without :meth:`commit` (an
    error), the ``.part`` file is removed and an existing output is left untouched.

    Args:
        output_path: final file name, e.g. ``out/cells_predictions.h5``.
        input_path: the input volume (the output must differ from it).
        overwrite: replace an existing output.
        dtype: storage type of ``predictions``.

    Example::

        with HDF5PredictionWriter("out/a_predictions.h5", "a.h5") as writer:
            writer.create_predictions((1, 64, 128, 128))
            writer.write_predictions((slice(0, 64), slice(0, 128), slice(0, 128)), probabilities)
            writer.commit()
    """

    def _start(self) -> None:
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        self._file: h5py.File | None = h5py.File(self.temp_path, "w")
        self._predictions: h5py.Dataset | None = None

    @property
    def has_predictions(self) -> bool:
        """Whether the ``predictions`` dataset has been created."""
        return self._predictions is not None

    def create_predictions(self, shape: tuple[int, ...]) -> None:
        """Create the ``predictions`` dataset ``(C, Z, Y, X)``."""
        chunks = (1, *(min(64, s) for s in shape[1:]))
        self._predictions = self._file.create_dataset("predictions", shape=shape, dtype=self.dtype.value, chunks=chunks)
        if self.dtype == OutputDtype.UINT8:
            self._predictions.attrs["scale"] = 1.0 / 255.0

    def write_predictions(self, region: Region, predictions: np.ndarray) -> None:
        """Write float predictions ``(C, *region)`` at a spatial region."""
        if self._predictions is None:
            raise RuntimeError("create_predictions must be called before write_predictions.")
        self._predictions[(slice(None), *region)] = convert_predictions(predictions, self.dtype)

    def read_predictions(self) -> np.ndarray:
        """The written predictions as float32 (uint8 scaled back to [0, 1])."""
        data = self._predictions[()].astype(np.float32)
        return data / 255.0 if self.dtype == OutputDtype.UINT8 else data

    @property
    def has_segmentation(self) -> bool:
        """Whether the ``segmentation`` dataset has been created."""
        return "segmentation" in self._file

    def create_segmentation(self, shape: tuple[int, ...]) -> None:
        """Create the ``segmentation`` dataset (``uint32``), ``(Z, Y, X)`` or ``(C, Z, Y, X)``."""
        chunks = tuple(min(64, s) for s in shape)
        self._file.create_dataset("segmentation", shape=shape, dtype="uint32", chunks=chunks, compression="gzip")

    def write_segmentation(self, labels: np.ndarray, region: Region | None = None) -> None:
        """Write labels for a spatial region (the whole volume when ``region`` is None)."""
        if not self.has_segmentation:
            if region is not None:
                raise RuntimeError("create_segmentation must be called before writing a region of it.")
            self.create_segmentation(labels.shape)
        index = region if region is not None else tuple(slice(0, s) for s in labels.shape[-3:])
        if labels.ndim == 4:
            index = (slice(None), *index)
        self._file["segmentation"][index] = np.asarray(labels, dtype=np.uint32)

    def write_voxel_size(self, voxel_size: Sequence[float] | None) -> None:
        """Record the input's voxel size ``(Z, Y, X)`` as ``element_size_um`` of every dataset written so far (None:
        unknown, nothing is recorded), so that viewers and this package read the output at the input's scale."""
        if voxel_size is None:
            return
        for name in ("predictions", "segmentation"):
            if name in self._file:
                self._file[name].attrs[VOXEL_SIZE_ATTRIBUTE] = [float(v) for v in voxel_size]

    def write_source(self, input_path: str | PathLike) -> None:
        """Record the input's absolute path as the ``source`` attribute of ``predictions``, so that a viewer opening
        the output can show the input beside it."""
        if "predictions" in self._file:
            self._file["predictions"].attrs[SOURCE_ATTRIBUTE] = str(Path(input_path).resolve())

    def commit(self) -> Path:
        """Close and rename the ``.part`` file to the output name; returns the output path."""
        self._file.close()
        self._file = None
        return self.publish()

    def close(self) -> None:
        """Abandon an uncommitted output (its ``.part`` file is removed)."""
        if self._file is not None:
            self._file.close()
            self._file = None
            self.temp_path.unlink(missing_ok=True)

    def __enter__(self) -> HDF5PredictionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_nifti(
    output_path: str | PathLike,
    array: np.ndarray,
    affine: np.ndarray,
    input_path: str | PathLike | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a channel-first array ``(C, X, Y, Z)`` as NIfTI ``(X, Y, Z)`` (one channel) or ``(X, Y, Z, C)``.

    The file is written under a temporary name in the same folder and renamed, with the given affine.
    """
    output_path = check_output_path(output_path, input_path, overwrite)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    data = array[0] if array.shape[0] == 1 else np.moveaxis(array, 0, -1)
    suffix = ".nii.gz" if output_path.name.lower().endswith(".gz") else ".nii"
    with atomic_path(output_path, suffix=suffix) as temporary:
        nib.save(nib.Nifti1Image(data, np.asarray(affine, dtype=np.float64)), str(temporary))
    return output_path
