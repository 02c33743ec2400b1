"""MONAI ``Splitter`` over the global window grid of a volume, whole or one block of it at a time.

MONAI's ``SlidingWindowSplitter`` pads the end of the image and steps on from the first window; MONAI's
``sliding_window_inference`` (what in-memory prediction runs) instead shifts the last window back so that it
ends at the volume's edge. Block-wise prediction must use the second grid, the same for the whole volume, for
its result to equal the in-memory one: a block predicts only the windows it owns (those whose first voxel lies
in the block), never a grid of its own.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from monai.inferers import Splitter
from monai.utils import ensure_tuple_rep

from unet3d_monai.inference.window_fit import fit_window, reflect_pad
from unet3d_monai.inference.window_options import check_window_options
from unet3d_monai.io.region import Region

__all__ = ["FittedWindowSplitter", "RegionSource", "VolumeBlock", "window_starts"]


class RegionSource(Protocol):
    """A channel-first volume ``(C, Z, Y, X)`` read region by region (already normalised), e.g.
    :class:`~unet3d_monai.inference.volumes.HDF5Volume`."""

    shape: tuple[int, ...]

    def read(self, region: Region) -> np.ndarray:
        """float32 array ``(C, *region)`` for a spatial region inside the volume."""
        ...


def window_starts(size: int, window: int, overlap: float) -> list[int]:
    """Start of every window along one axis, as MONAI's ``sliding_window_inference`` places them.

    Windows step by ``int(window * (1 - overlap))`` (at least 1; a window as long as the axis steps by its
    length); the last one is shifted back to end at the axis' end. ``window`` may exceed ``size`` (the axis is then
    padded up to the window, and the one window starts at 0).

    Example:
        >>> window_starts(21, 8, 0.5)
        [0, 4, 8, 12, 13]
    """
    padded = max(size, window)
    step = window if window == padded else max(int(window * (1 - overlap)), 1)
    starts = []
    for index in range(math.ceil(padded / step)):
        start = index * step
        starts.append(start - max(start + window - padded, 0))
        if start + window >= padded:
            break
    return starts


class VolumeBlock:
    """One block of a volume read from disk: the splitter yields only the windows whose first voxel lies in it.

    Args:
        source: the whole volume, read region by region.
        block: the block's spatial region.

    Example::

        FittedWindowSplitter((64, 128, 128))(VolumeBlock(HDF5Volume("big.h5"), (slice(0, 128),) * 3))
    """

    def __init__(self, source: RegionSource, block: Region) -> None:
        self.source = source
        self.block = tuple(block)


class FittedWindowSplitter(Splitter):
    """Splits a volume into the windows of MONAI's sliding-window grid, with the window fitted to the volume.

    The window is ``roi_size`` fitted to the volume (:func:`~unet3d_monai.inference.window_fit.fit_window`: never
    larger than the volume, and only an axis shorter than ``min_window`` is padded, by reflection, up to it); the
    windows lie where MONAI's ``sliding_window_inference`` puts them (:func:`window_starts`). With
    :class:`~unet3d_monai.inference.merger.GaussianWeightedMerger`, MONAI's ``PatchInferer`` then reproduces
    :class:`~unet3d_monai.inference.window_fit.FittedSlidingWindowInferer`.

    Inputs: a tensor ``(1, C, Z, Y, X)`` (every window), or a :class:`VolumeBlock` (the windows owned by the
    block; its input is read once, the block plus the halo its windows reach). Yields ``(patch, location)``
    pairs: ``patch`` ``(1, C, *window)``, ``location`` the window's first voxel in the volume.

    Args:
        roi_size: the largest window ``(Z, Y, X)``.
        overlap: overlap of neighbouring windows, in [0, 1), one value or one per axis.
        min_window: the network's smallest input per axis (see
            :func:`~unet3d_monai.inference.window_fit.network_min_window`); None means 1.
        device: where the patches are put (None: where the input is).

    Example:
        >>> splitter = FittedWindowSplitter((8, 16, 16), overlap=0.5)
        >>> [location for _, location in splitter(torch.zeros(1, 1, 8, 20, 16))]
        [(0, 0, 0), (0, 4, 0)]
    """

    def __init__(
        self,
        roi_size: Sequence[int],
        overlap: Sequence[float] | float = 0.25,
        min_window: Sequence[int] | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        check_window_options(roi_size, overlap)
        super().__init__(patch_size=tuple(int(r) for r in roi_size), device=device)
        self.overlap = tuple(float(o) for o in ensure_tuple_rep(overlap, len(self.patch_size)))
        self.min_window = None if min_window is None else tuple(int(m) for m in min_window)

    def window_for(self, spatial_shape: Sequence[int]) -> tuple[int, ...]:
        """The window used on a volume of ``spatial_shape``."""
        return fit_window(self.patch_size, spatial_shape, self.min_window)

    def axis_starts(self, spatial_shape: Sequence[int]) -> list[list[int]]:
        """Window starts along each axis of a volume of ``spatial_shape`` (the grid is their product)."""
        window = self.window_for(spatial_shape)
        return [window_starts(s, w, o) for s, w, o in zip(spatial_shape, window, self.overlap)]

    def owned_starts(self, spatial_shape: Sequence[int], block: Region) -> list[list[int]]:
        """Window starts along each axis that lie in ``block``: the windows the block owns are their product."""
        return [
            [s for s in starts if b.start <= s < b.stop] for starts, b in zip(self.axis_starts(spatial_shape), block)
        ]

    def halo_region(self, spatial_shape: Sequence[int], block: Region) -> Region | None:
        """The region the windows owned by ``block`` cover, clipped to the volume (None: it owns no window)."""
        window = self.window_for(spatial_shape)
        owned = self.owned_starts(spatial_shape, block)
        if any(not starts for starts in owned):
            return None
        return tuple(slice(starts[0], min(starts[-1] + w, s)) for starts, w, s in zip(owned, window, spatial_shape))

    def get_input_shape(self, inputs: Any) -> tuple:
        """Spatial shape of the volume (the whole one, also for a :class:`VolumeBlock`)."""
        if isinstance(inputs, VolumeBlock):
            return tuple(int(s) for s in inputs.source.shape[1:])
        return tuple(int(s) for s in inputs.shape[2:])

    def get_padded_shape(self, inputs: Any) -> tuple:
        """Spatial shape after padding the axes shorter than the window."""
        shape = self.get_input_shape(inputs)
        return tuple(max(s, w) for s, w in zip(shape, self.window_for(shape)))

    def __call__(self, inputs: Any) -> Iterator[tuple[torch.Tensor, tuple[int, ...]]]:
        shape = self.get_input_shape(inputs)
        window = self.window_for(shape)
        if isinstance(inputs, VolumeBlock):
            starts = self.owned_starts(shape, inputs.block)
            region = self.halo_region(shape, inputs.block)
            if region is None:
                return
            data = torch.from_numpy(inputs.source.read(region))[None]
        else:
            starts = self.axis_starts(shape)
            region = tuple(slice(0, s) for s in shape)
            data = inputs
        if any(w > s for w, s in zip(window, shape)):
            data, _ = reflect_pad(data, window)
        if self.device is not None:
            data = data.to(self.device)
        for location in itertools.product(*starts):
            local = tuple(slice(p - r.start, p - r.start + w) for p, r, w in zip(location, region, window))
            yield data[(slice(None), slice(None), *local)], tuple(int(p) for p in location)
