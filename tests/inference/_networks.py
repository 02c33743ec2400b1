"""Tiny networks for the inference tests (each with ``final_activation``, as the package's networks)."""

from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    """Two convolutions, ``in_channels -> 4 -> out_channels``; 2D or 3D; logits out."""

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        spatial_dims: int = 3,
        activation: str = "sigmoid",
        seed: int = 0,
    ) -> None:
        super().__init__()
        conv = nn.Conv3d if spatial_dims == 3 else nn.Conv2d
        generator = torch.Generator().manual_seed(seed)
        self.first = conv(in_channels, 4, 3, padding=1)
        self.second = conv(4, out_channels, 3, padding=1)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.5)
        self.final_activation = {"sigmoid": nn.Sigmoid(), "softmax": nn.Softmax(dim=1), "identity": nn.Identity()}[
            activation
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.second(torch.relu(self.first(x)))


class CopyNet(nn.Module):
    """Returns its input (a 1x1x1 convolution with weight 1): blending copies of the input must give the input."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(1, 1, 1)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
            self.conv.bias.zero_()
        self.final_activation = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)
