"""One level of the U-Net's expanding path: upsampling, joining with the encoder features, then a basic block."""

from __future__ import annotations

import torch
import torch.nn as nn

__all__ = ["Decoder"]


class Decoder(nn.Module):
    """Decoder level: ``upsampling`` to the encoder features' size, joining, then ``basic_module``.

    Joining is either concatenation along the channels (encoder features first, as in pytorch-3dunet's plain
    U-Net) or an element-wise sum (its residual U-Nets, whose upsampling already maps to the encoder's channels).

    Shapes: ``forward(encoder_features (B, C_enc, *size), x (B, C, *small))`` returns ``(B, C_out, *size)``; the
    basic block's input has ``C_enc + C_up`` channels when concatenating, ``C_enc`` when summing, where ``C_up`` is
    the number of channels the upsampling produces.

    Args:
        upsampling: an ``InterpolateUpsampling`` or ``TransposeConvUpsampling``.
        basic_module: the block applied after joining.
        concat: concatenate (``True``) or sum (``False``) the encoder features and the upsampled features.

    Example::

        >>> level = Decoder(InterpolateUpsampling("nearest"), DoubleConv(24, 8, encoder=False, num_groups=4), True)
        >>> level(torch.rand(1, 8, 9, 9, 9), torch.rand(1, 16, 4, 4, 4)).shape
        torch.Size([1, 8, 9, 9, 9])
    """

    def __init__(self, upsampling: nn.Module, basic_module: nn.Module, concat: bool) -> None:
        super().__init__()
        self.upsampling = upsampling
        self.basic_module = basic_module
        self.concat = concat

    def forward(self, encoder_features: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        x = self.upsampling(encoder_features, x)
        if self.concat:
            x = torch.cat((encoder_features, x), dim=1)
        else:
            x = encoder_features + x
        return self.basic_module(x)
