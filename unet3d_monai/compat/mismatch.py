"""Explain why a state_dict does not fit a U-Net: which keys differ and which network option is likely wrong."""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

__all__ = ["CheckpointMismatchError", "state_dict_differences", "describe_mismatch"]

_SHOWN_KEYS = 5
_ENCODER_INDEX = re.compile(r"^encoders\.(\d+)\.")
_ENCODER_OUTPUT_CONV = re.compile(r"^encoders\.(\d+)\.basic_module\.(SingleConv2|conv3)\.conv\.weight$")
_BLOCK_CONV_BIAS = re.compile(r"\.basic_module\.(SingleConv1|SingleConv2|conv2|conv3)\.conv\.bias$")
_NORMS = {"groupnorm": "GroupNorm ('g')", "batchnorm": "BatchNorm ('b')"}


class CheckpointMismatchError(ValueError):
    """A checkpoint's weights do not fit the network's architecture (missing, unexpected or reshaped keys)."""


def state_dict_differences(
    expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor]
) -> tuple[list[str], list[str], list[tuple[str, tuple[int, ...], tuple[int, ...]]]]:
    """Return the keys missing from ``given``, the keys ``given`` has in excess, and the keys whose shapes differ
    as ``(key, given shape, expected shape)``."""
    missing = [key for key in expected if key not in given]
    unexpected = [key for key in given if key not in expected]
    reshaped = [
        (key, tuple(given[key].shape), tuple(expected[key].shape))
        for key in expected
        if key in given and tuple(given[key].shape) != tuple(expected[key].shape)
    ]
    return missing, unexpected, reshaped


def _levels(keys: Mapping[str, torch.Tensor]) -> int:
    indices = {int(match.group(1)) for key in keys if (match := _ENCODER_INDEX.match(key))}
    return max(indices) + 1 if indices else 0


def _feature_maps(state_dict: Mapping[str, torch.Tensor]) -> list[int]:
    found = {}
    for key, value in state_dict.items():
        match = _ENCODER_OUTPUT_CONV.match(key)
        if match:
            found[int(match.group(1))] = int(value.shape[0])
    return [found[index] for index in sorted(found)]


def _block_kind(keys: Mapping[str, torch.Tensor]) -> str:
    if any(".se_module." in key for key in keys):
        return "residual blocks with squeeze-and-excitation (ResidualUNetSE3D)"
    if any(".basic_module.conv2." in key for key in keys):
        return "residual blocks (ResidualUNet3D / ResidualUNet2D)"
    if any(".basic_module.SingleConv1." in key for key in keys):
        return "plain double-convolution blocks (UNet3D / UNet2D)"
    return "no recognisable U-Net blocks"


def _spatial_dims(state_dict: Mapping[str, torch.Tensor]) -> int | None:
    weight = state_dict.get("final_conv.weight")
    return None if weight is None else weight.dim() - 2


def _norm_kind(keys: Mapping[str, torch.Tensor]) -> str:
    kinds = [label for name, label in _NORMS.items() if any(f".{name}." in key for key in keys)]
    return " and ".join(kinds) if kinds else "no norm layer"


def _has_conv_bias(keys: Mapping[str, torch.Tensor]) -> bool:
    return any(_BLOCK_CONV_BIAS.search(key) for key in keys)


def _has_deconv(keys: Mapping[str, torch.Tensor]) -> bool:
    return any(".upsampling.upsample.conv_transposed." in key for key in keys)


def _likely_options(expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor]) -> list[str]:
    hints = []
    given_dims, expected_dims = _spatial_dims(given), _spatial_dims(expected)
    if given_dims is not None and expected_dims is not None and given_dims != expected_dims:
        hints.append(f"network class: the checkpoint holds a {given_dims}D network but the network is {expected_dims}D")
    given_blocks, expected_blocks = _block_kind(given), _block_kind(expected)
    if given_blocks != expected_blocks:
        hints.append(f"network class: the checkpoint has {given_blocks}, the network {expected_blocks}")
    if hints:
        return hints
    given_levels, expected_levels = _levels(given), _levels(expected)
    if given_levels != expected_levels:
        hints.append(
            f"num_levels (or the length of f_maps): the checkpoint has {given_levels} encoder levels, "
            f"the network {expected_levels}"
        )
    given_norm, expected_norm = _norm_kind(given), _norm_kind(expected)
    if given_norm != expected_norm:
        hints.append(f"layer_order: the checkpoint uses {given_norm}, the network {expected_norm}")
    elif _has_conv_bias(given) != _has_conv_bias(expected):
        hints.append(
            "layer_order: convolution biases differ, so one side has a norm letter ('g'/'b') and the other not"
        )
    if _has_deconv(given) != _has_deconv(expected):
        side = "the checkpoint" if _has_deconv(given) else "the network"
        hints.append(f"upsample: only {side} has transposed-convolution upsampling ('deconv')")
    if hints:
        return hints

    given_maps, expected_maps = _feature_maps(given), _feature_maps(expected)
    if given_maps != expected_maps:
        hints.append(f"f_maps: the checkpoint has f_maps={given_maps}, the network {expected_maps}")
    _, _, reshaped = state_dict_differences(expected, given)
    if any(key == "final_conv.weight" and a[0] != b[0] for key, a, b in reshaped):
        hints.append("out_channels: the final convolution has a different number of output channels")
    first_convs = ("encoders.0.basic_module.SingleConv1.conv.weight", "encoders.0.basic_module.conv1.weight")
    if any(key in first_convs and a[1] != b[1] for key, a, b in reshaped):
        hints.append("in_channels: the first convolution has a different number of input channels")
    if any(key.endswith(".conv.weight") and a[2:] != b[2:] for key, a, b in reshaped):
        hints.append("conv_kernel_size: convolution kernels have different sizes")
    if not hints and reshaped and all(("norm." in key) for key, _, _ in reshaped):
        hints.append(
            "layer_order: the norm layers have different sizes, so the norm sits on the other side of the "
            "convolution ('gcr' normalises the convolution's input, 'cgr' its output)"
        )
    return hints


def _shown(items: list[str]) -> str:
    more = f", ... ({len(items)} in all)" if len(items) > _SHOWN_KEYS else ""
    return ", ".join(items[:_SHOWN_KEYS]) + more


def describe_mismatch(
    expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor], source: str, network_name: str
) -> str | None:
    """Return one message explaining why ``given`` (from ``source``) does not fit the network's ``expected``
    state_dict, or ``None`` when the keys and shapes agree."""
    missing, unexpected, reshaped = state_dict_differences(expected, given)
    if not (missing or unexpected or reshaped):
        return None
    hints = _likely_options(expected, given)
    cause = "; ".join(hints) if hints else "an architecture option that changes the module tree"
    details = []
    if missing:
        details.append(f"missing keys: {_shown(missing)}")
    if unexpected:
        details.append(f"unexpected keys: {_shown(unexpected)}")
    if reshaped:
        shapes = [f"{key} checkpoint {a} vs network {b}" for key, a, b in reshaped]
        details.append(f"shape mismatches: {_shown(shapes)}")
    return (
        f"The weights in {source} do not fit this {network_name}; check the option(s) {cause} ("
        + "; ".join(details)
        + ")."
    )
