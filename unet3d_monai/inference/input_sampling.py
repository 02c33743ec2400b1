"""The voxel size an input's instance segmentation is measured in: the one its loader read, checked against the
predictions' spatial axes."""

from __future__ import annotations

import logging
from collections.abc import Sequence

__all__ = ["ANISOTROPY_NOTICE", "input_sampling", "model_length_unit"]

logger = logging.getLogger(__name__)

#: the ratio of the coarsest to the finest axis from which the voxel size used by the segmentation is logged
ANISOTROPY_NOTICE = 1.5


def input_sampling(
    voxel_size: Sequence[float] | None, spatial_ndim: int, name: str = "the input", source: str = ""
) -> tuple[float, ...] | None:
    """The voxel size of an input (as its loader read it, see :func:`~unet3d_monai.io.voxel_size.meta_voxel_size`)
    as the ``sampling`` of the segmentation of its predictions, which are on the input's grid and have
    ``spatial_ndim`` spatial axes (in the order of the input's array: ``(Z, Y, X)`` for HDF5/zarr, ``(X, Y, Z)`` for
    NIfTI).

    None (voxels treated as cubes) when the voxel size is unknown, or given for another number of axes (a
    multi-channel 2D image stored as ``(C, Y, X)``). One line naming the input ``name`` and the ``source`` of its
    voxel size is logged when the coarsest axis is more than :data:`ANISOTROPY_NOTICE` times the finest.

    Example:
        >>> input_sampling((2.0, 0.25, 0.25), 3)
        (2.0, 0.25, 0.25)
    """
    if voxel_size is None or len(voxel_size) != spatial_ndim:
        return None
    voxel_size = tuple(float(v) for v in voxel_size)
    ratio = max(voxel_size) / min(voxel_size)
    if ratio > ANISOTROPY_NOTICE:
        logger.info(
            "Segmenting %s with its voxel size %s (%s, %.3g times coarser on the coarsest axis): distances and "
            "min_distance in voxels of the finest axis.",
            name,
            list(voxel_size),
            source,
            ratio,
        )
    return voxel_size


def model_length_unit(model_voxel_size: Sequence[float] | None, spatial_ndim: int) -> float | None:
    """The finest of the model's voxel sizes along the last ``spatial_ndim`` axes: the length the segmentation's
    ``min_distance`` counts when an input is predicted at the model's voxel size, so that its seeds are as far apart
    physically as on the training data; None when the model's voxel size is unknown.

    Example::

        model_length_unit([0.5, 0.25, 0.25], 3)   # -> 0.25
    """
    if model_voxel_size is None:
        return None
    return float(min(list(model_voxel_size)[-spatial_ndim:]))
