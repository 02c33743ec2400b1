"""Input volumes for prediction: finding files, lazy normalised HDF5 reading, NIfTI loading."""

from __future__ import annotations

import glob
from collections.abc import Sequence
from os import PathLike
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np

from unet3d_monai.data.files import H5_SUFFIXES, get_h5_dataset, open_h5
from unet3d_monai.data.normalize import Normalize
from unet3d_monai.data.stats import VolumeStats, compute_volume_stats
from unet3d_monai.inference.input_checks import check_finite, count_nonfinite, fill_nonfinite

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
ZARR_SUFFIX = ".zarr"
Region = tuple[slice, ...]


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
    entries = [inputs] if isinstance(inputs, (str, PathLike)) else list(inputs)
    if not entries:
        raise FileNotFoundError("No input volumes: the list of inputs is empty.")
    suffixes = ", ".join(f"*{s}" for s in (*H5_SUFFIXES, *NIFTI_SUFFIXES, ZARR_SUFFIX))
    found: list[Path] = []
    for entry in entries:
        path = Path(entry).expanduser()
        if _is_zarr_store(path):
            files = [path]
        elif path.is_dir():
            files = sorted(f for f in path.iterdir() if _is_volume(f))
            if not files:
                raise FileNotFoundError(f"Input folder '{path}' contains no volume files (looked for {suffixes}).")
        elif path.is_file():
            if not _is_volume(path):
                raise FileNotFoundError(f"Input '{path}' is not an HDF5 or NIfTI file (expected {suffixes}).")
            files = [path]
        elif glob.has_magic(str(path)):
            files = sorted(Path(f) for f in glob.glob(str(path)) if _is_volume(Path(f)))
            if not files:
                raise FileNotFoundError(f"Input pattern '{path}' matches no volume files ({suffixes}).")
        else:
            raise FileNotFoundError(f"Input file or folder '{path}' does not exist.")
        found.extend(f for f in files if f not in found)
    return found


def _channel_first_shape(shape: Sequence[int], name: str, channels_first_3d: bool) -> tuple[int, ...]:
    """(C, Z, Y, X) view of a stored shape: (Y, X) and (Z, Y, X) gain a channel axis, (C, Y, X) a depth."""
    if len(shape) == 2:
        return (1, 1, *shape)
    if len(shape) == 3:
        return (shape[0], 1, shape[1], shape[2]) if channels_first_3d else (1, *shape)
    if len(shape) == 4:
        return tuple(shape)
    raise ValueError(f"{name} has shape {tuple(shape)}; expected (Y, X), (Z, Y, X) or (C, Z, Y, X).")


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


class HDF5Volume:
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
        self._file: h5py.File = open_h5(self.path)
        try:
            self._dataset = get_h5_dataset(self._file, key)
            self.stored_shape = tuple(self._dataset.shape)
            self.shape = _channel_first_shape(
                self.stored_shape, f"HDF5 file '{self.path}' dataset '{key}'", channels_first_3d
            )
            if self.normalize.mode.value != "none" and self.stats is None:
                self.stats = compute_volume_stats(self.path, key, percentiles=self.normalize.percentiles)
        except BaseException:
            self._file.close()
            raise

    def read(self, region: Region) -> np.ndarray:
        """Normalised float32 ``(C, *region)`` for a spatial region ``(z, y, x)`` of the volume."""
        ndim = len(self.stored_shape)
        if ndim == 2:
            data = self._dataset[region[1:]][None, None]
        elif ndim == 3 and self.channels_first_3d:
            data = self._dataset[(slice(None), *region[1:])][:, None]
        elif ndim == 3:
            data = self._dataset[region][None]
        else:
            data = self._dataset[(slice(None), *region)]
        data = fill_nonfinite(np.asarray(data), self.replace_nonfinite)
        return np.asarray(self.normalize(data, self.stats), dtype=np.float32)

    def count_nonfinite(self) -> int:
        """Number of NaN/Inf voxels stored in the dataset (from the statistics, or one pass over the data)."""
        return self.stats.nonfinite if self.stats is not None else count_nonfinite(self._dataset)

    def read_all(self) -> np.ndarray:
        """The whole normalised volume ``(C, Z, Y, X)``."""
        return self.read(tuple(slice(0, s) for s in self.shape[1:]))

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> HDF5Volume:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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
