"""The voxel size of a volume: from a NIfTI affine, from the HDF5/zarr attributes microscopy tools write, from OME-Zarr
metadata, or given."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path

import nibabel as nib
import numpy as np

from unet3d_monai.io.files import get_h5_dataset, is_zarr, open_h5
from unet3d_monai.io.reader import VOXEL_SIZE_ATTRIBUTES, attribute_voxel_size, volume_layout
from unet3d_monai.io.zarr_voxel_size import OME_SCALE, ome_zarr_scale, zarr_array_and_groups

__all__ = [
    "VOXEL_SIZE",
    "VOXEL_SIZE_ATTRIBUTES",
    "VOXEL_SIZE_SOURCE",
    "check_voxel_size",
    "meta_voxel_size",
    "read_voxel_size",
    "volume_shape",
]

#: entry of a loaded volume's meta dict holding the voxel size its loader read (an empty array: the file does not say)
VOXEL_SIZE = "voxel_size"
#: entry of a loaded volume's meta dict saying where the voxel size came from (see :func:`read_voxel_size`)
VOXEL_SIZE_SOURCE = "voxel_size_source"


def meta_voxel_size(meta: Mapping) -> tuple[float, ...] | None:
    """The voxel size of a loaded volume, from its meta dict: the loader's :data:`VOXEL_SIZE` entry (along the
    array's spatial axes; None when the file did not say), or else the lengths of the affine's spatial columns (a
    volume loaded by MONAI's ``LoadImaged``); None without either.

    Example:
        >>> meta_voxel_size({"affine": np.diag([0.5, 0.5, 2.0, 1.0])})
        (0.5, 0.5, 2.0)
    """
    if VOXEL_SIZE in meta:
        values = np.asarray(_numpy(meta[VOXEL_SIZE]), dtype=np.float64).ravel()
        return tuple(float(v) for v in values) if values.size else None
    affine = meta.get("affine")
    if affine is None:
        return None
    affine = np.asarray(_numpy(affine), dtype=np.float64)
    spatial = affine.shape[-1] - 1
    return tuple(float(z) for z in np.linalg.norm(affine[:spatial, :spatial], axis=0))


def _numpy(value: object) -> object:
    return value.detach().cpu().numpy() if hasattr(value, "detach") else value


def check_voxel_size(value: object, n_spatial: int, name: str = "--voxel_size") -> tuple[float, ...]:
    """``value`` as one positive finite float per spatial axis (one number is used for every axis).

    Raises:
        ValueError: one sentence naming ``name`` and what was expected.
    """
    try:
        values = np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        values = np.asarray([], dtype=np.float64)
    if values.size == 1:
        values = np.repeat(values, n_spatial)
    if values.size != n_spatial or not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"{name} must be one positive number or {n_spatial} (one per spatial axis), got {value!r}.")
    return tuple(float(v) for v in values)


def _is_nifti(path: Path) -> bool:
    return path.name.lower().endswith((".nii", ".nii.gz"))


def volume_shape(path: str | PathLike, key: str = "raw") -> tuple[int, ...]:
    """The spatial shape of a volume, from the header only: ``(Z, Y, X)``/``(Y, X)`` of an HDF5 dataset ``key``
    (a leading channel axis of 4D data is left out), ``(X, Y, Z)`` of a NIfTI file (the order its arrays are
    predicted in); a zarr store's array ``key`` as an HDF5 dataset."""
    path = Path(path)
    if _is_nifti(path):
        return tuple(int(s) for s in nib.load(str(path)).shape[:3])
    if is_zarr(path):
        array, _ = zarr_array_and_groups(path, key)
        return volume_layout(array.shape, path, key).spatial_shape
    with open_h5(path) as f:
        return volume_layout(get_h5_dataset(f, key).shape, path, key).spatial_shape


def read_voxel_size(
    path: str | PathLike, key: str = "raw", given: Sequence[float] | float | None = None
) -> tuple[tuple[float, ...] | None, str]:
    """The voxel size of ``path`` along its spatial axes, and where it came from; nothing but headers is read.

    NIfTI: the lengths of the affine's columns (``(X, Y, Z)``, the file's axis order). HDF5: the attribute
    ``element_size_um`` or ``resolution`` of dataset ``key`` or of the file (``(Z, Y, X)``; a 2D dataset takes the
    last two of three values). zarr (a ``.zarr`` store holding array ``key``, or one array): the same attributes of
    the array, then of its groups; else OME-Zarr metadata (NGFF 0.4 ``multiscales``, 0.5 ``ome.multiscales``): the
    ``scale`` of the multiscale dataset whose ``path`` is the array, along its space axes (see
    :func:`~unet3d_monai.io.zarr_voxel_size.ome_zarr_scale`; malformed metadata is ignored with a warning).
    ``given`` (``--voxel_size``) is used when the file has none.

    Returns:
        ``(voxel_size, source)``; ``(None, "unknown")`` when neither the file nor ``given`` says.

    Example::

        read_voxel_size("stack.h5")        # -> ((0.5, 0.25, 0.25), "element_size_um")
        read_voxel_size("cells.ome.zarr", "0")   # -> ((2.0, 0.5, 0.5), "OME-Zarr scale")
    """
    path = Path(path)
    if is_zarr(path):
        array, groups = zarr_array_and_groups(path, key)
        shape = volume_layout(array.shape, path, key).spatial_shape
        found = attribute_voxel_size([array.attrs.asdict(), *(g.attrs.asdict() for g, _ in groups)], len(shape))
        if found is None:
            where = f"zarr store '{path}' array '{key}'"
            scale = ome_zarr_scale(groups, len(array.shape), len(shape), where)
            found = None if scale is None else (scale, OME_SCALE)
    elif _is_nifti(path):
        shape = volume_shape(path, key)
        affine = np.asarray(nib.load(str(path)).affine, dtype=np.float64)
        zooms = np.linalg.norm(affine[:3, : len(shape)], axis=0)
        found = None
        if np.all(np.isfinite(zooms)) and np.all(zooms > 0):
            found = tuple(float(z) for z in zooms), "NIfTI affine"
    else:
        with open_h5(path) as f:
            dataset = get_h5_dataset(f, key)
            shape = volume_layout(dataset.shape, path, key).spatial_shape
            found = attribute_voxel_size([dataset.attrs, f.attrs], len(shape))
    if found is not None:
        return found
    if given is not None:
        return check_voxel_size(given, len(shape)), "--voxel_size"
    return None, "unknown"
