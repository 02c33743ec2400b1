"""Input volumes for prediction: finding files, lazy normalised HDF5 reading, NIfTI loading."""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np

from unet3d_monai.data.normalize import Normalize
from unet3d_monai.data.stats import VolumeStats, compute_volume_stats
from unet3d_monai.inference.chunked_volume import ChunkedVolume
from unet3d_monai.inference.input_checks import check_finite, fill_nonfinite
from unet3d_monai.io.files import H5_SUFFIXES, ZARR_SUFFIX, find_files, get_h5_dataset, open_h5
from unet3d_monai.io.region import Region

__all__ = [
    "NIFTI_SUFFIXES",
    "ArrayVolume",
    "HDF5Volume",
    "find_volume_files",
    "is_nifti",
    "load_nifti",
    "nifti_shape",
    "volume_stem",
]

NIFTI_SUFFIXES: tuple[str, ...] = (".nii", ".nii.gz")


def is_nifti(path: str | PathLike) -> bool:
    """Whether ``path`` names a NIfTI file (``.nii`` or ``.nii.gz``)."""
    return str(path).lower().endswith(NIFTI_SUFFIXES)


def _is_zarr_store(path: Path) -> bool:
    return path.suffix.lower() == ZARR_SUFFIX and path.is_dir()


def _is_volume(path: Path) -> bool:
    return (path.is_file() and (path.suffix.lower() in H5_SUFFIXES or is_nifti(path))) or _is_zarr_store(path)


def volume_stem(path: str | PathLike) -> str:
    """File name without its volume suffix: ``a/cells.h5`` -> ``cells``, ``ct.nii.gz`` -> ``ct``."""
    name = Path(path).name
    for suffix in (*NIFTI_SUFFIXES, *H5_SUFFIXES, ZARR_SUFFIX):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return Path(path).stem


def find_volume_files(inputs: str | PathLike | Sequence[str | PathLike]) -> list[Path]:
    """HDF5 and NIfTI files and zarr stores (``*.zarr`` folders) named by a file, a folder (its direct volumes), a glob,
    or a list of these.

    Example::

        find_volume_files("data/test")          # every *.h5 / *.nii.gz in the folder
        find_volume_files("data/test/*.h5")      # a glob

    Raises:
        FileNotFoundError: an entry matches no volume file.
    """
    suffixes = (*H5_SUFFIXES, *NIFTI_SUFFIXES, ZARR_SUFFIX)
    return find_files(inputs, "volume files", suffixes, _is_volume, named=_is_volume)


class ArrayVolume:
    """A channel-first volume ``(C, Z, Y, X)`` (an array, or an HDF5 dataset) read region by region as float32,
    multiplied by ``scale`` (e.g. 1/255 for predictions stored as ``uint8``).

    Example:
        >>> ArrayVolume(np.zeros((1, 4, 5, 6))).read((slice(0, 2), slice(0, 5), slice(1, 3))).shape
        (1, 2, 5, 2)
    """

    def __init__(self, array: np.ndarray, scale: float = 1.0) -> None:
        if array.ndim != 4:
            raise ValueError(f"ArrayVolume needs a (C, Z, Y, X) array; got shape {array.shape}.")
        self.array = array
        self.shape = tuple(array.shape)
        self.scale = float(scale)

    def read(self, region: Region) -> np.ndarray:
        data = np.asarray(self.array[(slice(None), *region)], dtype=np.float32)
        return data * np.float32(self.scale) if self.scale != 1.0 else data


class HDF5Volume(ChunkedVolume):
    """A dataset of an HDF5 file opened read-only, seen as ``(C, Z, Y, X)``, read and normalised lazily.

    The stored dataset may be ``(Y, X)``, ``(Z, Y, X)`` or ``(C, Z, Y, X)``; a 3D dataset is ``(C, Y, X)``
    when ``channels_first_3d`` is set (a multi-channel 2D image). Every region read is normalised with the
    whole volume's statistics (:func:`~unet3d_monai.data.stats.compute_volume_stats`, computed chunk by
    chunk), so a region equals the same region of the normalised whole volume. Use as a context manager
    or call :meth:`close`.

    Args:
        path: the HDF5 file (never opened for writing).
        key: internal dataset path, e.g. ``"raw"``.
        normalization: a :class:`~unet3d_monai.data.normalize.Normalize` mode
            (``"standardize"``, ``"percentile"``, ``"minmax"``, ``"none"``).
        channels_first_3d: read a 3D dataset as ``(C, Y, X)`` instead of ``(Z, Y, X)``.
        replace_nonfinite: value given to NaN/Inf voxels when read (in the input's units, before normalisation);
            None leaves them (see :meth:`count_nonfinite`).
        stats: the volume's statistics when already known (block-wise workers reopen the file without reading
            it whole again); None computes them.

    Example::

        with HDF5Volume("cells.h5", "raw") as volume:
            block = volume.read((slice(0, 32), slice(0, 64), slice(0, 64)))   # (C, 32, 64, 64) float32
    """

    _file: h5py.File | None = None

    def _open(self) -> tuple[h5py.Dataset, str]:
        self._file = open_h5(self.path)
        return get_h5_dataset(self._file, self.key), f"HDF5 file '{self.path}' dataset '{self.key}'"

    def _compute_stats(self) -> VolumeStats:
        return compute_volume_stats(self.path, self.key, percentiles=self.normalize.percentiles)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def nifti_shape(path: str | PathLike) -> tuple[int, ...]:
    """The shape stored in a NIfTI file's header (the data is not read).

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file cannot be read as NIfTI.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NIfTI file '{path}' does not exist.")
    try:
        return tuple(int(s) for s in nib.load(str(path)).shape)
    except Exception as e:
        raise ValueError(f"File '{path}' cannot be read as NIfTI ({e}).") from e


def load_nifti(
    path: str | PathLike, normalization: str = "standardize", replace_nonfinite: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """A NIfTI volume as a normalised channel-first float32 array and its affine.

    nibabel's ``(X, Y, Z)`` becomes ``(1, X, Y, Z)`` and ``(X, Y, Z, C)`` becomes ``(C, X, Y, Z)``; the
    spatial axes keep the file's order, so ``roi_size`` is given in that order. NaN/Inf voxels are refused
    unless ``replace_nonfinite`` gives the value that replaces them (before normalisation).

    Returns:
        ``(array, affine)`` with the array ``(C, X, Y, Z)`` and the 4x4 affine.

    Raises:
        ValueError: the file is not NIfTI, has an unexpected shape, or holds NaN/Inf voxels that are not to be
            replaced.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"NIfTI file '{path}' does not exist.")
    try:
        image = nib.load(str(path))
        data = np.asarray(image.dataobj, dtype=np.float32)
    except Exception as e:
        raise ValueError(f"File '{path}' cannot be read as NIfTI ({e}).") from e
    if data.ndim == 2:
        data = data[:, :, None]
    if data.ndim == 3:
        data = data[None]
    elif data.ndim == 4:
        data = np.moveaxis(data, -1, 0)
    else:
        raise ValueError(f"NIfTI file '{path}' has shape {data.shape}; expected (X, Y, Z) or (X, Y, Z, C).")
    check_finite(int(data.size - np.count_nonzero(np.isfinite(data))), path, None, replace_nonfinite)
    data = fill_nonfinite(data, None if replace_nonfinite is None else float(replace_nonfinite))
    normalize = Normalize(normalization)
    stats = None if normalize.mode.value == "none" else VolumeStats.from_array(data, normalize.percentiles)
    return np.asarray(normalize(data, stats), dtype=np.float32), np.asarray(image.affine)
