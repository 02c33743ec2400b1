"""The napari writer of labels layers: the ``label`` dataset of an HDF5 training volume."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from unet3d_monai.io.atomic import atomic_path
from unet3d_monai.io.files import open_h5
from unet3d_monai.io.reader import volume_layout

__all__ = ["LABEL_KEY", "write_labels"]

#: the dataset the labels are written to: the one the training bundles read as the target
LABEL_KEY = "label"


def write_labels(path: str | PathLike, data: Any, meta: Mapping[str, Any]) -> list[str]:
    """Save a labels layer (napari's writer hook) as the dataset ``label`` of the HDF5 file ``path``, with its voxel
    size (the layer's ``scale``, ``(Z, Y, X)``) as the attribute ``element_size_um``.

    The file appears whole or not at all (written beside it, then renamed). An existing file keeps every other
    dataset: only ``label`` is added or replaced, so labels corrected in napari go next to the ``raw`` they were
    drawn on, and the file is a training volume for fine-tuning (``--pretrained_ckpt``).

    Args:
        path: the HDF5 file, new or existing.
        data: the labels, ``(Z, Y, X)`` or ``(Y, X)`` integers (a dask array is computed).
        meta: the layer's attributes; ``scale`` is used.

    Returns:
        ``[path]``.

    Example::

        write_labels("data/train/cells.h5", viewer.layers["cells segmentation"].data, {"scale": (0.5, 0.25, 0.25)})

    Raises:
        ValueError: the labels are not integers, their shape differs from the file's ``raw``, or the existing
            file is no HDF5 file (one sentence naming the file).
    """
    path = Path(path)
    labels = np.asarray(data)
    if not np.issubdtype(labels.dtype, np.integer) and labels.dtype != bool:
        raise ValueError(f"Labels written to '{path}' must be integers, got {labels.dtype}.")
    voxel_size = _voxel_size(meta.get("scale"), labels.ndim)
    with atomic_path(path) as staged:
        if path.exists():
            _check_fits_raw(path, labels.shape)
            shutil.copyfile(path, staged)
        with h5py.File(staged, "a") as f:
            if LABEL_KEY in f:
                del f[LABEL_KEY]
            dataset = f.create_dataset(LABEL_KEY, data=labels, compression="gzip", chunks=True)
            if voxel_size is not None:
                dataset.attrs["element_size_um"] = np.asarray(voxel_size, dtype=np.float64)
    return [str(path)]


def _voxel_size(scale: Sequence[float] | None, ndim: int) -> tuple[float, ...] | None:
    if scale is None:
        return None
    values = tuple(float(s) for s in np.asarray(scale, dtype=np.float64).ravel()[-ndim:])
    return values if len(values) == ndim else None


def _check_fits_raw(path: Path, shape: tuple[int, ...]) -> None:
    """Fail when ``path`` has a ``raw`` whose spatial shape is not ``shape`` (the labels would not belong to it)."""
    with open_h5(path) as f:
        raw = f.get("raw")
        if not isinstance(raw, h5py.Dataset):
            return
        spatial = volume_layout(raw.shape, path, "raw").spatial_shape
    if tuple(spatial) != tuple(shape):
        raise ValueError(
            f"Labels of shape {tuple(shape)} do not fit the raw volume of '{path}' (spatial shape {tuple(spatial)})."
        )
