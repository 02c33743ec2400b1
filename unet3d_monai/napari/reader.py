"""The napari reader of this package's HDF5 files and zarr stores: prediction outputs and training volumes."""

from __future__ import annotations

from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import Any

import dask.array as da
import h5py
import numpy as np

from unet3d_monai.io.files import is_zarr
from unet3d_monai.io.reader import volume_layout
from unet3d_monai.io.voxel_size import read_voxel_size
from unet3d_monai.io.writers import SOURCE_ATTRIBUTE

__all__ = ["KNOWN_DATASETS", "PROBABILITY_COLORMAPS", "get_reader", "read_layers"]

#: the datasets (arrays) this reader knows, in the order their layers are stacked (the first lowest)
KNOWN_DATASETS = ("raw", "predictions", "label", "segmentation")
#: colormaps of the probability channels, in turn: bright on black, so that channels add up under additive blending
PROBABILITY_COLORMAPS = ("magenta", "green", "cyan", "yellow", "red", "blue")

#: napari's layer data tuple: ``(data, layer keyword arguments, layer type)``
LayerData = tuple[Any, dict[str, Any], str]


def get_reader(path: str | PathLike | list[str]) -> Callable[[str | list[str]], list[LayerData]] | None:
    """The reader of ``path`` (napari's ``napari_get_reader`` hook), or None when ``path`` is not an HDF5 file or
    zarr store holding at least one of :data:`KNOWN_DATASETS` (so napari asks another reader).

    Example::

        reader = get_reader("out/cells_predictions.h5")
        layers = reader("out/cells_predictions.h5")
    """
    paths = [path] if isinstance(path, str | PathLike) else list(path)
    if not paths or not all(_known_keys(Path(p)) for p in paths):
        return None
    return _read_paths


def _read_paths(path: str | list[str]) -> list[LayerData]:
    paths = [path] if isinstance(path, str | PathLike) else list(path)
    return [layer for p in paths for layer in read_layers(p)]


def _known_keys(path: Path) -> list[str]:
    """The :data:`KNOWN_DATASETS` that ``path`` holds at its root; empty for anything else (a missing file, another
    format, a damaged file)."""
    try:
        if is_zarr(path):
            root = _open_zarr_group(path)
            return [key for key in KNOWN_DATASETS if root is not None and key in root]
        if not path.is_file() or not h5py.is_hdf5(path):
            return []
        with h5py.File(path, "r") as f:
            return [key for key in KNOWN_DATASETS if isinstance(f.get(key), h5py.Dataset)]
    except (OSError, ValueError, KeyError, ImportError):
        return []


def _open_zarr_group(path: Path) -> Any:
    from unet3d_monai.io.zarr_store import import_zarr

    zarr = import_zarr()
    if not path.is_dir():
        return None
    node = zarr.open(str(path), mode="r")
    return node if isinstance(node, zarr.Group) else None


def read_layers(path: str | PathLike) -> list[LayerData]:
    """The layers of an HDF5 file or zarr store, one for each of :data:`KNOWN_DATASETS` it holds (one per channel
    for ``predictions`` and for a multi-channel ``raw`` or ``label``), as lazy dask arrays that read the file as
    napari shows them.

    - ``raw`` ``(Z, Y, X)``, ``(Y, X)`` or ``(C, Z, Y, X)``: an image layer (one per channel, gray).
    - ``predictions`` ``(C, Z, Y, X)``: one image layer per channel, contrast limits ``[0, 1]``, additive blending,
      colormaps :data:`PROBABILITY_COLORMAPS`.
    - ``label`` and ``segmentation`` ``(Z, Y, X)``: labels layers (a floating-point ``label``, a regression target,
      is an image layer).

    Every layer's ``scale`` is the voxel size of its dataset (``element_size_um`` or ``resolution`` of the dataset
    or the file, ``(Z, Y, X)`` in micrometres), so volumes of different voxel sizes overlay; without one, napari's
    unit scale; a dataset without one (a training file's ``label``) takes that of a dataset of its shape that has
    one. A prediction output (``predictions`` without ``raw``) also shows the ``raw`` of the input it names in its
    ``source`` attribute, under its own layers, when that file is still there. An HDF5 file stays open for as long as
    its layers' arrays exist.

    Example::

        >>> [(kwargs["name"], kind) for _, kwargs, kind in read_layers("out/cells_predictions.h5")]
        [('cells_predictions predictions', 'image'), ('cells_predictions segmentation', 'labels')]

    Raises:
        ValueError: the file holds none of :data:`KNOWN_DATASETS`, or one of them has a shape that is no volume.
    """
    path = Path(path)
    keys = _known_keys(path)
    if not keys:
        raise ValueError(f"'{path}' holds none of the datasets {list(KNOWN_DATASETS)}.")
    if is_zarr(path):
        root = _open_zarr_group(path)
        arrays = {key: da.from_zarr(root[key]) for key in keys}
    else:
        handle = h5py.File(path, "r")
        arrays = {key: _h5_dask(handle[key]) for key in keys}
    name = path.name[: -len(path.suffix)] if path.suffix else path.name
    spatial = {key: tuple(volume_layout(arrays[key].shape, path, key).spatial_shape) for key in keys}
    voxel_sizes = {key: read_voxel_size(path, key)[0] for key in keys}
    layers = []
    for key in keys:
        array = arrays[key]
        # a dataset that does not say (a training file's label) is at the voxel size of one of its shape that does
        voxel_size = voxel_sizes[key] or next(
            (voxel_sizes[k] for k in keys if voxel_sizes[k] is not None and spatial[k] == spatial[key]), None
        )
        scale = {} if voxel_size is None else {"scale": tuple(voxel_size)}
        channels = array.ndim > len(spatial[key]) or key == "predictions"
        if key == "predictions" and array.ndim == len(spatial[key]):
            array = array[None]
        layers.extend(_layers(key, array, channels, f"{name} {key}", scale))
    source = _source_with_raw(path, keys)
    if source is not None:
        # a prediction output: the input it was predicted from, under the predictions
        layers = [layer for layer in read_layers(source) if layer[1]["name"].endswith(" raw")] + layers
    return layers


def _source_with_raw(path: Path, keys: list[str]) -> Path | None:
    """The input a prediction output names in its ``source`` attribute, when the output holds no ``raw`` and the input
    is still there with one; None otherwise."""
    if "raw" in keys or "predictions" not in keys:
        return None
    try:
        if is_zarr(path):
            source = _open_zarr_group(path)["predictions"].attrs.get(SOURCE_ATTRIBUTE)
        else:
            with h5py.File(path, "r") as f:
                source = f["predictions"].attrs.get(SOURCE_ATTRIBUTE)
    except (OSError, KeyError, TypeError):
        return None
    if not source:
        return None
    source = Path(source.decode() if isinstance(source, bytes) else str(source))
    return source if source != path and "raw" in _known_keys(source) else None


def _layers(key: str, array: da.Array, channels: bool, name: str, scale: dict) -> list[LayerData]:
    if key == "predictions":
        n = array.shape[0]
        kwargs = {
            "name": name if n == 1 else [f"{name} {c}" for c in range(n)],
            "colormap": PROBABILITY_COLORMAPS[0] if n == 1 else [_colormap(c) for c in range(n)],
            "contrast_limits": [0.0, 1.0] if n == 1 else [[0.0, 1.0]] * n,
            "blending": "additive",
            **scale,
        }
        return [(array[0], kwargs, "image") if n == 1 else (array, {**kwargs, "channel_axis": 0}, "image")]
    is_labels = key in ("label", "segmentation") and np.issubdtype(array.dtype, np.integer)
    if not channels:
        kwargs = {"name": name, **scale}
        return [(array, kwargs, "labels" if is_labels else "image")]
    if not is_labels:
        if array.shape[0] == 1:
            return [(array[0], {"name": name, **scale}, "image")]
        return [(array, {"name": [f"{name} {c}" for c in range(array.shape[0])], "channel_axis": 0, **scale}, "image")]
    return [(array[c], {"name": f"{name} {c}", **scale}, "labels") for c in range(array.shape[0])]


def _colormap(channel: int) -> str:
    return PROBABILITY_COLORMAPS[channel % len(PROBABILITY_COLORMAPS)]


def _h5_dask(dataset: h5py.Dataset) -> da.Array:
    """``dataset`` as a dask array read in its own chunks, or one plane at a time when it is stored contiguously."""
    chunks = dataset.chunks
    if chunks is None:
        chunks = (*(1,) * max(dataset.ndim - 2, 0), *dataset.shape[-2:])
    return da.from_array(dataset, chunks=chunks, lock=True, name=f"{dataset.file.filename}:{dataset.name}")
