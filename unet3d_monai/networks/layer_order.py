"""The ``layer_order`` string of pytorch-3dunet: which layers make one convolution unit, and in which order.

Each letter stands for one layer:

- ``c``: convolution (exactly one, mandatory);
- ``g``: GroupNorm; ``b``: BatchNorm (a norm before ``c`` normalises the convolution's input channels,
  after ``c`` its output channels);
- ``r``: ReLU; ``l``: LeakyReLU (slope 0.01); ``e``: ELU;
- ``d``: element-wise Dropout; ``D``: channel-wise Dropout (Dropout2d / Dropout3d).

For example ``'gcr'`` (the default) is GroupNorm -> Conv -> ReLU and ``'cbr'`` is Conv -> BatchNorm -> ReLU.
The convolution has a bias only when the order holds no norm letter.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn as nn
from monai.networks.layers import Act, Conv, Dropout, Norm

__all__ = ["LAYER_LETTERS", "NONLINEARITY_LETTERS", "check_layer_order", "create_conv_layers"]

LAYER_LETTERS: dict[str, str] = {
    "c": "convolution",
    "g": "GroupNorm",
    "b": "BatchNorm",
    "r": "ReLU",
    "l": "LeakyReLU",
    "e": "ELU",
    "d": "Dropout",
    "D": "channel Dropout",
}
NONLINEARITY_LETTERS = "rle"
NORM_LETTERS = "gb"

# letter -> (module name in the state_dict tree, MONAI factory key, constructor arguments)
_NONLINEARITIES: dict[str, tuple[str, str, dict]] = {
    "r": ("ReLU", Act.RELU, {}),
    "l": ("LeakyReLU", Act.LEAKYRELU, {"negative_slope": 0.01}),
    "e": ("ELU", Act.ELU, {}),
}
_NORMS: dict[str, tuple[str, str]] = {"g": ("groupnorm", Norm.GROUP), "b": ("batchnorm", Norm.BATCH)}
# letter -> whether the dropout drops whole channels (Dropout2d/3d) rather than single elements
_DROPOUTS: dict[str, bool] = {"d": False, "D": True}
# letters after which an in-place non-linearity cannot overwrite a tensor owned by someone else
_FRESH_OUTPUT_LETTERS = "cgb"


def check_layer_order(layer_order: str) -> None:
    """Raise ``ValueError`` with one sentence when ``layer_order`` is not a valid pytorch-3dunet layer order."""
    if not isinstance(layer_order, str) or not layer_order:
        raise ValueError(f"layer_order must be a non-empty string such as 'gcr', got {layer_order!r}.")
    unknown = sorted({letter for letter in layer_order if letter not in LAYER_LETTERS})
    if unknown:
        accepted = ", ".join(f"'{k}' ({v})" for k, v in LAYER_LETTERS.items())
        raise ValueError(
            f"layer_order {layer_order!r} contains unknown letter(s) {unknown}; accepted letters: {accepted}."
        )
    repeated = sorted({letter for letter in layer_order if layer_order.count(letter) > 1})
    if repeated:
        raise ValueError(f"layer_order {layer_order!r} repeats letter(s) {repeated}; each layer may appear only once.")
    if "c" not in layer_order:
        raise ValueError(f"layer_order {layer_order!r} has no convolution; it must contain the letter 'c'.")
    if layer_order[0] in NONLINEARITY_LETTERS:
        raise ValueError(f"layer_order {layer_order!r} starts with a non-linearity; put 'c' or a norm letter first.")
    if "d" in layer_order and "D" in layer_order:
        raise ValueError(f"layer_order {layer_order!r} holds both 'd' and 'D'; choose one kind of dropout.")


def _groups_for(channels: int, num_groups: int, in_channels: int, out_channels: int) -> int:
    groups = num_groups if channels >= num_groups else 1
    if channels % groups != 0:
        raise ValueError(
            f"num_groups={num_groups} does not divide the {channels} channels normalised by the GroupNorm of the "
            f"convolution {in_channels}->{out_channels}; choose num_groups dividing every level's channel count."
        )
    return groups


def create_conv_layers(
    in_channels: int,
    out_channels: int,
    kernel_size: int | Sequence[int],
    layer_order: str,
    num_groups: int,
    padding: int | Sequence[int],
    dropout_prob: float,
    spatial_dims: int,
) -> list[tuple[str, nn.Module]]:
    """Build the named layers of one convolution unit in ``layer_order``.

    The names (``conv``, ``groupnorm``, ``batchnorm``, ``ReLU``, ``LeakyReLU``, ``ELU``, ``dropout``) are those of
    pytorch-3dunet's ``SingleConv``, so its checkpoints load with ``strict=True``.

    Returns:
        list of ``(name, module)`` pairs, to be added to an ``nn.Sequential`` in that order.
    """
    check_layer_order(layer_order)
    conv_position = layer_order.index("c")
    has_norm = any(letter in layer_order for letter in NORM_LETTERS)
    layers: list[tuple[str, nn.Module]] = []
    for position, letter in enumerate(layer_order):
        if letter == "c":
            conv = Conv[Conv.CONV, spatial_dims](
                in_channels, out_channels, kernel_size=kernel_size, padding=padding, bias=not has_norm
            )
            layers.append(("conv", conv))
        elif letter in _NORMS:
            name, norm_type = _NORMS[letter]
            channels = in_channels if position < conv_position else out_channels
            if letter == "g":
                groups = _groups_for(channels, num_groups, in_channels, out_channels)
                norm = Norm[norm_type, spatial_dims](num_groups=groups, num_channels=channels)
            else:
                norm = Norm[norm_type, spatial_dims](channels)
            layers.append((name, norm))
        elif letter in _NONLINEARITIES:
            name, act_type, act_args = _NONLINEARITIES[letter]
            inplace = layer_order[position - 1] in _FRESH_OUTPUT_LETTERS
            layers.append((name, Act[act_type](inplace=inplace, **act_args)))
        else:
            dropout_dims = spatial_dims if _DROPOUTS[letter] else 1
            layers.append(("dropout", Dropout[Dropout.DROPOUT, dropout_dims](p=dropout_prob)))
    return layers
