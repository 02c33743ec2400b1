"""One level of the U-Net's contracting path: max pooling (except at the top level), then a basic block."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from monai.networks.layers import Pool

__all__ = ["Encoder"]


class Encoder(nn.Module):
    """Encoder level: ``pooling`` (max pooling, or identity at the top level) followed by ``basic_module``.

    Shapes: input ``(B, C_in, *spatial)``, output ``(B, C_out, *spatial // pool_kernel_size)`` (floor division;
    the basic block decides ``C_out`` and may shrink the size further when its convolutions are unpadded).

    Args:
        basic_module: the block applied after pooling (``DoubleConv``, ``ResNetBlock`` or ``ResNetBlockSE``).
        pool_kernel_size: max-pooling kernel (and stride), an int or one value per spatial dimension such as
            ``(1, 2, 2)``; ``None`` for the top level, which does not pool.
        spatial_dims: 2 or 3.

    Example::

        >>> level = Encoder(DoubleConv(8, 16, encoder=True, num_groups=4), pool_kernel_size=(1, 2, 2))
        >>> level(torch.rand(1, 8, 5, 8, 8)).shape
        torch.Size([1, 16, 5, 4, 4])
    """

    def __init__(
        self, basic_module: nn.Module, pool_kernel_size: int | Sequence[int] | None = 2, spatial_dims: int = 3
    ) -> None:
        super().__init__()
        if pool_kernel_size is None:
            self.pooling: nn.Module = nn.Identity()
        else:
            self.pooling = Pool[Pool.MAX, spatial_dims](kernel_size=pool_kernel_size)
        self.basic_module = basic_module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.basic_module(self.pooling(x))
