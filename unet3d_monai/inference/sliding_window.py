"""In-memory Gaussian sliding-window prediction of one volume with MONAI's ``SlidingWindowInferer``."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from monai.inferers import SlidingWindowInferer
from torch import nn

from unet3d_monai.inference.autocast import cpu_bfloat16_enabled
from unet3d_monai.inference.inferer import cpu_stitched_inferer
from unet3d_monai.inference.window_fit import network_min_window
from unet3d_monai.inference.window_predictor import (
    WindowPredictor,
    network_in_channels,
    network_spatial_dims,
    resolve_device,
)

__all__ = ["predict", "prepare_window_predictor", "to_channel_first_3d", "window_roi_size", "infer_volume"]

logger = logging.getLogger(__name__)


def prepare_window_predictor(
    network: nn.Module,
    device: torch.device | str | None = None,
    tta: bool = False,
    amp: bool | None = None,
    cpu_bf16: bool | str = False,
) -> tuple[WindowPredictor, torch.device]:
    """Put ``network`` in eval mode on ``device`` and wrap it as a :class:`WindowPredictor`.

    ``device=None`` picks CUDA when available. ``amp=None`` switches autocast on for CUDA, and on the CPU when
    ``cpu_bf16`` says so (``"auto"``: where the CPU computes bfloat16 natively; see :func:`cpu_bfloat16_enabled`);
    ``amp`` true or false forces it. On CUDA the network and its windows also use the channels-last memory format.
    """
    device = resolve_device(device)
    on_cuda = device.type == "cuda"
    use_amp = (on_cuda or cpu_bfloat16_enabled(cpu_bf16, device)) if amp is None else bool(amp)
    network.eval()
    network.to(device)
    if on_cuda:
        memory_format = torch.channels_last_3d if network_spatial_dims(network) == 3 else torch.channels_last
        network.to(memory_format=memory_format)
    return WindowPredictor(network, tta=tta, amp=use_amp, channels_last=on_cuda), device


def to_channel_first_3d(volume: np.ndarray | torch.Tensor, spatial_dims: int, in_channels: int) -> torch.Tensor:
    """The volume as a float32 tensor ``(C, Z, Y, X)``, the layout every prediction runs on.

    Accepted layouts: for a 3D network ``(Z, Y, X)`` or ``(C, Z, Y, X)``; for a 2D network ``(Y, X)``,
    ``(C, Y, X)`` (given a depth of 1) or ``(C, Z, Y, X)`` (predicted slice by slice).

    Raises:
        ValueError: the layout is none of these, or the channel count differs from ``in_channels``.
    """
    tensor = torch.as_tensor(np.asarray(volume) if not isinstance(volume, torch.Tensor) else volume)
    tensor = tensor.to(torch.float32)
    if tensor.ndim == spatial_dims:
        tensor = tensor[None]
    if spatial_dims == 2 and tensor.ndim == 3:
        tensor = tensor[:, None]
    if tensor.ndim != 4:
        layouts = "(Z, Y, X) or (C, Z, Y, X)" if spatial_dims == 3 else "(Y, X), (C, Y, X) or (C, Z, Y, X)"
        raise ValueError(f"A {spatial_dims}D network needs a volume shaped {layouts}; got shape {tuple(volume.shape)}.")
    if tensor.shape[0] != in_channels:
        raise ValueError(
            f"Volume of shape {tuple(volume.shape)} has {tensor.shape[0]} channels but the network expects "
            f"{in_channels} input channels."
        )
    return tensor


def window_roi_size(roi_size: Sequence[int] | int, spatial_dims: int) -> tuple[int, int, int]:
    """The 3D window size for a network: a 2D network's roi ``(Y, X)`` or ``(1, Y, X)`` becomes ``(1, Y, X)``.

    Example:
        >>> window_roi_size([256, 256], 2), window_roi_size(64, 3)
        ((1, 256, 256), (64, 64, 64))
    """
    roi = [int(r) for r in roi_size] if isinstance(roi_size, Sequence) else [int(roi_size)] * spatial_dims
    if spatial_dims == 2:
        if len(roi) == 2:
            roi = [1, *roi]
        if len(roi) != 3 or roi[0] != 1:
            raise ValueError(
                f"roi_size {tuple(roi_size) if isinstance(roi_size, Sequence) else roi_size} does not suit a 2D "
                "network: give (Y, X) or (1, Y, X)."
            )
    elif len(roi) != 3:
        raise ValueError(f"roi_size {tuple(roi)} must hold 3 sizes (Z, Y, X) for a 3D network.")
    return tuple(roi)


def infer_volume(
    window_predictor: WindowPredictor, volume: torch.Tensor, inferer: SlidingWindowInferer, device: torch.device
) -> torch.Tensor:
    """Run ``inferer`` over a ``(C, Z, Y, X)`` tensor; the stitched output ``(C_out, Z, Y, X)`` is on the CPU."""
    with torch.inference_mode():
        output = inferer(volume[None], window_predictor, device=torch.device("cpu"))
    return output[0]


def predict(
    network: nn.Module,
    volume: np.ndarray | torch.Tensor,
    roi_size: Sequence[int] | int,
    overlap: Sequence[float] | float = 0.25,
    sw_batch_size: int = 1,
    device: torch.device | str | None = None,
    tta: bool = False,
    amp: bool | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Predict a whole (already normalised) volume with Gaussian-blended sliding windows.

    Windows of ``roi_size`` overlapping by ``overlap`` are predicted by ``network`` (its ``final_activation``
    applied to each window) and blended with MONAI's Gaussian importance map
    (``SlidingWindowInferer(mode="gaussian")``). The window is ``roi_size`` clipped to the volume; only an axis
    shorter than the network's minimum input is padded, by reflection (see :class:`FittedSlidingWindowInferer`).
    A 2D network predicts a ``(C, Z, Y, X)`` volume slice by slice.
    The network is put in eval mode and moved to ``device``; gradients are off (``torch.inference_mode``).

    Args:
        network: a 2D or 3D network returning logits, with a ``final_activation`` module.
        volume: ``(Z, Y, X)`` or ``(C, Z, Y, X)`` for a 3D network; ``(Y, X)``, ``(C, Y, X)`` or
            ``(C, Z, Y, X)`` for a 2D network.
        roi_size: window size, ``(Z, Y, X)``; for a 2D network ``(Y, X)`` or ``(1, Y, X)``.
        overlap: overlap of neighbouring windows, in [0, 1).
        sw_batch_size: windows per forward pass.
        device: where the network runs; None picks CUDA when available, else CPU.
        tta: average over the axis flips (8 in 3D, 4 in 2D), each flipped back.
        amp: autocast; None switches it on for CUDA only.
        progress: show a progress bar over window batches.

    Returns:
        float32 probabilities ``(C_out, *spatial)`` with the volume's spatial shape.

    Example:
        >>> net = torch.nn.Conv3d(1, 1, 3, padding=1)
        >>> net.final_activation = torch.nn.Sigmoid()
        >>> predict(net, np.zeros((20, 40, 40), np.float32), roi_size=(16, 32, 32)).shape
        (1, 20, 40, 40)
    """
    spatial_dims = network_spatial_dims(network)
    tensor = to_channel_first_3d(volume, spatial_dims, network_in_channels(network))
    window_predictor, device = prepare_window_predictor(network, device, tta, amp)
    roi = window_roi_size(roi_size, spatial_dims)
    inferer = cpu_stitched_inferer(roi, overlap, sw_batch_size, device, progress, network_min_window(network))
    output = infer_volume(window_predictor, tensor, inferer, device).numpy()
    if spatial_dims == 2 and volume.ndim in (2, 3):
        output = output[:, 0]
    return output
