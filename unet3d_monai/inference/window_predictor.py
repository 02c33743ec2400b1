"""The per-window forward pass used by sliding-window prediction: activation, 2D slices, flips, AMP."""

from __future__ import annotations

import hashlib
import itertools
from contextlib import nullcontext

import torch
from torch import nn

from unet3d_monai.networks.inspection import network_in_channels, network_out_channels, network_spatial_dims
from unet3d_monai.options import as_bool
from unet3d_monai.runtime.cpu_bfloat16 import cpu_bfloat16_enabled

__all__ = [
    "WindowPredictor",
    "network_digest",
    "network_in_channels",
    "network_out_channels",
    "network_spatial_dims",
    "resolve_device",
]


def network_digest(network: nn.Module) -> str:
    """SHA-256 of the network's parameters and buffers (names, shapes and values), to recognise its weights."""
    digest = hashlib.sha256()
    for name, tensor in network.state_dict().items():
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def resolve_device(device: torch.device | str | None) -> torch.device:
    """``device`` as a ``torch.device``; ``None`` means CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class WindowPredictor(nn.Module):
    """Runs the network on one batch of windows and returns probabilities (after ``final_activation``).

    This is the ``network`` a sliding-window inferer or an evaluator runs on each batch of windows: the activation
    and the flips belong to each window, before the windows are blended.

    Windows always arrive as 3D batches ``(B, C_in, Z, Y, X)``. For a 2D network the windows are one slice
    deep, ``(B, C_in, 1, Y, X)``: the singleton depth is removed before the forward pass and restored after,
    so a 2D network predicts a volume slice by slice. With ``tta`` the output is the mean over all axis flips
    of the spatial axes the network sees (8 flips in 3D, 4 in 2D), each flipped back before averaging.
    With ``amp`` the forward pass runs under ``torch.autocast`` on the window's device (None: on CUDA windows, and on
    CPU windows in bfloat16 when ``cpu_bf16`` says so); with ``channels_last`` the windows are passed in
    channels-last memory format (None: on CUDA windows only). The output is float32, ``(B, C_out, Z, Y, X)``.

    Args:
        network: a 2D or 3D network returning logits; its ``final_activation`` module (Sigmoid, Softmax or
            Identity) is applied to every window. A network without ``final_activation`` is used as is.
        tta: average over the axis flips.
        amp: run the forward pass under autocast; None: on CUDA, and on the CPU as ``cpu_bf16`` says.
        channels_last: pass windows in channels-last memory format; None: on CUDA only.
        cpu_bf16: bfloat16 autocast of CPU windows when ``amp`` is None: ``"auto"`` where the CPU computes bfloat16
            natively (AVX512-BF16 or AMX; see :func:`~unet3d_monai.runtime.cpu_bfloat16_enabled`), true
            or false.

    Example:
        >>> net = torch.nn.Conv3d(1, 2, 3, padding=1)
        >>> WindowPredictor(net, tta=True)(torch.zeros(2, 1, 8, 8, 8)).shape
        torch.Size([2, 2, 8, 8, 8])
    """

    def __init__(
        self,
        network: nn.Module,
        tta: bool | str = False,
        amp: bool | str | None = None,
        channels_last: bool | None = None,
        cpu_bf16: bool | str = False,
    ) -> None:
        super().__init__()
        self.network = network
        self.spatial_dims = network_spatial_dims(network)
        self.in_channels = network_in_channels(network)
        self.tta = as_bool(tta, "tta")
        self.amp = None if amp is None else as_bool(amp, "amp")
        self.channels_last = channels_last
        self.cpu_bf16 = cpu_bfloat16_enabled(cpu_bf16, "cpu")
        activation = network.final_activation if hasattr(network, "final_activation") else None
        self.activation: nn.Module = activation if isinstance(activation, nn.Module) else nn.Identity()

    def _forward(self, windows: torch.Tensor) -> torch.Tensor:
        on_cuda = windows.device.type == "cuda"
        if on_cuda if self.channels_last is None else self.channels_last:
            memory_format = torch.channels_last_3d if windows.ndim == 5 else torch.channels_last
            windows = windows.contiguous(memory_format=memory_format)
        context = torch.autocast(device_type=windows.device.type) if self.autocast_on(windows.device) else nullcontext()
        with context:
            logits = self.network(windows)
        return self.activation(logits.float())

    def autocast_on(self, device: torch.device | str) -> bool:
        """Whether windows on ``device`` run under autocast (bfloat16 on the CPU, float16 on CUDA)."""
        device_type = torch.device(device).type
        if self.amp is not None:
            return self.amp
        return device_type == "cuda" or (device_type == "cpu" and self.cpu_bf16)

    def _flip_forward(self, windows: torch.Tensor) -> torch.Tensor:
        if not self.tta:
            return self._forward(windows)
        axes = list(range(2, windows.ndim))
        total = None
        count = 0
        for k in range(len(axes) + 1):
            for flip_axes in itertools.combinations(axes, k):
                flipped = torch.flip(windows, flip_axes) if flip_axes else windows
                output = self._forward(flipped)
                output = torch.flip(output, flip_axes) if flip_axes else output
                total = output if total is None else total + output
                count += 1
        return total / count

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        if windows.ndim != 5:
            raise ValueError(f"Windows must be (B, C, Z, Y, X); got shape {tuple(windows.shape)}.")
        if windows.shape[1] != self.in_channels:
            raise ValueError(
                f"Windows have {windows.shape[1]} channels but the network expects {self.in_channels} input channels."
            )
        if self.spatial_dims == 2:
            if windows.shape[2] != 1:
                raise ValueError(
                    f"A 2D network predicts one slice at a time; got windows of depth {windows.shape[2]} "
                    f"(shape {tuple(windows.shape)}); use a roi_size with depth 1."
                )
            return self._flip_forward(windows[:, :, 0]).unsqueeze(2)
        return self._flip_forward(windows)
