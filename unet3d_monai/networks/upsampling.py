"""Decoder upsampling: interpolation, or a transposed convolution, to the size of the encoder features."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from monai.networks.layers import Conv
from monai.utils import ensure_tuple_rep

__all__ = ["InterpolateUpsampling", "TransposeConvUpsampling"]


class InterpolateUpsampling(nn.Module):
    """Resize the decoder features to the spatial size of the encoder features by interpolation.

    Shapes: ``forward(encoder_features (B, C_enc, *size), x (B, C, *small))`` returns ``(B, C, *size)``; any
    ratio between the sizes works (anisotropic pooling, odd sizes).

    Args:
        mode: ``'nearest'``, ``'bilinear'`` (2D) or ``'trilinear'`` (3D), as in ``torch.nn.functional.interpolate``.

    Example::

        >>> up = InterpolateUpsampling("nearest")
        >>> up(torch.rand(1, 4, 9, 10, 10), torch.rand(1, 8, 4, 5, 5)).shape
        torch.Size([1, 8, 9, 10, 10])
    """

    def __init__(self, mode: str = "nearest") -> None:
        super().__init__()
        self.mode = mode

    def forward(self, encoder_features: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, size=encoder_features.shape[2:], mode=self.mode)


class TransposeConvUpsampling(nn.Module):
    """Learnt upsampling: a transposed convolution with the pooling kernel as stride (``upsample.conv_transposed``,
    no bias), then nearest-neighbour resizing to the exact size of the encoder features.

    Shapes: ``forward(encoder_features (B, C_enc, *size), x (B, in_channels, *small))`` returns
    ``(B, out_channels, *size)``.

    Args:
        in_channels: channels of ``x``.
        out_channels: channels of the output.
        kernel_size: kernel of the transposed convolution, an int or one value per spatial dimension; the padding
            is ``(kernel_size - 1) // 2`` (1 for the usual kernel 3, as in pytorch-3dunet).
        stride: upsampling factor, the pooling kernel of the matching encoder level.
        spatial_dims: 2 or 3.

    Example::

        >>> up = TransposeConvUpsampling(16, 8, kernel_size=3, stride=(1, 2, 2))
        >>> up(torch.rand(1, 8, 5, 9, 9), torch.rand(1, 16, 5, 4, 4)).shape
        torch.Size([1, 8, 5, 9, 9])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int] = 3,
        stride: int | Sequence[int] = 2,
        spatial_dims: int = 3,
    ) -> None:
        super().__init__()
        kernel = ensure_tuple_rep(kernel_size, spatial_dims)
        padding = tuple((k - 1) // 2 for k in kernel)
        conv_transposed = Conv[Conv.CONVTRANS, spatial_dims](
            in_channels, out_channels, kernel_size=kernel, stride=stride, padding=padding, bias=False
        )
        self.upsample = nn.Sequential(OrderedDict(conv_transposed=conv_transposed))

    def forward(self, encoder_features: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(self.upsample(x), size=encoder_features.shape[2:], mode="nearest")
