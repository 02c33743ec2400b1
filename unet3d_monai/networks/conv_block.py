"""Plain convolution blocks of the U-Net: one convolution unit (``SingleConv``) and two of them (``DoubleConv``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn

from unet3d_monai.networks.layer_order import create_conv_layers

__all__ = ["SingleConv", "DoubleConv", "conv_unit_pair"]


class SingleConv(nn.Sequential):
    """One convolution with its norm, non-linearity and dropout, in the order given by ``layer_order``.

    Shapes: input ``(B, in_channels, *spatial)``, output ``(B, out_channels, *spatial')`` where each spatial size
    changes by ``2 * padding - kernel_size + 1`` (unchanged for kernel 3 and padding 1).

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        kernel_size: convolution kernel size, an int or one value per spatial dimension.
        layer_order: letters naming the layers in order, see :mod:`unet3d_monai.networks.layer_order`.
        num_groups: GroupNorm groups (1 group when the normalised layer has fewer channels).
        padding: convolution zero-padding, an int or one value per spatial dimension.
        dropout_prob: dropout probability, used when ``layer_order`` holds 'd' or 'D'.
        spatial_dims: 2 or 3.

    Example::

        >>> block = SingleConv(1, 8, layer_order="gcr", num_groups=4)
        >>> block(torch.rand(1, 1, 8, 8, 8)).shape
        torch.Size([1, 8, 8, 8, 8])
    """

    # TorchScript shares one compiled type between Sequential modules holding the same submodule names, whatever
    # their order ('cg' and 'gc' would run in the same order); a constant holding the order keeps the types apart
    __constants__ = ["layer_order"]

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int] = 3,
        layer_order: str = "gcr",
        num_groups: int = 8,
        padding: int | Sequence[int] = 1,
        dropout_prob: float = 0.1,
        spatial_dims: int = 3,
    ) -> None:
        super().__init__()
        self.layer_order = layer_order
        for name, layer in create_conv_layers(
            in_channels, out_channels, kernel_size, layer_order, num_groups, padding, dropout_prob, spatial_dims
        ):
            self.add_module(name, layer)


class DoubleConv(nn.Sequential):
    """Two ``SingleConv`` units, ``SingleConv1`` then ``SingleConv2``: the basic block of the plain U-Net.

    In the encoder (``encoder=True``) the first unit goes to ``out_channels // upscale`` channels (but never fewer
    than ``in_channels``) and the second to ``out_channels``; in the decoder both go to ``out_channels``.

    Shapes: input ``(B, in_channels, *spatial)``, output ``(B, out_channels, *spatial')``; with the default kernel
    3 and padding 1 the spatial size is unchanged, and the block sees a 5-voxel neighbourhood per dimension.

    Args:
        in_channels: channels of the input.
        out_channels: channels of the output.
        encoder: whether the block sits in the encoder (contracting) path.
        kernel_size: convolution kernel size, an int or one value per spatial dimension.
        layer_order: letters naming the layers of each unit, see :mod:`unet3d_monai.networks.layer_order`.
        num_groups: GroupNorm groups (1 group when a layer has fewer channels).
        padding: convolution zero-padding, an int or one value per spatial dimension.
        upscale: in the encoder, the first unit has ``out_channels // upscale`` channels.
        dropout_prob: dropout probability, or a pair with one probability per unit.
        spatial_dims: 2 or 3.

    Example::

        >>> block = DoubleConv(1, 16, encoder=True, num_groups=4)
        >>> block(torch.rand(1, 1, 8, 8, 8)).shape
        torch.Size([1, 16, 8, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        encoder: bool,
        kernel_size: int | Sequence[int] = 3,
        layer_order: str = "gcr",
        num_groups: int = 8,
        padding: int | Sequence[int] = 1,
        upscale: int = 2,
        dropout_prob: float | Sequence[float] = 0.1,
        spatial_dims: int = 3,
    ) -> None:
        super().__init__()
        if encoder:
            middle_channels = max(out_channels // upscale, in_channels)
        else:
            middle_channels = out_channels
        first, second = conv_unit_pair(
            in_channels,
            middle_channels,
            out_channels,
            kernel_size,
            (layer_order, layer_order),
            num_groups,
            padding,
            dropout_prob,
            spatial_dims,
        )
        self.add_module("SingleConv1", first)
        self.add_module("SingleConv2", second)


def conv_unit_pair(
    in_channels: int,
    middle_channels: int,
    out_channels: int,
    kernel_size: int | Sequence[int],
    layer_orders: tuple[str, str],
    num_groups: int,
    padding: int | Sequence[int],
    dropout_prob: float | Sequence[float],
    spatial_dims: int,
) -> tuple[SingleConv, SingleConv]:
    """The two convolution units of a block: ``in_channels -> middle_channels -> out_channels``, with one layer
    order and one dropout probability (:func:`split_dropout`) each, the other arguments shared.

    Example::

        >>> first, second = conv_unit_pair(1, 8, 16, 3, ("gcr", "gc"), 4, 1, 0.1, 3)
        >>> second(first(torch.rand(1, 1, 8, 8, 8))).shape
        torch.Size([1, 16, 8, 8, 8])
    """
    first_dropout, second_dropout = split_dropout(dropout_prob)
    common = {"kernel_size": kernel_size, "num_groups": num_groups, "padding": padding, "spatial_dims": spatial_dims}
    first = SingleConv(in_channels, middle_channels, layer_order=layer_orders[0], dropout_prob=first_dropout, **common)
    second = SingleConv(
        middle_channels, out_channels, layer_order=layer_orders[1], dropout_prob=second_dropout, **common
    )
    return first, second


def split_dropout(dropout_prob: float | Sequence[float]) -> tuple[float, float]:
    """Return the dropout probabilities of a block's two convolution units from one value or a pair."""
    values = list(dropout_prob) if isinstance(dropout_prob, Sequence) and not isinstance(dropout_prob, str) else None
    if values is None:
        values = [dropout_prob, dropout_prob]
    if len(values) != 2 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise ValueError(f"dropout_prob must be a number or a pair of numbers, got {dropout_prob!r}.")
    probabilities = (float(values[0]), float(values[1]))
    for probability in probabilities:
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"dropout_prob must lie in [0, 1], got {dropout_prob}.")
    return probabilities
