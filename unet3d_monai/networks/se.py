"""Squeeze-and-excitation layers with pytorch-3dunet's parameter names (``cSE.fc1``, ``cSE.fc2``, ``sSE.conv``).

MONAI's ``ChannelSELayer`` computes the same channel excitation but names its parameters ``fc.0`` / ``fc.2``, so
pytorch-3dunet checkpoints could not load into it; these layers keep the seed's names.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from monai.networks.layers import Act, Conv, Pool

__all__ = ["ChannelSELayer", "SpatialSELayer", "ChannelSpatialSELayer"]


class ChannelSELayer(nn.Module):
    """Channel squeeze and excitation (Hu et al., 2018): rescale each channel by a weight learnt from its mean.

    Shapes: input and output ``(B, num_channels, *spatial)``; the weights depend on the whole spatial extent.

    Args:
        num_channels: channels of the input.
        reduction_ratio: the hidden layer has ``num_channels // reduction_ratio`` units.
        spatial_dims: 2 or 3.

    Example::

        >>> layer = ChannelSELayer(8, reduction_ratio=2)
        >>> layer(torch.rand(2, 8, 4, 4, 4)).shape
        torch.Size([2, 8, 4, 4, 4])
    """

    def __init__(self, num_channels: int, reduction_ratio: int = 2, spatial_dims: int = 3) -> None:
        super().__init__()
        reduced_channels = num_channels // reduction_ratio
        if reduced_channels < 1:
            raise ValueError(
                f"reduction_ratio={reduction_ratio} leaves no hidden unit for {num_channels} channels; "
                "it must not exceed the number of channels."
            )
        self.spatial_dims = spatial_dims
        self.avg_pool = Pool[Pool.ADAPTIVEAVG, spatial_dims](1)
        self.fc1 = nn.Linear(num_channels, reduced_channels, bias=True)
        self.fc2 = nn.Linear(reduced_channels, num_channels, bias=True)
        self.relu = Act[Act.RELU]()
        self.sigmoid = Act[Act.SIGMOID]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = self.avg_pool(x).flatten(1)
        weights = self.sigmoid(self.fc2(self.relu(self.fc1(squeezed))))
        for _ in range(self.spatial_dims):
            weights = weights.unsqueeze(-1)
        return x * weights


class SpatialSELayer(nn.Module):
    """Spatial squeeze and excitation (Roy et al., 2018): rescale each voxel by a weight from a 1x1 convolution.

    Shapes: input and output ``(B, num_channels, *spatial)``.

    Args:
        num_channels: channels of the input.
        spatial_dims: 2 or 3.

    Example::

        >>> layer = SpatialSELayer(8)
        >>> layer(torch.rand(2, 8, 4, 4, 4)).shape
        torch.Size([2, 8, 4, 4, 4])
    """

    def __init__(self, num_channels: int, spatial_dims: int = 3) -> None:
        super().__init__()
        self.conv = Conv[Conv.CONV, spatial_dims](num_channels, 1, kernel_size=1)
        self.sigmoid = Act[Act.SIGMOID]()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.sigmoid(self.conv(x))


class ChannelSpatialSELayer(nn.Module):
    """Concurrent channel and spatial squeeze and excitation, combined by the element-wise maximum.

    Shapes: input and output ``(B, num_channels, *spatial)``.

    Args:
        num_channels: channels of the input.
        reduction_ratio: reduction of the channel branch's hidden layer (pytorch-3dunet's residual blocks use 1).
        spatial_dims: 2 or 3.

    Example::

        >>> layer = ChannelSpatialSELayer(8, reduction_ratio=1)
        >>> layer(torch.rand(2, 8, 4, 4, 4)).shape
        torch.Size([2, 8, 4, 4, 4])
    """

    def __init__(self, num_channels: int, reduction_ratio: int = 2, spatial_dims: int = 3) -> None:
        super().__init__()
        self.cSE = ChannelSELayer(num_channels, reduction_ratio, spatial_dims)
        self.sSE = SpatialSELayer(num_channels, spatial_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.maximum(self.cSE(x), self.sSE(x))
