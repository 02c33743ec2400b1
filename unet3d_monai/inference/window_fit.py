"""Sliding windows fitted to the volume: never larger than the volume, padded only to the network's minimum size.

A window that extends beyond the volume is filled with padding, and the normalisation layers of the network
(GroupNorm, BatchNorm in eval mode with batch statistics, instance norms) then normalise over mostly padding:
the probabilities of a thin slab predicted with a window twice its depth collapse. The rule here is that a
window is clipped to the volume along every axis where the volume is at least as large as the network's
minimum input (the product of its pooling strides), and only an axis smaller than that minimum is padded, by
reflection, up to the minimum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

__all__ = ["find_network", "fit_window", "network_min_window", "reflect_pad"]

_POOLS = (nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool2d, nn.AvgPool3d)


def find_network(network: Any) -> nn.Module | None:
    """The network behind a callable: the ``network`` of a wrapper (a window predictor, the out-of-memory fallback
    around it), unwrapped again, or the module itself."""
    inner = getattr(network, "network", None)
    if isinstance(inner, nn.Module) and inner is not network:
        return find_network(inner)
    return network if isinstance(network, nn.Module) else None


def network_min_window(network: nn.Module) -> tuple[int, ...]:
    """The smallest input a U-Net accepts along each spatial axis: the product of its pooling strides.

    The package's networks state it (``min_input_size``, which also counts unpadded convolutions); for other
    networks every pooling layer divides the size by its stride; the deepest level needs at least one voxel, so an input
    smaller than the product of the strides along an axis cannot pass. A 3D network gives three sizes, a 2D
    network two; a network without pooling gives ones.

    Example:
        >>> from unet3d_monai.networks import UNet3D
        >>> network_min_window(UNet3D(1, 1, f_maps=8, num_levels=3, pool_kernel_size=(1, 2, 2)))
        (1, 4, 4)
    """
    recorded_minimum = getattr(network, "min_input_size", None)
    if recorded_minimum is not None:
        return tuple(int(m) for m in recorded_minimum)
    spatial_dims = None
    strides: list[tuple[int, ...]] = []
    for module in network.modules():
        if isinstance(module, (nn.Conv2d, nn.Conv3d)) and spatial_dims is None:
            spatial_dims = 3 if isinstance(module, nn.Conv3d) else 2
        if isinstance(module, _POOLS):
            dims = 3 if isinstance(module, (nn.MaxPool3d, nn.AvgPool3d)) else 2
            stride = module.stride if module.stride is not None else module.kernel_size
            strides.append(tuple(stride) if isinstance(stride, Sequence) else (int(stride),) * dims)
    spatial_dims = spatial_dims or (len(strides[0]) if strides else 3)
    return tuple(math.prod(s[axis] for s in strides) for axis in range(spatial_dims))


def fit_window(
    roi_size: Sequence[int], spatial_shape: Sequence[int], min_window: Sequence[int] | None = None
) -> tuple[int, ...]:
    """The window to use on a volume: ``roi_size`` clipped to the volume, but never below ``min_window``.

    Along an axis where the volume is at least ``min_window`` the window is ``min(roi, size)``; along a shorter
    axis it is ``min_window`` (the volume is then padded up to it). ``min_window`` may have one size fewer than
    ``roi_size`` (a 2D network sliding over a ``(Z, Y, X)`` volume): its depth is then 1.

    Example:
        >>> fit_window((80, 170, 170), (48, 128, 300), (16, 16, 16))
        (48, 128, 170)
        >>> fit_window((32, 64, 64), (8, 100, 100), (16, 16, 16))
        (16, 64, 64)
    """
    roi = tuple(int(r) for r in roi_size)
    shape = tuple(int(s) for s in spatial_shape)
    if len(roi) != len(shape):
        raise ValueError(f"roi_size {roi} and the volume's spatial shape {shape} have different dimensions.")
    minimum = (1,) * len(roi) if min_window is None else tuple(int(m) for m in min_window)
    if len(minimum) == len(roi) - 1:
        minimum = (1, *minimum)
    if len(minimum) != len(roi):
        raise ValueError(f"min_window {minimum} does not match roi_size {roi}.")
    return tuple(max(min(r, s), m) if s >= m else m for r, s, m in zip(roi, shape, minimum))


def reflect_pad(inputs: torch.Tensor, window: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
    """Pad the spatial axes of ``(B, C, *spatial)`` at their end up to ``window``: reflection where the axis is
    long enough for it, edge replication otherwise. Returns the padded tensor and the padding per axis."""
    spatial = inputs.shape[2:]
    extra = [max(w - s, 0) for w, s in zip(window, spatial)]
    for axis, amount in enumerate(extra):
        dim = 2 + axis
        while amount > 0:  # reflection needs pad < size; repeat it for very short axes
            current = inputs.shape[dim]
            step = min(amount, current - 1) if current > 1 else 0
            if step == 0:
                reps = [1] * inputs.ndim
                reps[dim] = amount + 1
                inputs = inputs.narrow(dim, 0, 1).repeat(*reps).narrow(dim, 0, amount + current)
                break
            tail = inputs.narrow(dim, current - 1 - step, step).flip(dim)
            inputs = torch.cat([inputs, tail], dim=dim)
            amount -= step
    return inputs, extra
