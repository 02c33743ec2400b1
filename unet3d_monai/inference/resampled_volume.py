"""A volume read on another grid, region by region: trilinear resampling equal to resampling it whole.

MONAI's ``Resize(mode="trilinear")`` (what :func:`~unet3d_monai.inference.rescale.to_model_grid` and
:func:`~unet3d_monai.inference.rescale.to_input_grid` run) calls ``torch.nn.functional.interpolate`` with
``align_corners=False``: along an axis resampled from ``n`` to ``m`` voxels, output voxel ``j`` reads the input at
``(j + 0.5) * n / m - 0.5`` (clamped to the axis), between two neighbouring voxels. Every output voxel thus depends on
two input voxels per axis, so a region of the output needs only a region of the input (:func:`source_region`), and
resampling that region (:func:`resample_region`) gives the values the whole volume's resampling has there, to float
rounding. Block-wise prediction reads its blocks this way on the model's grid, and writes its output blocks back on
the input's grid, without ever holding a whole volume.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from unet3d_monai.inference.splitter import RegionSource
from unet3d_monai.io.region import Region

__all__ = ["ResampledVolume", "linear_taps", "resample_region", "source_region"]


def linear_taps(start: int, stop: int, in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For output voxels ``start..stop-1`` of an axis resampled from ``in_size`` to ``out_size`` voxels: the two input
    voxels each one interpolates, and the weight of the second (``torch.nn.functional.interpolate``'s linear
    interpolation with ``align_corners=False``, computed in float32 like it).

    Example:
        >>> low, high, weight = linear_taps(0, 4, 2, 4)
        >>> low.tolist(), high.tolist(), weight.tolist()
        ([0, 0, 0, 1], [1, 1, 1, 1], [0.0, 0.25, 0.75, 0.25])
    """
    scale = np.float32(in_size) / np.float32(out_size)
    position = scale * (np.arange(start, stop, dtype=np.float32) + np.float32(0.5)) - np.float32(0.5)
    position = np.maximum(position, np.float32(0.0))
    low = np.minimum(np.floor(position).astype(np.int64), in_size - 1)
    weight = np.clip(position - low.astype(np.float32), np.float32(0.0), np.float32(1.0))
    high = np.where(low < in_size - 1, low + 1, low)
    return low, high, weight


def source_region(region: Region, in_shape: Sequence[int], out_shape: Sequence[int]) -> Region:
    """The region of the input grid ``in_shape`` that the output region ``region`` of grid ``out_shape`` reads.

    Example:
        >>> source_region((slice(2, 4),), (10,), (20,))
        (slice(0, 3, None),)
    """
    needed = []
    for r, n, m in zip(region, in_shape, out_shape):
        low, high, _ = linear_taps(r.start, r.stop, int(n), int(m))
        needed.append(slice(int(low.min()), int(high.max()) + 1))
    return tuple(needed)


def resample_region(
    data: torch.Tensor, source: Region, region: Region, in_shape: Sequence[int], out_shape: Sequence[int]
) -> torch.Tensor:
    """The output region ``region`` ``(C, *region)`` of the volume of grid ``in_shape`` resampled to ``out_shape``,
    computed from ``data`` ``(C, *source)``: the input over ``source``, which must hold :func:`source_region`.

    Each axis is interpolated in turn (trilinear interpolation is separable).

    Example:
        >>> ramp = torch.arange(10.0).reshape(1, 10)
        >>> resample_region(ramp[:, 0:3], (slice(0, 3),), (slice(2, 4),), (10,), (20,))
        tensor([[0.7500, 1.2500]])
    """
    out = torch.as_tensor(data, dtype=torch.float32)
    for axis, (s, r, n, m) in enumerate(zip(source, region, in_shape, out_shape)):
        if int(n) == int(m) and s.start == r.start and s.stop == r.stop:
            continue
        low, high, weight = linear_taps(r.start, r.stop, int(n), int(m))
        if low.min() < s.start or high.max() >= s.stop:
            raise ValueError(f"Region {source} does not hold the input that region {region} reads (axis {axis}).")
        dim = axis + 1
        shape = [1] * out.ndim
        shape[dim] = len(weight)
        w = torch.from_numpy(weight).reshape(shape)
        first = out.index_select(dim, torch.from_numpy(low - s.start))
        second = out.index_select(dim, torch.from_numpy(high - s.start))
        out = first * (1 - w) + second * w
    return out


class ResampledVolume:
    """A volume ``(C, *spatial_shape)``: ``source`` (a :class:`~unet3d_monai.inference.splitter.RegionSource`
    ``(C, Z, Y, X)``) resampled trilinearly to ``spatial_shape``, read region by region; a region equals the same
    region of MONAI's ``Resize(spatial_shape, mode="trilinear")`` of the whole source (to float rounding).

    Example::

        with HDF5Volume("stack.h5", "raw") as volume:                  # (1, 40, 100, 100) at 1.0 x 0.5 x 0.5 um
            on_model_grid = ResampledVolume(volume, (40, 50, 50))      # the model's 1 um voxels
            block = on_model_grid.read((slice(0, 16), slice(0, 32), slice(0, 32)))   # (1, 16, 32, 32)
    """

    def __init__(self, source: RegionSource, spatial_shape: Sequence[int]) -> None:
        self.source = source
        self.source_shape = tuple(int(s) for s in source.shape[1:])
        spatial = tuple(int(s) for s in spatial_shape)
        if len(spatial) != len(self.source_shape) or min(spatial) < 1:
            raise ValueError(f"spatial_shape {tuple(spatial_shape)} must hold {len(self.source_shape)} positive sizes.")
        self.shape = (int(source.shape[0]), *spatial)

    def read(self, region: Region) -> np.ndarray:
        """float32 array ``(C, *region)`` of the resampled volume."""
        region = tuple(slice(*r.indices(s)) for r, s in zip(region, self.shape[1:]))
        needed = source_region(region, self.source_shape, self.shape[1:])
        data = torch.from_numpy(np.ascontiguousarray(self.source.read(needed), dtype=np.float32))
        return resample_region(data, needed, region, self.source_shape, self.shape[1:]).numpy()
