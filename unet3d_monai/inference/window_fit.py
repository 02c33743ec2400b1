"""Sliding windows fitted to the volume: never larger than the volume, padded only to the network's minimum size.

A window that extends beyond the volume is filled with padding, and the normalisation layers of the network
(GroupNorm, BatchNorm in eval mode with batch statistics, instance norms) then normalise over mostly padding:
the probabilities of a thin slab predicted with a window twice its depth collapse. The rule here is that a
window is clipped to the volume along every axis where the volume is at least as large as the network's
minimum input (the product of its pooling strides), and only an axis smaller than that minimum is padded, by
reflection, up to the minimum.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from monai.inferers import SlidingWindowInferer
from monai.inferers.utils import sliding_window_inference
from monai.utils import ensure_tuple_rep
from torch import nn

__all__ = ["FittedSlidingWindowInferer", "cpu_stitched_inferer", "fit_window", "network_min_window"]

logger = logging.getLogger(__name__)

_POOLS = (nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool2d, nn.AvgPool3d)


def _find_network(network: Any) -> nn.Module | None:
    """The network behind a callable: the ``network`` of a wrapper (a window predictor, the out-of-memory fallback
    around it), unwrapped again, or the module itself."""
    inner = getattr(network, "network", None)
    if isinstance(inner, nn.Module) and inner is not network:
        return _find_network(inner)
    return network if isinstance(network, nn.Module) else None


def network_min_window(network: nn.Module) -> tuple[int, ...]:
    """The smallest input a U-Net accepts along each spatial axis: the product of its pooling strides.

    The package's networks state it (``min_input_size``, which also counts unpadded convolutions); for other
    networks every pooling layer divides the size by its stride; the deepest level needs at least one voxel, so an input
    smaller than the product of the strides along an axis cannot pass. A 3D network gives three sizes, a 2D
    network two; a network without pooling gives ones.

    Example:
        >>> from unet3d_monai.networks import UNet3D
        >>> network_min_window(UNet3D(1, 1, f_maps=8, num_levels=3, pool_kernel_size=(1, 2, 2)))
        (1, 4, 4)
    """
    recorded_minimum = getattr(network, "min_input_size", None)
    if recorded_minimum is not None:
        return tuple(int(m) for m in recorded_minimum)
    spatial_dims = None
    strides: list[tuple[int, ...]] = []
    for module in network.modules():
        if isinstance(module, (nn.Conv2d, nn.Conv3d)) and spatial_dims is None:
            spatial_dims = 3 if isinstance(module, nn.Conv3d) else 2
        if isinstance(module, _POOLS):
            dims = 3 if isinstance(module, (nn.MaxPool3d, nn.AvgPool3d)) else 2
            stride = module.stride if module.stride is not None else module.kernel_size
            strides.append(tuple(stride) if isinstance(stride, Sequence) else (int(stride),) * dims)
    spatial_dims = spatial_dims or (len(strides[0]) if strides else 3)
    return tuple(math.prod(s[axis] for s in strides) for axis in range(spatial_dims))


def fit_window(
    roi_size: Sequence[int], spatial_shape: Sequence[int], min_window: Sequence[int] | None = None
) -> tuple[int, ...]:
    """The window to use on a volume: ``roi_size`` clipped to the volume, but never below ``min_window``.

    Along an axis where the volume is at least ``min_window`` the window is ``min(roi, size)``; along a shorter
    axis it is ``min_window`` (the volume is then padded up to it). ``min_window`` may have one size fewer than
    ``roi_size`` (a 2D network sliding over a ``(Z, Y, X)`` volume): its depth is then 1.

    Example:
        >>> fit_window((80, 170, 170), (48, 128, 300), (16, 16, 16))
        (48, 128, 170)
        >>> fit_window((32, 64, 64), (8, 100, 100), (16, 16, 16))
        (16, 64, 64)
    """
    roi = tuple(int(r) for r in roi_size)
    shape = tuple(int(s) for s in spatial_shape)
    if len(roi) != len(shape):
        raise ValueError(f"roi_size {roi} and the volume's spatial shape {shape} have different dimensions.")
    minimum = (1,) * len(roi) if min_window is None else tuple(int(m) for m in min_window)
    if len(minimum) == len(roi) - 1:
        minimum = (1, *minimum)
    if len(minimum) != len(roi):
        raise ValueError(f"min_window {minimum} does not match roi_size {roi}.")
    return tuple(max(min(r, s), m) if s >= m else m for r, s, m in zip(roi, shape, minimum))


def _reflect_pad(inputs: torch.Tensor, window: Sequence[int]) -> tuple[torch.Tensor, list[int]]:
    """Pad the spatial axes of ``(B, C, *spatial)`` at their end up to ``window``: reflection where the axis is
    long enough for it, edge replication otherwise. Returns the padded tensor and the padding per axis."""
    spatial = inputs.shape[2:]
    extra = [max(w - s, 0) for w, s in zip(window, spatial)]
    for axis, amount in enumerate(extra):
        dim = 2 + axis
        while amount > 0:  # reflection needs pad < size; repeat it for very short axes
            current = inputs.shape[dim]
            step = min(amount, current - 1) if current > 1 else 0
            if step == 0:
                reps = [1] * inputs.ndim
                reps[dim] = amount + 1
                inputs = inputs.narrow(dim, 0, 1).repeat(*reps).narrow(dim, 0, amount + current)
                break
            tail = inputs.narrow(dim, current - 1 - step, step).flip(dim)
            inputs = torch.cat([inputs, tail], dim=dim)
            amount -= step
    return inputs, extra


class FittedSlidingWindowInferer(SlidingWindowInferer):
    """MONAI's ``SlidingWindowInferer`` whose window is fitted to each volume it runs on (see :func:`fit_window`).

    For every call the window is ``roi_size`` clipped to the input's spatial shape, and never below the
    network's minimum input (``min_window``, or read from the network with :func:`network_min_window` when
    None). Only an axis shorter than that minimum is padded, by reflection (edge replication when the axis is too
    short to reflect), and the output is cropped back. Everything else (Gaussian blending, ``sw_batch_size``,
    devices, buffering) is MONAI's.

    Shapes: input ``(B, C_in, *spatial)``, output ``(B, C_out, *spatial)``.

    Args:
        roi_size: the largest window, one size per spatial axis of the input.
        min_window: smallest window per axis; None reads it from the network passed to the call.
        others: as :class:`monai.inferers.SlidingWindowInferer` (``padding_mode`` is not used: padding is by
            reflection, and only below the minimum window).

    Example:
        >>> net = torch.nn.Conv3d(1, 1, 3, padding=1)
        >>> inferer = FittedSlidingWindowInferer(roi_size=(80, 64, 64), overlap=0.25, mode="gaussian")
        >>> inferer(torch.zeros(1, 1, 20, 100, 40), net).shape
        torch.Size([1, 1, 20, 100, 40])
    """

    def __init__(
        self,
        roi_size: Sequence[int] | int,
        sw_batch_size: int = 1,
        overlap: Sequence[float] | float = 0.25,
        mode: str = "gaussian",
        sigma_scale: Sequence[float] | float = 0.125,
        cval: float = 0.0,
        sw_device: torch.device | str | None = None,
        device: torch.device | str | None = None,
        progress: bool = False,
        cache_roi_weight_map: bool = False,
        cpu_thresh: int | None = None,
        buffer_steps: int | None = None,
        buffer_dim: int = -1,
        with_coord: bool = False,
        min_window: Sequence[int] | None = None,
    ) -> None:
        super().__init__(
            roi_size=roi_size,
            sw_batch_size=sw_batch_size,
            overlap=overlap,
            mode=mode,
            sigma_scale=sigma_scale,
            padding_mode="constant",
            cval=cval,
            sw_device=sw_device,
            device=device,
            progress=progress,
            cache_roi_weight_map=cache_roi_weight_map,
            cpu_thresh=cpu_thresh,
            buffer_steps=buffer_steps,
            buffer_dim=buffer_dim,
            with_coord=with_coord,
        )
        self.min_window = None if min_window is None else tuple(int(m) for m in min_window)

    def window_for(self, spatial_shape: Sequence[int], network: Any = None) -> tuple[int, ...]:
        """The window this inferer uses on a volume of ``spatial_shape`` with ``network``.

        A ``roi_size`` with one size fewer than the volume's axes (a 2D network's ``(Y, X)`` sliding over a
        ``(Z, Y, X)`` volume) is one slice deep.
        """
        roi = ensure_tuple_rep(self.roi_size, len(spatial_shape)) if isinstance(self.roi_size, int) else self.roi_size
        if len(roi) == len(spatial_shape) - 1:
            roi = (1, *roi)
        if len(roi) != len(spatial_shape):
            raise ValueError(
                f"roi_size {tuple(roi)} has {len(roi)} sizes but the input has {len(spatial_shape)} spatial axes "
                f"{tuple(spatial_shape)}."
            )
        minimum = self.min_window
        if minimum is None:
            module = _find_network(network)
            minimum = network_min_window(module) if module is not None else None
        return fit_window(roi, spatial_shape, minimum)

    def __call__(
        self, inputs: torch.Tensor, network: Callable[..., torch.Tensor], *args: Any, **kwargs: Any
    ) -> torch.Tensor:
        spatial = tuple(inputs.shape[2:])
        window = self.window_for(spatial, network)
        if any(w > s for w, s in zip(window, spatial)):
            logger.info(
                "Volume %s is smaller than the network's minimum window %s along some axis: padded by reflection.",
                spatial,
                window,
            )
        padded, extra = _reflect_pad(inputs, window)
        cached = self.roi_weight_map
        overlap = self.overlap
        if isinstance(overlap, Sequence) and len(overlap) == len(spatial) - 1:
            overlap = (0.0, *overlap)
        device = kwargs.pop("device", self.device)
        buffer_steps = kwargs.pop("buffer_steps", self.buffer_steps)
        buffer_dim = kwargs.pop("buffer_dim", self.buffer_dim)
        if device is None and self.cpu_thresh is not None and padded.shape[2:].numel() > self.cpu_thresh:
            device = "cpu"
        output = sliding_window_inference(
            padded,
            window,
            self.sw_batch_size,
            network,
            overlap,
            self.mode,
            self.sigma_scale,
            "constant",
            self.cval,
            self.sw_device,
            device,
            self.progress,
            cached if cached is not None and tuple(cached.shape[-len(window) :]) == window else None,
            None,
            buffer_steps,
            buffer_dim,
            self.with_coord,
            *args,
            **kwargs,
        )
        if any(extra):
            crop = (slice(None), slice(None), *(slice(0, s) for s in spatial))
            output = output[crop]
        return output


def cpu_stitched_inferer(
    roi_size: Sequence[int] | int,
    overlap: Sequence[float] | float,
    sw_batch_size: int,
    device: torch.device,
    progress: bool = False,
    min_window: Sequence[int] | None = None,
) -> FittedSlidingWindowInferer:
    """The inferer of the prediction functions: Gaussian-blended windows fitted to the volume, run on ``device``
    and stitched on the CPU (a whole volume's output never has to fit in accelerator memory).

    Example:
        >>> inferer = cpu_stitched_inferer((80, 64, 64), overlap=0.25, sw_batch_size=2, device=torch.device("cpu"))
        >>> inferer(torch.zeros(1, 1, 20, 100, 40), torch.nn.Conv3d(1, 1, 3, padding=1)).shape
        torch.Size([1, 1, 20, 100, 40])
    """
    return FittedSlidingWindowInferer(
        roi_size=roi_size,
        sw_batch_size=sw_batch_size,
        overlap=overlap,
        mode="gaussian",
        sw_device=device,
        device=torch.device("cpu"),
        progress=progress,
        min_window=min_window,
    )
