"""Residual blocks of the residual U-Nets (Lee et al., 2017), with and without squeeze-and-excitation."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from monai.networks.layers import Act, Conv

from unet3d_monai.networks.conv_block import conv_unit_pair
from unet3d_monai.networks.layer_order import NONLINEARITY_LETTERS
from unet3d_monai.networks.se import ChannelSpatialSELayer

__all__ = ["ResNetBlock", "ResNetBlockSE"]

# the non-linearity applied after the residual sum: (MONAI factory key, constructor arguments), by letter;
# like pytorch-3dunet, LeakyReLU uses slope 0.1 here and ReLU is used when the order names no non-linearity
_RESIDUAL_NONLINEARITIES: dict[str, tuple[str, dict]] = {
    "l": (Act.LEAKYRELU, {"negative_slope": 0.1}),
    "e": (Act.ELU, {}),
    "r": (Act.RELU, {}),
}


def _residual_nonlinearity(layer_order: str) -> nn.Module:
    for letter, (act_type, act_args) in _RESIDUAL_NONLINEARITIES.items():
        if letter in layer_order:
            return Act[act_type](inplace=True, **act_args)
    return Act[Act.RELU](inplace=True)


class ResNetBlock(nn.Module):
    """Residual block: ``conv1`` (1x1 projection when the channel count changes, else identity), then two
    convolution units ``conv2`` and ``conv3`` (the second without its non-linearity), the residual sum and a
    non-linearity.

    Shapes: input ``(B, in_channels, *spatial)``, output ``(B, out_channels, *spatial)``: the convolutions must
    keep the spatial size (``padding == (kernel_size - 1) // 2`` with an odd kernel). With kernel 3 the block
    sees a 5-voxel neighbourhood per dimension.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: convolution kernel size, an int or one value per spatial dimension.
        layer_order: letters naming the layers of each unit, see :mod:`unet3d_monai.networks.layer_order`.
        num_groups: GroupNorm groups (1 group when a layer has fewer channels).
        padding: convolution zero-padding, an int or one value per spatial dimension.
        dropout_prob: dropout probability, or a pair with one probability per unit.
        spatial_dims: 2 or 3.

    Example::

        >>> block = ResNetBlock(1, 8, num_groups=4)
        >>> block(torch.rand(1, 1, 8, 8, 8)).shape
        torch.Size([1, 8, 8, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int] = 3,
        layer_order: str = "gcr",
        num_groups: int = 8,
        padding: int | Sequence[int] = 1,
        dropout_prob: float | Sequence[float] = 0.1,
        spatial_dims: int = 3,
    ) -> None:
        super().__init__()
        if in_channels != out_channels:
            self.conv1: nn.Module = Conv[Conv.CONV, spatial_dims](in_channels, out_channels, kernel_size=1)
        else:
            self.conv1 = nn.Identity()
        # the second unit has no non-linearity: it is applied after the residual sum
        linear_order = "".join(letter for letter in layer_order if letter not in NONLINEARITY_LETTERS)
        self.conv2, self.conv3 = conv_unit_pair(
            out_channels,
            out_channels,
            out_channels,
            kernel_size,
            (layer_order, linear_order),
            num_groups,
            padding,
            dropout_prob,
            spatial_dims,
        )
        self.non_linearity = _residual_nonlinearity(layer_order)
        self._add_attention(out_channels, spatial_dims)

    def _add_attention(self, channels: int, spatial_dims: int) -> None:
        """Add the modules that act on the block's output (none here; squeeze-and-excitation in a subclass)."""

    def residual_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The block without squeeze-and-excitation: ``non_linearity(conv3(conv2(conv1(x))) + conv1(x))``."""
        residual = self.conv1(x)
        out = self.conv3(self.conv2(residual))
        return self.non_linearity(out + residual)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.residual_forward(x)


class ResNetBlockSE(ResNetBlock):
    """``ResNetBlock`` followed by concurrent channel and spatial squeeze-and-excitation (``se_module``, reduction
    ratio 1, branches combined by the element-wise maximum).

    Shapes: input ``(B, in_channels, *spatial)``, output ``(B, out_channels, *spatial)``. The channel branch
    averages over the whole spatial extent, so every output voxel depends on every input voxel.

    Args: as :class:`ResNetBlock`.

    Example::

        >>> block = ResNetBlockSE(1, 8, num_groups=4)
        >>> block(torch.rand(1, 1, 8, 8, 8)).shape
        torch.Size([1, 8, 8, 8, 8])
    """

    def _add_attention(self, channels: int, spatial_dims: int) -> None:
        self.se_module = ChannelSpatialSELayer(channels, reduction_ratio=1, spatial_dims=spatial_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se_module(self.residual_forward(x))
