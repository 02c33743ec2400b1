"""What a network is, read from its convolutions: spatial dimensions, input and output channels. Any 2D or 3D
convolutional ``nn.Module`` will do, not only the networks of this package."""

from __future__ import annotations

from torch import nn

__all__ = ["network_in_channels", "network_out_channels", "network_spatial_dims"]


def _first_convolution(network: nn.Module) -> nn.modules.conv._ConvNd:
    for module in network.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            return module
    raise ValueError(f"{type(network).__name__} has no convolution layer; expected a 2D or 3D convolutional network.")


def network_spatial_dims(network: nn.Module) -> int:
    """Number of spatial dimensions (2 or 3) the network convolves over, read from its first convolution.

    Example:
        >>> network_spatial_dims(torch.nn.Conv3d(1, 1, 3))
        3
    """
    dims = _first_convolution(network).weight.ndim - 2
    if dims not in (2, 3):
        raise ValueError(f"{type(network).__name__} convolves over {dims} spatial dimensions; expected 2 or 3.")
    return dims


def network_in_channels(network: nn.Module) -> int:
    """Number of input channels the network expects, read from its first convolution.

    Example:
        >>> network_in_channels(torch.nn.Conv3d(2, 4, 3))
        2
    """
    return int(_first_convolution(network).in_channels)


def network_out_channels(network: nn.Module) -> int:
    """Number of output channels, read from the network's last convolution.

    Example:
        >>> network_out_channels(torch.nn.Sequential(torch.nn.Conv3d(2, 4, 3), torch.nn.Conv3d(4, 3, 1)))
        3
    """
    last = None
    for module in network.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            last = module
    if last is None:
        raise ValueError(f"{type(network).__name__} has no convolution layer.")
    return int(last.out_channels)
