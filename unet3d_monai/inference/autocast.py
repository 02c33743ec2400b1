"""An inferer that runs the network under ``torch.autocast``, for mixed precision outside MONAI's CUDA-only AMP."""

from __future__ import annotations

from typing import Any

import torch
from monai.inferers import Inferer
from torch import nn

from unet3d_monai.runtime.cpu_bfloat16 import cpu_bfloat16_enabled, native_cpu_bfloat16

__all__ = ["AutocastInferer", "cpu_bfloat16_enabled", "native_cpu_bfloat16"]

_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


class AutocastInferer(Inferer):
    """Call the network on the whole input inside ``torch.autocast(device_type, dtype)`` when ``enabled``.

    MONAI's trainers switch on automatic mixed precision for CUDA only; on CPUs with native bfloat16 arithmetic
    (AVX512-BF16 or AMX) bfloat16 autocast roughly halves the time of a 3D U-Net training step. The logits come back
    in the autocast dtype; the package's losses compute in float32 from them. A 3D network trained this way on the
    CPU should first pass through :func:`~unet3d_monai.runtime.guard_bfloat16_convolutions` (the bundles' run
    settings do it, single-process and distributed): oneDNN's bfloat16 weight gradients of 3D convolutions on
    two-voxel-deep inputs are wrong.

    Args:
        device_type: ``"cpu"`` or ``"cuda"``; the autocast device.
        dtype: ``"bfloat16"`` or ``"float16"``.
        enabled: run under autocast (False: an ordinary ``SimpleInferer``).

    Example::

        >>> inferer = AutocastInferer("cpu", "bfloat16")
        >>> logits = inferer(torch.rand(1, 1, 16, 32, 32), network)   # doctest: +SKIP
    """

    def __init__(self, device_type: str = "cpu", dtype: str = "bfloat16", enabled: bool = True) -> None:
        super().__init__()
        if dtype not in _DTYPES:
            raise ValueError(f"AutocastInferer dtype must be one of {sorted(_DTYPES)}, got {dtype!r}.")
        if device_type not in ("cpu", "cuda"):
            raise ValueError(f"AutocastInferer device_type must be 'cpu' or 'cuda', got {device_type!r}.")
        self.device_type = device_type
        self.dtype = _DTYPES[dtype]
        self.enabled = bool(enabled)

    def __call__(self, inputs: torch.Tensor, network: nn.Module, *args: Any, **kwargs: Any) -> Any:
        with torch.autocast(self.device_type, dtype=self.dtype, enabled=self.enabled):
            return network(inputs, *args, **kwargs)
