"""Whether a CPU run computes in bfloat16: native support of this CPU, and the ``cpu_bf16`` option."""

from __future__ import annotations

import torch

from unet3d_monai.options import as_bool

__all__ = ["cpu_bfloat16_enabled", "native_cpu_bfloat16"]


def native_cpu_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), as oneDNN reports it.

    Without native support bfloat16 is emulated and autocast slows training down instead of speeding it up.
    """
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_bfloat16_enabled(option: bool | str, device: torch.device | str) -> bool:
    """Resolve a ``cpu_bf16`` bundle option: ``"auto"`` is on when training runs on a CPU with native bfloat16;
    ``true``/``false`` force it (on the CPU only: CUDA uses MONAI's own AMP).

    Example:
        >>> cpu_bfloat16_enabled(False, "cpu"), cpu_bfloat16_enabled("auto", "cuda")
        (False, False)
    """
    if torch.device(device).type != "cpu":
        return False
    if isinstance(option, str) and option.strip().lower() == "auto":
        return native_cpu_bfloat16()
    return as_bool(option, "cpu_bf16")
