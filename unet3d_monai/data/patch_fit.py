"""Training patches fitted to the training volumes: never larger than the smallest volume along any axis."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from os import PathLike

from unet3d_monai.data.patches import check_patch_size
from unet3d_monai.io.files import find_h5_files, get_h5_dataset, open_h5
from unet3d_monai.io.reader import volume_layout

__all__ = ["fit_patch_size"]

logger = logging.getLogger(__name__)


def fit_patch_size(
    patch_size: Sequence[int],
    files: str | PathLike | Sequence[str | PathLike],
    raw_key: str = "raw",
    min_size: Sequence[int] | int = 1,
) -> list[int]:
    """``patch_size`` clipped to the smallest training volume along each axis, but not below ``min_size``.

    A patch larger than a volume would be filled with padding, and the network would learn from (and its
    normalisation layers would normalise over) voxels that no real volume has. Only the shapes are read.
    A 2D patch ``(Y, X)`` fits volumes stored ``(1, Y, X)``.

    Args:
        patch_size: the requested patch, ``(Z, Y, X)`` or ``(Y, X)``.
        files: the training files (a file, a folder, a glob or a list).
        raw_key: the HDF5 dataset whose shape counts.
        min_size: the smallest patch per axis (the network's minimum input); an axis of a volume shorter than
            that keeps ``min_size`` and its patches are padded by the dataset.

    Example::

        fit_patch_size([32, 96, 96], "data/train")   # -> [32, 45, 96] when the narrowest volume is 45 wide
    """
    patch = check_patch_size(patch_size, "patch_size")
    minimum = check_patch_size(
        [min_size] * len(patch) if isinstance(min_size, int) else min_size, "min_size", len(patch)
    )
    smallest: list[int] | None = None
    for path in find_h5_files(files):
        with open_h5(path) as f:
            layout = volume_layout(get_h5_dataset(f, raw_key).shape, path, raw_key)
        spatial = tuple(layout.spatial_shape)
        if len(patch) == 2 and len(spatial) == 3 and spatial[0] == 1:
            spatial = spatial[1:]
        if len(spatial) != len(patch):
            raise ValueError(
                f"patch_size {tuple(patch)} has {len(patch)} dimensions but HDF5 file '{path}' dataset '{raw_key}' "
                f"has spatial shape {spatial}."
            )
        smallest = list(spatial) if smallest is None else [min(a, b) for a, b in zip(smallest, spatial)]
    fitted = [max(min(p, s), m) for p, s, m in zip(patch, smallest, minimum)]
    if fitted != list(patch):
        logger.warning(
            "patch_size %s is larger than the smallest training volume %s along some axis: training with patches of "
            "%s.",
            list(patch),
            smallest,
            fitted,
        )
    return fitted
