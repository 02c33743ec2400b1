"""The voxel size an input's instance segmentation is measured in: read from the input file, checked against the
predictions' spatial axes."""

from __future__ import annotations

import logging
from os import PathLike

from unet3d_monai.data.voxel_size import read_voxel_size

__all__ = ["ANISOTROPY_NOTICE", "input_sampling"]

logger = logging.getLogger(__name__)

#: the ratio of the coarsest to the finest axis from which the voxel size used by the segmentation is logged
ANISOTROPY_NOTICE = 1.5


def input_sampling(path: str | PathLike, raw_key: str, spatial_ndim: int) -> tuple[float, ...] | None:
    """The voxel size of the input ``path`` (dataset ``raw_key``; see
    :func:`~unet3d_monai.data.voxel_size.read_voxel_size`) as the ``sampling`` of the segmentation of its predictions,
    which are on the input's grid and have ``spatial_ndim`` spatial axes (in the order of the input's array:
    ``(Z, Y, X)`` for HDF5/zarr, ``(X, Y, Z)`` for NIfTI).

    None (voxels treated as cubes) when the file does not say, or gives a voxel size for another number of axes (a
    multi-channel 2D image stored as ``(C, Y, X)``). One line is logged when the coarsest axis is more than
    :data:`ANISOTROPY_NOTICE` times the finest.

    Example::

        input_sampling("stack.h5", "raw", 3)   # -> (2.0, 0.25, 0.25) for element_size_um = [2, 0.25, 0.25]
    """
    voxel_size, source = read_voxel_size(path, raw_key)
    if voxel_size is None or len(voxel_size) != spatial_ndim:
        return None
    ratio = max(voxel_size) / min(voxel_size)
    if ratio > ANISOTROPY_NOTICE:
        logger.info(
            "Segmenting %s with its voxel size %s (%s, %.3g times coarser on the coarsest axis): distances and "
            "min_distance in voxels of the finest axis.",
            path,
            list(voxel_size),
            source,
            ratio,
        )
    return voxel_size
