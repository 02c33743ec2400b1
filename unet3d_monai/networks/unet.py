"""The U-Net family of pytorch-3dunet: plain and residual U-Nets for 3D volumes and 2D images.

The module tree and parameter names are those of pytorch-3dunet (``encoders.N.basic_module...``,
``decoders.N.upsampling...``, ``final_conv``), so its checkpoints load with ``strict=True``; see
:func:`unet3d_monai.compat.load_pytorch3dunet_checkpoint`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn as nn
from monai.networks.layers import Act, Conv

from unet3d_monai.networks.conv_block import DoubleConv, split_dropout
from unet3d_monai.networks.decoder import Decoder
from unet3d_monai.networks.encoder import Encoder
from unet3d_monai.networks.layer_order import check_layer_order
from unet3d_monai.networks.residual_block import ResNetBlock, ResNetBlockSE
from unet3d_monai.networks.upsampling import InterpolateUpsampling, TransposeConvUpsampling

__all__ = [
    "pool_kernels_per_level",
    "UNetBase",
    "UNet3D",
    "ResidualUNet3D",
    "ResidualUNetSE3D",
    "UNet2D",
    "ResidualUNet2D",
    "UPSAMPLE_MODES",
]

# upsample option -> interpolation mode by spatial dimensions (None: transposed convolution);
# 'default' is resolved per block type: nearest interpolation for DoubleConv, deconv for the residual blocks
UPSAMPLE_MODES: dict[str, dict[int, str] | None] = {
    "nearest": {2: "nearest", 3: "nearest"},
    "bilinear": {2: "bilinear", 3: "trilinear"},
    "trilinear": {2: "bilinear", 3: "trilinear"},
    "deconv": None,
}


def _spatial_tuple(value: int | Sequence[int], name: str, spatial_dims: int, minimum: int) -> tuple[int, ...]:
    """Return ``value`` as one int per spatial dimension, or raise ``ValueError`` naming the option."""
    values = [value] if isinstance(value, int) else list(value) if isinstance(value, Sequence) else [None]
    if len(values) == 1:
        values = values * spatial_dims
    if len(values) != spatial_dims or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= minimum for v in values
    ):
        raise ValueError(
            f"{name} must be an int or {spatial_dims} ints (one per spatial dimension) of at least {minimum}, "
            f"got {value!r}."
        )
    return tuple(values)


def _positive_int(value: int, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}.")
    return value


def feature_maps_per_level(f_maps: int | Sequence[int], num_levels: int | None, default_num_levels: int) -> list[int]:
    """Channels of each encoder level: ``f_maps`` doubled per level when an int, else the list itself.

    Raises:
        ValueError: when ``f_maps`` holds fewer than 2 levels or non-positive values, or when ``num_levels``
            contradicts the length of an ``f_maps`` list.
    """
    if num_levels is not None:
        _positive_int(num_levels, "num_levels")
    if isinstance(f_maps, int) and not isinstance(f_maps, bool):
        _positive_int(f_maps, "f_maps")
        levels = default_num_levels if num_levels is None else num_levels
        if levels < 2:
            raise ValueError(f"num_levels must be at least 2 (a U-Net needs one pooling level), got {levels}.")
        return [f_maps * 2**level for level in range(levels)]
    if not isinstance(f_maps, Sequence) or isinstance(f_maps, str):
        raise ValueError(f"f_maps must be an int or a list of ints (channels per level), got {f_maps!r}.")
    maps = list(f_maps)
    if len(maps) < 2 or not all(isinstance(m, int) and not isinstance(m, bool) and m > 0 for m in maps):
        raise ValueError(f"f_maps must list at least 2 positive channel counts (one per level), got {maps}.")
    if num_levels is not None and num_levels != len(maps):
        raise ValueError(
            f"f_maps {maps} lists {len(maps)} levels but num_levels={num_levels}; "
            f"set num_levels={len(maps)} or leave it out."
        )
    return maps


def _conv_size(size: int, kernel: int, padding: int) -> int:
    return size + 2 * padding - kernel + 1


def minimum_input_size(
    num_levels: int,
    kernel: int,
    padding: int,
    pool: int | Sequence[int],
    convs_per_block: int,
    max_size: int = 1 << 16,
) -> int:
    """Smallest size along one axis for which every feature map of the U-Net keeps at least one voxel.

    ``pool`` is the pooling kernel along this axis, one int for every level or one per pooling level
    (``num_levels - 1`` values).
    """
    pools = [pool] * (num_levels - 1) if isinstance(pool, int) else [int(p) for p in pool]

    def fits(size: int) -> bool:
        encoder_sizes = []
        for level in range(num_levels):
            if level > 0:
                if size < pools[level - 1]:
                    return False
                size //= pools[level - 1]
            for _ in range(convs_per_block):
                size = _conv_size(size, kernel, padding)
            if size < 1:
                return False
            encoder_sizes.append(size)
        for size in encoder_sizes[:-1]:
            for _ in range(convs_per_block):
                size = _conv_size(size, kernel, padding)
            if size < 1:
                return False
        return True

    for size in range(1, max_size + 1):
        if fits(size):
            return size
    raise ValueError(
        f"no input size up to {max_size} fits {num_levels} levels with conv_kernel_size {kernel}, "
        f"conv_padding {padding} and pool_kernel_size {pool}; increase conv_padding or reduce num_levels."
    )


def pool_kernels_per_level(
    pool_kernel_size: int | Sequence[int] | Sequence[Sequence[int]], spatial_dims: int, num_pools: int
) -> list[tuple[int, ...]]:
    """The pooling kernel of each of the ``num_pools`` pooling levels, one int per spatial dimension.

    ``pool_kernel_size`` is an int (every level, every axis), one int per spatial dimension (every level), or one
    such entry per pooling level, e.g. ``[[1, 2, 2], [1, 2, 2], [2, 2, 2]]`` for a stack whose z spacing is 4
    times its x/y spacing: no pooling along z until the feature maps are about isotropic.

    Example:
        >>> pool_kernels_per_level([[1, 2, 2], 2], 3, 2)
        [(1, 2, 2), (2, 2, 2)]

    Raises:
        ValueError: a per-level list whose length is not ``num_pools``, or an entry that is not a positive int or
            ``spatial_dims`` positive ints.
    """
    per_level = (
        isinstance(pool_kernel_size, Sequence)
        and not isinstance(pool_kernel_size, str)
        and any(isinstance(entry, Sequence) and not isinstance(entry, str) for entry in pool_kernel_size)
    )
    if not per_level:
        return [_spatial_tuple(pool_kernel_size, "pool_kernel_size", spatial_dims, 1)] * num_pools
    if len(pool_kernel_size) != num_pools:
        raise ValueError(
            f"pool_kernel_size lists {len(pool_kernel_size)} levels but the network pools {num_pools} times "
            f"(one entry per level below the first), got {pool_kernel_size!r}."
        )
    return [_spatial_tuple(entry, "pool_kernel_size", spatial_dims, 1) for entry in pool_kernel_size]


class UNetBase(nn.Module):
    """Shared U-Net body of pytorch-3dunet's ``AbstractUNet``; use one of the concrete classes.

    ``forward`` returns logits; ``final_activation`` (``nn.Sigmoid``, ``nn.Softmax(dim=1)`` or ``nn.Identity`` for
    regression) is never applied in ``forward``: inference post-processing and metrics apply it.

    Args:
        in_channels: input channels.
        out_channels: output channels (classes, or regression targets).
        final_sigmoid: ``final_activation`` is a sigmoid when ``True``, a channel softmax when ``False``.
        f_maps: channels of the first level, doubled at each level, or a list with the channels of every level.
        layer_order: letters naming the layers of each convolution unit, e.g. ``'gcr'``, ``'cbr'``, ``'cge'``;
            see :mod:`unet3d_monai.networks.layer_order`.
        num_groups: GroupNorm groups; a layer with fewer channels than ``num_groups`` uses one group.
        num_levels: number of levels when ``f_maps`` is an int (``None``: the class default); with an ``f_maps``
            list it may be left out, or must equal the list's length.
        is_segmentation: ``False`` for regression, where ``final_activation`` is the identity.
        conv_kernel_size: convolution kernel, an int or one per spatial dimension.
        pool_kernel_size: max-pooling kernel and stride between levels, an int or one per spatial dimension such as
            ``(1, 2, 2)`` for anisotropic volumes, or one such entry per pooling level (``num_levels - 1`` of them,
            e.g. ``[[1, 2, 2], [2, 2, 2], [2, 2, 2]]``: pool z only from the second level on); transposed-convolution
            upsampling uses each level's kernel as its stride.
        conv_padding: convolution zero-padding, an int or one per spatial dimension.
        conv_upscale: the first convolution of an encoder ``DoubleConv`` has ``out // conv_upscale`` channels
            (residual blocks do not use it).
        upsample: ``'default'`` (nearest interpolation and concatenation for the plain U-Net, transposed
            convolution and summation for the residual ones), ``'nearest'``, ``'trilinear'`` / ``'bilinear'``
            (linear interpolation in 3D / 2D, concatenation) or ``'deconv'`` (transposed convolution).
        dropout_prob: dropout probability (or a pair, one per convolution unit), used when ``layer_order`` holds
            'd' or 'D'.
    Each concrete class sets three class attributes: ``basic_module`` (the block of every level: ``DoubleConv``,
    ``ResNetBlock`` or ``ResNetBlockSE``), ``network_dims`` (2 or 3) and ``default_num_levels`` (levels when
    ``num_levels`` is ``None`` and ``f_maps`` is an int).

    Attributes:
        arguments: the constructor's arguments, resolved (``f_maps`` as the channels of every level, kernel sizes
            as one int per spatial dimension), such that ``type(net)(**net.arguments)`` builds the same network;
            plain numbers, strings and lists, ready for JSON or YAML (a bioimage.io package records them).
        f_maps: channels of each level (list).
        min_input_size: smallest accepted spatial size per axis (list); smaller inputs raise ``ValueError``.
        final_activation: the activation that turns logits into probabilities (or the identity).
        encoders, decoders, final_conv: the module tree of pytorch-3dunet, whose checkpoints load strictly.
    """

    basic_module: type[DoubleConv] | type[ResNetBlock] | type[ResNetBlockSE] | None = None
    network_dims: int = 3
    default_num_levels: int = 4

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        final_sigmoid: bool = True,
        f_maps: int | Sequence[int] = 64,
        layer_order: str = "gcr",
        num_groups: int = 8,
        num_levels: int | None = None,
        is_segmentation: bool = True,
        conv_kernel_size: int | Sequence[int] = 3,
        pool_kernel_size: int | Sequence[int] | Sequence[Sequence[int]] = 2,
        conv_padding: int | Sequence[int] = 1,
        conv_upscale: int = 2,
        upsample: str = "default",
        dropout_prob: float | Sequence[float] = 0.1,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        basic_module, spatial_dims, default_num_levels = self.basic_module, self.network_dims, self.default_num_levels
        if basic_module is None:
            raise TypeError(
                f"{name} is abstract: use UNet3D, ResidualUNet3D, ResidualUNetSE3D, UNet2D or ResidualUNet2D."
            )
        _positive_int(in_channels, "in_channels")
        _positive_int(out_channels, "out_channels")
        _positive_int(num_groups, "num_groups")
        _positive_int(conv_upscale, "conv_upscale")
        check_layer_order(layer_order)
        split_dropout(dropout_prob)
        maps = feature_maps_per_level(f_maps, num_levels, default_num_levels)
        kernel = _spatial_tuple(conv_kernel_size, "conv_kernel_size", spatial_dims, 1)
        pools = pool_kernels_per_level(pool_kernel_size, spatial_dims, len(maps) - 1)
        uniform_pool = all(p == pools[0] for p in pools)
        padding = _spatial_tuple(conv_padding, "conv_padding", spatial_dims, 0)
        if upsample != "default" and upsample not in UPSAMPLE_MODES:
            accepted = ", ".join(repr(mode) for mode in ["default", *UPSAMPLE_MODES])
            raise ValueError(f"upsample must be one of {accepted}, got {upsample!r}.")
        # the constructor's arguments, resolved, so that type(self)(**self.arguments) builds the same network
        self.arguments = {
            "in_channels": in_channels,
            "out_channels": out_channels,
            "final_sigmoid": bool(final_sigmoid),
            "f_maps": list(maps),
            "layer_order": layer_order,
            "num_groups": num_groups,
            "is_segmentation": bool(is_segmentation),
            "conv_kernel_size": list(kernel),
            "pool_kernel_size": list(pools[0]) if uniform_pool else [list(p) for p in pools],
            "conv_padding": list(padding),
            "conv_upscale": conv_upscale,
            "upsample": upsample,
            "dropout_prob": dropout_prob if isinstance(dropout_prob, (int, float)) else list(dropout_prob),
        }
        residual = basic_module is not DoubleConv
        if residual and any(2 * p != k - 1 for k, p in zip(kernel, padding)):
            raise ValueError(
                f"{name} sums each block's input and output, so its convolutions must keep the size: use an odd "
                f"conv_kernel_size with conv_padding = (conv_kernel_size - 1) // 2, got conv_kernel_size "
                f"{conv_kernel_size} and conv_padding {conv_padding}."
            )
        if upsample == "default":
            upsample = "deconv" if residual else "nearest"
        interpolation = UPSAMPLE_MODES[upsample]
        # residual blocks sum the transposed convolution's output with the encoder features; everything else
        # concatenates them
        concat = not (residual and interpolation is None)

        self.in_channels = in_channels
        self.out_channels = out_channels
        self.spatial_dims = spatial_dims
        self.f_maps = maps
        self.network_name = name
        self.min_input_size = [
            minimum_input_size(len(maps), k, p, [level[axis] for level in pools], 1 if residual else 2)
            for axis, (k, p) in enumerate(zip(kernel, padding))
        ]

        def block(block_in: int, block_out: int, encoder: bool) -> nn.Module:
            common = {
                "kernel_size": kernel,
                "layer_order": layer_order,
                "num_groups": num_groups,
                "padding": padding,
                "dropout_prob": dropout_prob,
                "spatial_dims": spatial_dims,
            }
            if basic_module is DoubleConv:
                return DoubleConv(block_in, block_out, encoder=encoder, upscale=conv_upscale, **common)
            return basic_module(block_in, block_out, **common)

        encoders = [Encoder(block(in_channels, maps[0], True), None, spatial_dims)]
        for level in range(1, len(maps)):
            encoders.append(Encoder(block(maps[level - 1], maps[level], True), pools[level - 1], spatial_dims))
        self.encoders = nn.ModuleList(encoders)

        decoders = []
        for level in reversed(range(len(maps) - 1)):
            deep_channels, skip_channels = maps[level + 1], maps[level]
            if interpolation is None:
                upsampling: nn.Module = TransposeConvUpsampling(
                    deep_channels, skip_channels, kernel_size=kernel, stride=pools[level], spatial_dims=spatial_dims
                )
                up_channels = skip_channels
            else:
                upsampling = InterpolateUpsampling(interpolation[spatial_dims])
                up_channels = deep_channels
            block_in = skip_channels + up_channels if concat else skip_channels
            decoders.append(Decoder(upsampling, block(block_in, skip_channels, False), concat))
        self.decoders = nn.ModuleList(decoders)

        self.final_conv = Conv[Conv.CONV, spatial_dims](maps[0], out_channels, kernel_size=1)
        if not is_segmentation:
            self.final_activation: nn.Module = nn.Identity()
        elif final_sigmoid:
            self.final_activation = Act[Act.SIGMOID]()
        else:
            self.final_activation = Act[Act.SOFTMAX](dim=1)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != self.spatial_dims + 2 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{self.network_name} expects input of shape (batch, {self.in_channels}, "
                f"{self.spatial_dims} spatial sizes), got {list(x.shape)}."
            )
        for axis in range(self.spatial_dims):
            if x.shape[axis + 2] < self.min_input_size[axis]:
                raise ValueError(
                    f"{self.network_name} needs spatial sizes of at least {self.min_input_size}, "
                    f"got input of shape {list(x.shape)}."
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits ``(B, out_channels, *spatial)`` of ``x`` ``(B, in_channels, *spatial)``."""
        if not torch.jit.is_tracing():
            self._check_input(x)
        features: list[torch.Tensor] = []
        for encoder in self.encoders:
            x = encoder(x)
            features.append(x)
        deepest = len(features) - 1
        for index, decoder in enumerate(self.decoders):
            x = decoder(features[deepest - 1 - index], x)
        return self.final_conv(x)


class UNet3D(UNetBase):
    """3D U-Net (Çiçek et al., 2016) as in pytorch-3dunet: ``DoubleConv`` blocks, max pooling, nearest-neighbour
    upsampling and concatenation of the encoder features.

    Shapes: input ``(B, in_channels, Z, Y, X)``, output logits ``(B, out_channels, Z, Y, X)`` (same size, any
    size including odd ones, as long as each axis holds at least ``min_input_size`` voxels: the product of the
    pooling kernels over ``num_levels - 1`` levels, 8 with the defaults, 4 with 3 levels).

    Receptive field (convolutions only; GroupNorm statistics span the whole input): with the defaults (kernel 3,
    pooling 2, 4 levels) an output voxel sees up to 100 voxels per axis (44 with 3 levels, 204 with 5 levels).

    Args: see :class:`UNetBase`; defaults as pytorch-3dunet: ``f_maps=64``, 4 levels, ``layer_order='gcr'``,
    ``num_groups=8``.

    Example::

        >>> net = UNet3D(in_channels=1, out_channels=2, f_maps=8, num_levels=3, num_groups=4, final_sigmoid=False)
        >>> logits = net(torch.rand(1, 1, 17, 32, 33))
        >>> logits.shape
        torch.Size([1, 2, 17, 32, 33])
        >>> probabilities = net.final_activation(logits)
    """

    basic_module = DoubleConv
    network_dims = 3
    default_num_levels = 4


class ResidualUNet3D(UNetBase):
    """Residual 3D U-Net (Lee et al., 2017) as in pytorch-3dunet: ``ResNetBlock`` levels, max pooling,
    transposed-convolution upsampling and summation with the encoder features.

    Shapes: input ``(B, in_channels, Z, Y, X)``, output logits ``(B, out_channels, Z, Y, X)`` (same size, any size
    including odd ones, at least ``min_input_size`` voxels per axis: the product of the pooling kernels over
    ``num_levels - 1`` levels, 16 with the defaults).

    Receptive field (convolutions only; GroupNorm statistics span the whole input): with the defaults (kernel 3,
    pooling 2, 5 levels) an output voxel sees up to 215 voxels per axis (108 with 4 levels, 48 with 3 levels).

    Args: see :class:`UNetBase`; defaults as pytorch-3dunet: ``f_maps=64``, 5 levels, ``layer_order='gcr'``,
    ``num_groups=8``. ``conv_padding`` must keep the size (``(conv_kernel_size - 1) // 2``).

    Example::

        >>> net = ResidualUNet3D(in_channels=1, out_channels=1, f_maps=8, num_levels=3, num_groups=4)
        >>> net(torch.rand(1, 1, 16, 21, 21)).shape
        torch.Size([1, 1, 16, 21, 21])
    """

    basic_module = ResNetBlock
    network_dims = 3
    default_num_levels = 5


class ResidualUNetSE3D(UNetBase):
    """Residual 3D U-Net whose blocks end with concurrent channel and spatial squeeze-and-excitation
    (``ResNetBlockSE``), as pytorch-3dunet's ``ResidualUNetSE3D``.

    Shapes: input ``(B, in_channels, Z, Y, X)``, output logits ``(B, out_channels, Z, Y, X)`` (same size, any size
    including odd ones, at least ``min_input_size`` voxels per axis: 16 with the defaults).

    Receptive field: the channel excitation averages each feature map over the whole input, so every output voxel
    depends on the whole input; the convolutions alone see up to 215 voxels per axis with the defaults.

    Args: see :class:`UNetBase`; defaults as pytorch-3dunet: ``f_maps=64``, 5 levels, ``layer_order='gcr'``,
    ``num_groups=8``.

    Example::

        >>> net = ResidualUNetSE3D(in_channels=1, out_channels=1, f_maps=8, num_levels=3, num_groups=4)
        >>> net(torch.rand(2, 1, 12, 16, 16)).shape
        torch.Size([2, 1, 12, 16, 16])
    """

    basic_module = ResNetBlockSE
    network_dims = 3
    default_num_levels = 5


class UNet2D(UNetBase):
    """2D U-Net as in pytorch-3dunet: the :class:`UNet3D` architecture with 2D convolutions and pooling.

    Shapes: input ``(B, in_channels, Y, X)``, output logits ``(B, out_channels, Y, X)`` (same size, any size
    including odd ones, at least ``min_input_size`` pixels per axis: 8 with the defaults, 4 with 3 levels).
    A volume stored as ``(C, 1, Y, X)`` is squeezed to ``(C, Y, X)`` before it reaches this network.

    Receptive field (convolutions only): up to 100 pixels per axis with the defaults (4 levels), 44 with 3 levels.

    Args: see :class:`UNetBase`; defaults as pytorch-3dunet: ``f_maps=64``, 4 levels, ``layer_order='gcr'``,
    ``num_groups=8``.

    Example::

        >>> net = UNet2D(in_channels=1, out_channels=1, f_maps=[8, 16, 32], layer_order="bcr")
        >>> net(torch.rand(2, 1, 45, 48)).shape
        torch.Size([2, 1, 45, 48])
    """

    basic_module = DoubleConv
    network_dims = 2
    default_num_levels = 4


class ResidualUNet2D(UNetBase):
    """2D residual U-Net as in pytorch-3dunet: the :class:`ResidualUNet3D` architecture in 2D.

    Shapes: input ``(B, in_channels, Y, X)``, output logits ``(B, out_channels, Y, X)`` (same size, any size
    including odd ones, at least ``min_input_size`` pixels per axis: 16 with the defaults).

    Receptive field (convolutions only): up to 215 pixels per axis with the defaults (5 levels), 48 with 3 levels.

    Args: see :class:`UNetBase`; defaults as pytorch-3dunet: ``f_maps=64``, 5 levels, ``layer_order='gcr'``,
    ``num_groups=8``.

    Example::

        >>> net = ResidualUNet2D(in_channels=3, out_channels=2, f_maps=8, num_levels=3, num_groups=4)
        >>> net(torch.rand(1, 3, 31, 40)).shape
        torch.Size([1, 2, 31, 40])
    """

    basic_module = ResNetBlock
    network_dims = 2
    default_num_levels = 5
