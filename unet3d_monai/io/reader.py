"""A MONAI ``ImageReader`` for HDF5 volumes, for ``LoadImage``/``LoadImaged``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import numpy as np
from monai.config import KeysCollection
from monai.data import ImageReader
from monai.transforms import LoadImage, MapTransform
from monai.utils import MetaKeys, SpaceKeys, ensure_tuple, ensure_tuple_rep

from unet3d_monai.io.files import H5_SUFFIXES, get_h5_dataset, is_zarr, open_h5, read_h5

__all__ = ["VOXEL_SIZE_ATTRIBUTES", "HDF5Reader", "LoadHDF5d", "VolumeLayout", "attribute_voxel_size", "volume_layout"]

NO_CHANNEL = "no_channel"


@dataclass(frozen=True)
class VolumeLayout:
    """How an HDF5 dataset's axes are read.

    Attributes:
        channels: number of channels, or None when the dataset has no channel axis.
        spatial_shape: the spatial axes, ``(Z, Y, X)`` or ``(Y, X)``.
    """

    channels: int | None
    spatial_shape: tuple[int, ...]


def volume_layout(shape: Sequence[int], path: str | PathLike, key: str) -> VolumeLayout:
    """Interpret a dataset shape the pytorch-3dunet way: ``(Y, X)``, ``(Z, Y, X)`` or ``(C, Z, Y, X)``.

    2D data may be stored as ``(Y, X)``, ``(1, Y, X)`` or ``(C, 1, Y, X)``.

    Raises:
        ValueError: the rank is neither 2, 3 nor 4, or an axis is empty.
    """
    shape = tuple(int(s) for s in shape)
    where = f"zarr store '{path}' array '{key}'" if is_zarr(path) else f"HDF5 file '{path}' dataset '{key}'"
    if len(shape) not in (2, 3, 4):
        raise ValueError(f"{where} has shape {shape} (rank {len(shape)}); expected (Y, X), (Z, Y, X) or (C, Z, Y, X).")
    if min(shape) == 0:
        raise ValueError(f"{where} is empty (shape {shape}).")
    if len(shape) == 4:
        return VolumeLayout(channels=shape[0], spatial_shape=shape[1:])
    return VolumeLayout(channels=None, spatial_shape=shape)


@dataclass
class _HDF5Image:
    array: np.ndarray
    channel_dim: int | None
    filename: str
    key: str
    spacing: tuple[float, ...] | None

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return self.array.shape[1:] if self.channel_dim == 0 else self.array.shape


# HDF5 (or zarr) attributes holding the voxel size, (z, y, x) or (y, x), on the dataset or the file (the array or its
# groups): ImageJ/Fiji and pytorch-3dunet write ``element_size_um``, other tools ``resolution``
VOXEL_SIZE_ATTRIBUTES = ("element_size_um", "resolution")


def attribute_voxel_size(attributes: Sequence, n_spatial: int) -> tuple[tuple[float, ...], str] | None:
    """The voxel size the attribute mappings ``attributes`` (nearest first: a dataset's, then its file's) state for
    ``n_spatial`` axes, and the attribute's name: the first :data:`VOXEL_SIZE_ATTRIBUTES` entry holding one positive
    finite number per axis ((z, y, x), or (y, x) for 2D, which takes the last two of three); None when none does.
    """
    for attrs in attributes:
        for name in VOXEL_SIZE_ATTRIBUTES:
            if name not in attrs:
                continue
            try:
                values = np.asarray(attrs[name], dtype=np.float64).ravel()
            except (TypeError, ValueError):
                continue
            if values.size == 3 and n_spatial == 2:
                values = values[1:]
            if values.size == n_spatial and np.all(np.isfinite(values)) and np.all(values > 0):
                return tuple(float(v) for v in values), name
    return None


class HDF5Reader(ImageReader):
    """Load one internal dataset of ``.h5``/``.hdf5``/``.hdf``/``.hd5`` files, for MONAI's ``LoadImage(d)``.

    Only the dataset ``key`` is read. Shapes and what comes out (before ``EnsureChannelFirst``):

    ==================  =====================  ================================
    stored              ``spatial_dims=None``  ``spatial_dims=2`` / ``=3``
    ==================  =====================  ================================
    ``(Z, Y, X)``       ``(Z, Y, X)``          ``(Y, X)`` if Z == 1 / as stored
    ``(C, Z, Y, X)``    ``(C, Z, Y, X)``       ``(C, Y, X)`` if Z == 1 / stored
    ``(Y, X)``          ``(Y, X)``             ``(Y, X)`` / ``(1, Y, X)``
    ==================  =====================  ================================

    The meta data carries ``original_channel_dim`` (0 for 4D data, ``"no_channel"`` otherwise) so that
    ``EnsureChannelFirst(d)`` adds or keeps the channel axis, ``spatial_shape``, an identity ``affine``
    (scaled by the file's ``element_size_um`` attribute when it has one per spatial axis) and
    ``hdf5_key``. Several files given together are stacked as channels.

    Args:
        key: internal dataset path, e.g. ``"raw"`` or ``"volumes/labels"``.
        spatial_dims: None keeps the stored layout; 2 drops a singleton z axis (2D data stored
            ``(1, Y, X)``/``(C, 1, Y, X)``, as pytorch-3dunet requires) and rejects a thicker z; 3 gives
            plain ``(Y, X)`` data a z axis of 1.
        dtype: cast the array to this dtype after reading (None keeps the stored dtype).

    Example::

        Compose([
            LoadImaged("image", reader=HDF5Reader("raw"), ensure_channel_first=True),
            LoadImaged("label", reader=HDF5Reader("label"), ensure_channel_first=True),
        ])

    Note that ``LoadImage(d)`` given a reader in its constructor falls back to MONAI's other readers when
    this one raises (PIL claims ``.h5`` files, then fails), so a missing file or dataset surfaces as another
    reader's error. :class:`LoadHDF5d`, or ``LoadImage()(path, reader=HDF5Reader(...))``, passes the reader at
    call time instead, so the error is this reader's own sentence.
    """

    def __init__(self, key: str = "raw", spatial_dims: int | None = None, dtype: np.dtype | type | None = None):
        super().__init__()
        if spatial_dims not in (None, 2, 3):
            raise ValueError(f"HDF5Reader spatial_dims must be None, 2 or 3, got {spatial_dims!r}.")
        self.key = key
        self.spatial_dims = spatial_dims
        self.dtype = dtype

    def verify_suffix(self, filename: Sequence[str | PathLike] | str | PathLike) -> bool:
        """True when every file name ends with an HDF5 suffix (``.h5``, ``.hdf5``, ``.hdf``, ``.hd5``)."""
        return all(Path(name).suffix.lower() in H5_SUFFIXES for name in ensure_tuple(filename))

    def _read_one(self, name: str | PathLike) -> _HDF5Image:
        with open_h5(name) as f:
            ds = get_h5_dataset(f, self.key)
            layout = volume_layout(ds.shape, name, self.key)
            if self.spatial_dims == 2 and len(layout.spatial_shape) == 3 and layout.spatial_shape[0] != 1:
                raise ValueError(
                    f"HDF5 file '{name}' dataset '{self.key}' has shape {ds.shape}; spatial_dims=2 expects "
                    "(Y, X), (1, Y, X) or (C, 1, Y, X)."
                )
            array = read_h5(ds)
            attributes = [dict(ds.attrs), dict(f.attrs)]
        channel_dim = 0 if layout.channels is not None else None
        if self.spatial_dims == 2 and len(layout.spatial_shape) == 3:
            array = array[:, 0] if channel_dim == 0 else array[0]
        elif self.spatial_dims == 3 and len(layout.spatial_shape) == 2:
            array = array[None]
        if self.dtype is not None:
            array = array.astype(self.dtype, copy=False)
        n_spatial = array.ndim - (channel_dim is not None)
        found = attribute_voxel_size(attributes, n_spatial)
        return _HDF5Image(array, channel_dim, str(name), self.key, None if found is None else found[0])

    def read(self, data: Sequence[str | PathLike] | str | PathLike) -> _HDF5Image | list[_HDF5Image]:
        """Read the dataset ``key`` of one file, or of each of several files.

        Raises:
            FileNotFoundError, HDF5FileError, HDF5KeyError: see :func:`~unet3d_monai.io.files.open_h5`.
            ValueError: the dataset's rank is not 2, 3 or 4, or does not suit ``spatial_dims``.
        """
        images = [self._read_one(name) for name in ensure_tuple(data)]
        return images if len(images) > 1 else images[0]

    def get_data(self, img: _HDF5Image | Sequence[_HDF5Image]) -> tuple[np.ndarray, dict]:
        """The array (several files stacked/concatenated on axis 0) and its meta data dict."""
        images = [img] if isinstance(img, _HDF5Image) else list(img)
        first = images[0]
        for other in images[1:]:
            if (other.channel_dim is None) != (first.channel_dim is None):
                raise ValueError(
                    f"Cannot stack HDF5 datasets of '{first.filename}' and '{other.filename}': one has a channel "
                    "axis and the other has not."
                )
            if other.spatial_shape != first.spatial_shape:
                raise ValueError(
                    f"Cannot stack HDF5 datasets '{first.key}' of '{first.filename}' (shape {first.array.shape}) and "
                    f"'{other.filename}' (shape {other.array.shape}): spatial shapes differ."
                )
        if len(images) == 1:
            array, channel_dim = first.array, first.channel_dim
        elif first.channel_dim is None:
            array, channel_dim = np.stack([i.array for i in images], axis=0), 0
        else:
            array, channel_dim = np.concatenate([i.array for i in images], axis=0), 0
        spatial = array.shape[1:] if channel_dim == 0 else array.shape
        affine = np.eye(len(spatial) + 1)
        if first.spacing is not None:
            affine[: len(spatial), : len(spatial)] = np.diag(first.spacing)
        meta = {
            MetaKeys.SPATIAL_SHAPE: np.asarray(spatial),
            MetaKeys.AFFINE: affine,
            MetaKeys.ORIGINAL_AFFINE: affine.copy(),
            MetaKeys.SPACE: SpaceKeys.RAS,
            MetaKeys.ORIGINAL_CHANNEL_DIM: NO_CHANNEL if channel_dim is None else channel_dim,
            "hdf5_key": first.key,
        }
        return array, meta


class LoadHDF5d(MapTransform):
    """Load whole HDF5 datasets into a sample dict: ``LoadImaged`` with one :class:`HDF5Reader` per key.

    ``data[key]`` holds the file path (or several paths, stacked as channels); the loaded array is a
    MetaTensor of ``dtype``, channel-first by default (``(C, Z, Y, X)`` or ``(C, Y, X)``). Errors are the
    reader's own one-sentence errors (see :class:`HDF5Reader`).

    Args:
        keys: sample keys to load, e.g. ``("image", "label")``.
        hdf5_keys: the internal dataset for each key (one string is used for every key).
        spatial_dims: see :class:`HDF5Reader`.
        dtype: dtype of the loaded arrays (None keeps the stored dtype).
        ensure_channel_first: add a channel axis to data stored without one.
        allow_missing_keys: don't raise if a sample lacks a key.

    Example::

        load = LoadHDF5d(["image", "label"], hdf5_keys=["raw", "label"])
        sample = load({"image": "val/a.h5", "label": "val/a.h5"})   # image (1, Z, Y, X), label (1, Z, Y, X)
    """

    def __init__(
        self,
        keys: KeysCollection,
        hdf5_keys: str | Sequence[str] = "raw",
        spatial_dims: int | None = None,
        dtype: np.dtype | type | None = np.float32,
        ensure_channel_first: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        names = ensure_tuple_rep(hdf5_keys, len(self.keys))
        self.readers = {key: HDF5Reader(name, spatial_dims=spatial_dims) for key, name in zip(self.keys, names)}
        self.loader = LoadImage(image_only=True, dtype=dtype, ensure_channel_first=ensure_channel_first)

    def __call__(self, data: dict) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = self.loader(d[key], reader=self.readers[key])
        return d
