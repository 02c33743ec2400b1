"""The voxel size and shape of an array of a zarr store: from its attributes, its group's, or OME-Zarr metadata.

zarr is optional: this module imports it (through :func:`~unet3d_monai.io.zarr_store.import_zarr`) only when
a zarr store is read.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from os import PathLike
from pathlib import Path
from typing import Any

from unet3d_monai.io.zarr_store import import_zarr, open_zarr_array

__all__ = ["OME_SCALE", "ome_zarr_scale", "zarr_array_and_groups"]

logger = logging.getLogger(__name__)

#: the source :func:`~unet3d_monai.io.voxel_size.read_voxel_size` names for a voxel size from OME-Zarr metadata
OME_SCALE = "OME-Zarr scale"

# micrometres per unit of the OME-Zarr space units (UDUNITS names) found in microscopy data: voxel sizes are kept in
# micrometres, as ImageJ's ``element_size_um``
_MICROMETRES_PER_UNIT = {
    "angstrom": 1e-4,
    "picometer": 1e-6,
    "nanometer": 1e-3,
    "micrometer": 1.0,
    "micron": 1.0,
    "millimeter": 1e3,
    "centimeter": 1e4,
    "meter": 1e6,
}


def zarr_array_and_groups(path: str | PathLike, key: str) -> tuple[Any, list[tuple[Any, str]]]:
    """The array ``key`` of the zarr store ``path`` and the groups holding it, nearest first (its parent, then the
    store's root), each with the array's path from it; a store that is one array has no groups.

    Raises:
        FileNotFoundError / KeyError / ValueError: one sentence naming the store and the array.
    """
    path = Path(path)
    array = open_zarr_array(path, key)
    zarr = import_zarr()
    root = zarr.open(str(path), mode="r")
    if isinstance(root, zarr.Array):
        return array, []
    key = key.strip("/")
    parent, _, name = key.rpartition("/")
    return array, ([(root[parent], name)] if parent else []) + [(root, key)]


def _multiscales(attributes: Mapping) -> list:
    """The ``multiscales`` list of OME-Zarr 0.5 (under ``ome``) or 0.4 (at the top level)."""
    ome = attributes.get("ome")
    if isinstance(ome, Mapping) and isinstance(ome.get("multiscales"), list):
        return ome["multiscales"]
    multiscales = attributes.get("multiscales")
    return multiscales if isinstance(multiscales, list) else []


def _scale(transformations: object) -> list[float] | None:
    """The ``scale`` of a ``coordinateTransformations`` list (None when it has none)."""
    if not isinstance(transformations, list):
        return None
    for transformation in transformations:
        if isinstance(transformation, Mapping) and transformation.get("type") == "scale":
            scale = transformation.get("scale")
            if not isinstance(scale, list) or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in scale
            ):
                raise ValueError(f"its scale {scale!r} is not a list of numbers")
            return [float(v) for v in scale]
    return None


def _is_space(axis: object) -> bool:
    if isinstance(axis, Mapping):
        kind = axis.get("type")
        return kind == "space" or (kind is None and str(axis.get("name", "")).lower() in ("z", "y", "x"))
    return isinstance(axis, str) and axis.lower() in ("z", "y", "x")


def _micrometres_per_unit(axis: object) -> float:
    """The factor from ``axis``'s unit to micrometres (1 when the axis states no unit)."""
    unit = axis.get("unit") if isinstance(axis, Mapping) else None
    if unit is None:
        return 1.0
    factor = _MICROMETRES_PER_UNIT.get(str(unit).lower())
    if factor is None:
        raise ValueError(f"its space unit {unit!r} is not one of {sorted(_MICROMETRES_PER_UNIT)}")
    return factor


def _space_scale(multiscale: Mapping, dataset: Mapping, ndim: int) -> list[float]:
    """The voxel size along the space axes that ``multiscale`` gives its ``dataset`` (an array of ``ndim`` axes)."""
    axes = multiscale.get("axes")
    if not isinstance(axes, list) or len(axes) != ndim:
        raise ValueError(f"its axes {axes!r} do not name the array's {ndim} axes")
    scale = _scale(dataset.get("coordinateTransformations"))
    if scale is None:
        raise ValueError("its dataset has no coordinateTransformations of type 'scale'")
    overall = _scale(multiscale.get("coordinateTransformations"))
    for values in (scale, overall):
        if values is not None and len(values) != ndim:
            raise ValueError(f"its scale {values} has {len(values)} values for {ndim} axes")
    if overall is not None:
        scale = [a * b for a, b in zip(scale, overall)]
    space = [value * _micrometres_per_unit(axis) for value, axis in zip(scale, axes) if _is_space(axis)]
    if not space or not all(math.isfinite(v) and v > 0 for v in space):
        raise ValueError(f"its scale along the space axes {space} is not positive")
    return space


def ome_zarr_scale(
    groups: Sequence[tuple[Any, str]], ndim: int, n_spatial: int, where: str
) -> tuple[float, ...] | None:
    """The voxel size OME-Zarr metadata (NGFF 0.4 ``multiscales``, 0.5 ``ome.multiscales``) of ``groups`` (each with
    the array's path from it, see :func:`zarr_array_and_groups`) gives the array's dataset: its ``scale``
    transformation (times the multiscale's own, when it has one) along the axes of type ``"space"`` (channel and time
    axes dropped), in the order stored, e.g. ``(z, y, x)``, in micrometres where the axes state their ``unit``
    (``"nanometer"``, ``"millimeter"``, ...), as given where they do not; a 2D array (``n_spatial`` 2) with three space
    axes takes the last two.

    Metadata naming the dataset but malformed (a scale of another length than the axes, no axes, a value that is not
    a positive number) is ignored with one warning naming ``where``, as an HDF5 attribute of the wrong length is
    ignored: the voxel size is then taken from ``--voxel_size`` or unknown.

    Returns:
        the voxel size, or None when no multiscale of ``groups`` lists the dataset or its metadata is malformed.

    Example::

        # attrs {"multiscales": [{"axes": [c, z, y, x], "datasets": [{"path": "0", "coordinateTransformations":
        #        [{"type": "scale", "scale": [1, 2.0, 0.5, 0.5]}]}]}]}
        ome_zarr_scale([(group, "0")], ndim=4, n_spatial=3, where="...")     # -> (2.0, 0.5, 0.5)
    """
    for group, path in groups:
        for multiscale in _multiscales(group.attrs.asdict()):
            if not isinstance(multiscale, Mapping) or not isinstance(multiscale.get("datasets"), list):
                continue
            for dataset in multiscale["datasets"]:
                if not isinstance(dataset, Mapping) or dataset.get("path") != path:
                    continue
                try:
                    space = _space_scale(multiscale, dataset, ndim)
                    if len(space) == 3 and n_spatial == 2:
                        space = space[1:]
                    if len(space) != n_spatial:
                        raise ValueError(f"it has {len(space)} space axes for the array's {n_spatial} spatial axes")
                except ValueError as e:
                    logger.warning("The OME-Zarr metadata of %s is ignored: %s.", where, e)
                    return None
                return tuple(space)
    return None
