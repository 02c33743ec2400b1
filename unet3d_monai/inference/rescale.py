"""Prediction at the model's voxel size: inputs of another voxel size are resampled to it, and the predictions back
to the input's grid, with MONAI's ``Resize``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from monai.transforms import Resize

__all__ = ["RESCALE_TOLERANCE", "model_grid_shape", "rescale_factors", "to_input_grid", "to_model_grid"]

# voxel sizes within 5% of the model's are predicted as they are
RESCALE_TOLERANCE = 0.05


def rescale_factors(
    input_voxel_size: Sequence[float] | None,
    model_voxel_size: Sequence[float] | None,
    spatial_dims: int = 3,
    tolerance: float = RESCALE_TOLERANCE,
) -> tuple[float, ...] | None:
    """How much each axis grows from the input's grid to the model's (``input / model``), or None when no
    resampling is needed: a voxel size is unknown, or every axis is within ``tolerance`` of the model's.

    Sizes are matched from the last axis; a 2D network (``spatial_dims=2``) never resamples the slice axis.

    Example:
        >>> rescale_factors([1.0, 0.5, 0.5], [1.0, 0.25, 0.25])
        (1.0, 2.0, 2.0)
    """
    if input_voxel_size is None or model_voxel_size is None:
        return None
    count = min(len(input_voxel_size), len(model_voxel_size), spatial_dims)
    factors = [1.0] * (3 - count) + [
        float(i) / float(m) for i, m in zip(input_voxel_size[-count:], model_voxel_size[-count:])
    ]
    if all(abs(f - 1.0) <= tolerance for f in factors):
        return None
    return tuple(factors)


def model_grid_shape(spatial_shape: Sequence[int], factors: Sequence[float]) -> tuple[int, ...]:
    """The spatial shape of a volume of ``spatial_shape`` resampled by ``factors`` (each axis rounded, at least 1).

    Example:
        >>> model_grid_shape((10, 20, 30), (2.0, 1.5, 0.5))
        (20, 30, 15)
    """
    return tuple(max(1, round(int(s) * float(f))) for s, f in zip(spatial_shape, factors))


def to_model_grid(volume: np.ndarray | torch.Tensor, factors: Sequence[float]) -> torch.Tensor:
    """``volume`` ``(C, Z, Y, X)`` resampled by ``factors`` (trilinear) to :func:`model_grid_shape`."""
    tensor = torch.as_tensor(volume, dtype=torch.float32)
    shape = list(model_grid_shape(tensor.shape[1:], factors))
    resized = Resize(spatial_size=shape, mode="trilinear", anti_aliasing=False)(tensor)
    return torch.as_tensor(resized, dtype=torch.float32)


def to_input_grid(predictions: np.ndarray | torch.Tensor, spatial_shape: Sequence[int]) -> torch.Tensor:
    """``predictions`` ``(C, Z', Y', X')`` resampled onto the input's grid ``spatial_shape`` (trilinear)."""
    tensor = torch.as_tensor(predictions, dtype=torch.float32)
    resized = Resize(spatial_size=[int(s) for s in spatial_shape], mode="trilinear", anti_aliasing=False)(tensor)
    return torch.as_tensor(resized, dtype=torch.float32)
