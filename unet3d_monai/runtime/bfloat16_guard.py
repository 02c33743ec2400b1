"""3D convolutions kept in float32 under bfloat16 autocast where oneDNN computes them wrong on CPUs.

Measured with torch 2.13 on a CPU with AVX512-BF16 and AMX: under ``torch.autocast("cpu", torch.bfloat16)``, the
weight gradient of a 3x3x3 convolution (padding 1) whose input is exactly two voxels deep along Z is wrong: values
up to 1e36 times too large or non-finite, different on every call with the same inputs, while inputs one, three,
four or more voxels deep, any Y and X, 2D convolutions and every forward pass agree with float32 to bfloat16
rounding. A U-Net reaches such a level when its patch is halved down to two voxels deep, e.g. five levels on a
32-voxel-deep patch (``ResidualUNet3D``'s default): training then diverges to NaN after a few hundred iterations.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["guard_bfloat16_convolutions", "is_bfloat16_guarded"]

# the input depths (Z) at which bfloat16 weight gradients of 3D convolutions are wrong
_WRONG_DEPTHS = frozenset({2})
_GUARDED = "_unet3d_monai_bfloat16_guard"


def _needs_float32(inputs: torch.Tensor) -> bool:
    return (
        inputs.ndim == 5
        and inputs.device.type == "cpu"
        and inputs.shape[2] in _WRONG_DEPTHS
        and torch.is_autocast_enabled("cpu")
        and torch.get_autocast_dtype("cpu") == torch.bfloat16
    )


def _before(module: nn.Module, args: tuple) -> tuple | None:
    if not args or not _needs_float32(args[0]):
        return None
    setattr(module, _GUARDED, True)
    torch.set_autocast_enabled("cpu", False)
    return (args[0].float(), *args[1:])


def _after(module: nn.Module, args: tuple, output: torch.Tensor | None) -> None:
    if getattr(module, _GUARDED, False):
        setattr(module, _GUARDED, False)
        torch.set_autocast_enabled("cpu", True)


def guard_bfloat16_convolutions(network: nn.Module) -> int:
    """Make every 3D (transposed) convolution of ``network`` compute in float32, forward and backward, when it runs
    under CPU bfloat16 autocast on an input two voxels deep; everything else keeps bfloat16. In place; calling it
    again changes nothing. Returns the number of convolutions guarded.

    Shapes: a guarded convolution takes ``(N, C_in, 2, Y, X)`` and returns ``(N, C_out, 2, Y', X')`` in float32
    instead of bfloat16 (the following layers take either); other inputs pass unchanged.

    Example:
        >>> conv = torch.nn.Conv3d(4, 4, 3, padding=1)
        >>> guard_bfloat16_convolutions(conv)
        1
        >>> with torch.autocast("cpu", dtype=torch.bfloat16):
        ...     conv(torch.rand(1, 4, 2, 8, 8)).dtype, conv(torch.rand(1, 4, 4, 8, 8)).dtype
        (torch.float32, torch.bfloat16)
    """
    guarded = 0
    for module in network.modules():
        if isinstance(module, (nn.Conv3d, nn.ConvTranspose3d)):
            if not hasattr(module, _GUARDED):
                setattr(module, _GUARDED, False)
                module.register_forward_pre_hook(_before)
                module.register_forward_hook(_after, always_call=True)
            guarded += 1
    return guarded


def is_bfloat16_guarded(network: nn.Module) -> bool:
    """Whether every 3D convolution of ``network`` is guarded (False when it has none)."""
    convolutions = [m for m in network.modules() if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d))]
    return bool(convolutions) and all(hasattr(m, _GUARDED) for m in convolutions)
