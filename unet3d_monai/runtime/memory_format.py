"""The channels-last memory format for 3D networks on CPUs."""

from __future__ import annotations

import torch
from torch import nn

from unet3d_monai.networks.inspection import network_spatial_dims

__all__ = ["is_channels_last_3d", "to_channels_last_3d"]


def _telling_weight(network: nn.Module) -> torch.Tensor | None:
    """The first 5D convolution weight whose memory layout tells the formats apart: with one input channel or a
    1x1x1 kernel a tensor is contiguous in both formats at once."""
    for module in network.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            weight = module.weight
            if weight.ndim == 5 and weight.shape[1] > 1 and weight.shape[2:].numel() > 1:
                return weight
    return None


def to_channels_last_3d(network: nn.Module) -> nn.Module:
    """Store the 5D weights of a 3D network channels-last (``torch.channels_last_3d``), in place.

    oneDNN's convolutions on CPUs are fastest on ``(N, Z, Y, X, C)`` data in memory; given channels-last weights
    they compute in that layout whatever the input's layout, and their outputs, and so every following layer, stay
    channels-last. The tensors' shapes, values and the network's results are unchanged (to float rounding):
    only the order of the numbers in memory differs. A 2D network is returned unchanged.

    Example:
        >>> net = to_channels_last_3d(torch.nn.Conv3d(2, 4, 3))
        >>> net.weight.is_contiguous(memory_format=torch.channels_last_3d), tuple(net.weight.shape)
        (True, (4, 2, 3, 3, 3))
    """
    if network_spatial_dims(network) == 3:
        network.to(memory_format=torch.channels_last_3d)
    return network


def is_channels_last_3d(network: nn.Module) -> bool:
    """Whether the network's 3D convolution weights are stored channels-last (False for a 2D network).

    Example:
        >>> is_channels_last_3d(torch.nn.Conv3d(2, 4, 3))
        False
    """
    weight = _telling_weight(network)
    return weight is not None and weight.is_contiguous(memory_format=torch.channels_last_3d)
