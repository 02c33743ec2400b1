"""Room on disk for the predictions of a run, checked before the first window is computed."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from os import PathLike

import numpy as np

from unet3d_monai.inference.chunked_volume import channel_first_shape
from unet3d_monai.inference.volumes import is_nifti
from unet3d_monai.inference.zarr_store import ZarrVolume, is_zarr
from unet3d_monai.io.files import get_h5_dataset, open_h5
from unet3d_monai.io.locations import check_free_space, check_writable_folder
from unet3d_monai.io.writers import OutputDtype

__all__ = ["check_prediction_space", "prediction_bytes"]


def prediction_bytes(
    path: str | PathLike,
    raw_key: str,
    out_channels: int,
    output_dtype: OutputDtype | str,
    channels_first_3d: bool = False,
    blockwise: Callable[[Sequence[int]], bool] | bool = False,
    block_grid: Callable[[str | PathLike, Sequence[int]], Sequence[int] | None] | None = None,
) -> tuple[int, int]:
    """Disk space the prediction of one HDF5 input takes: ``(output bytes, block-wise accumulator bytes)``.

    The ``predictions`` dataset is stored uncompressed, ``out_channels`` values per voxel of ``output_dtype``;
    block-wise prediction also keeps float32 weighted sums and weights next to it until the volume is done
    (``blockwise`` says whether it will, given the spatial shape), over the grid it predicts on:
    ``block_grid(path, spatial)``, e.g. the model's grid of an input of another voxel size, where the predictions are
    also kept in float32 until they are written back on the input's grid (None: the input's grid). NIfTI outputs are
    gzip-compressed and give ``(0, 0)``, like the gzip-compressed ``segmentation`` dataset, whose size cannot be known
    in advance.

    Example::

        prediction_bytes("cells.h5", "raw", out_channels=1, output_dtype="float32")   # (4 * Z * Y * X, 0)
    """
    if is_nifti(path):
        return 0, 0
    if is_zarr(path):
        stored = ZarrVolume(path, raw_key, "none").stored_shape
        name = f"zarr store '{path}' array '{raw_key}'"
    else:
        with open_h5(path) as f:
            stored = get_h5_dataset(f, raw_key).shape
        name = f"HDF5 file '{path}' dataset '{raw_key}'"
    spatial = channel_first_shape(stored, name, channels_first_3d)[1:]
    voxels = math.prod(spatial) * int(out_channels)
    itemsize = np.dtype(OutputDtype(output_dtype).value).itemsize
    uses_blocks = blockwise(spatial) if callable(blockwise) else bool(blockwise)
    if not uses_blocks:
        return voxels * itemsize, 0
    grid = None if block_grid is None else block_grid(path, spatial)
    grid_voxels = math.prod(spatial if grid is None else grid)
    # block-wise partials: weighted sums and weights in float32, over blocks with their halos
    extra = (grid_voxels * int(out_channels) + grid_voxels) * 4
    if grid is not None and tuple(grid) != tuple(spatial):
        extra += grid_voxels * int(out_channels) * 4  # the predictions on the model's grid
    return voxels * itemsize, extra


def check_prediction_space(
    output_dir: str | PathLike,
    inputs: Sequence[str | PathLike],
    raw_key: str,
    out_channels: int,
    output_dtype: OutputDtype | str,
    channels_first_3d: bool = False,
    blockwise: Callable[[Sequence[int]], bool] | bool = False,
    what: str = "output_dir",
    block_grid: Callable[[str | PathLike, Sequence[int]], Sequence[int] | None] | None = None,
) -> int:
    """Fail with one sentence before predicting ``inputs`` when ``output_dir`` cannot be written or lacks the room.

    The room needed is every output (they stay) plus the largest block-wise accumulator (each is deleted when its
    volume is done); see :func:`prediction_bytes`.

    Returns:
        the bytes needed.

    Raises:
        NotADirectoryError, PermissionError: the folder cannot be written.
        OSError: not enough free space.
    """
    check_writable_folder(output_dir, what)
    sizes = [
        prediction_bytes(p, raw_key, out_channels, output_dtype, channels_first_3d, blockwise, block_grid)
        for p in inputs
    ]
    needed = sum(size for size, _ in sizes) + max((extra for _, extra in sizes), default=0)
    count = len(sizes)
    check_free_space(output_dir, needed, what, f"predicting {count} volume{'s' if count != 1 else ''}")
    return needed
