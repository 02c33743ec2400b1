"""MONAI ``Merger`` that blends windows with the Gaussian importance map, in memory or into a store on disk."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from monai.data.utils import compute_importance_map
from monai.inferers import Merger
from monai.utils import BlendMode, look_up_option

from unet3d_monai.inference.partials import PartialStore
from unet3d_monai.io.region import Region

__all__ = ["GaussianWeightedMerger"]


class GaussianWeightedMerger(Merger):
    """Adds up windows weighted by MONAI's Gaussian importance map, as ``sliding_window_inference`` does.

    Each window ``(1, C, *window)`` at ``location`` (its first voxel in the volume) is multiplied by the
    importance map of its size (``compute_importance_map(window, mode, sigma_scale)``, as MONAI computes it) and
    added to the weighted sums; the map itself is added to the weights. Only the part of a window inside
    ``region`` (and inside the volume, ``cropped_shape``) is kept.

    - Without ``store`` (in memory), :meth:`finalize` returns the blended output ``(1, C, *region)``: sums divided
      by weights, equal to ``sliding_window_inference`` on the same grid.
    - With ``store`` (out of core), :meth:`finalize` writes the sums and weights ``(C + 1, *region)`` of this
      block to ``store`` under ``key`` and returns ``region``; the blocks' partials are added up and divided
      later, region by region (:mod:`unet3d_monai.inference.block_prediction`), so memory holds one block.

    Args:
        merged_shape: ``(1, C, *padded spatial)``, set by ``PatchInferer``.
        cropped_shape: ``(1, C, *spatial)`` of the volume, set by ``PatchInferer``.
        device: where the sums are kept (default CPU).
        mode: ``"gaussian"`` or ``"constant"`` blending.
        sigma_scale: the Gaussian's sigma relative to the window size.
        region: the spatial region accumulated (default: the whole volume).
        store: where :meth:`finalize` writes the partial sums and weights.
        key: the block's index in ``store``.

    Example:
        >>> from monai.inferers import PatchInferer
        >>> from unet3d_monai.inference.splitter import FittedWindowSplitter
        >>> inferer = PatchInferer(FittedWindowSplitter((8, 16, 16), overlap=0.25), GaussianWeightedMerger)
        >>> inferer(torch.ones(1, 1, 10, 20, 20), lambda x: x).shape
        torch.Size([1, 1, 10, 20, 20])
    """

    def __init__(
        self,
        merged_shape: Sequence[int],
        cropped_shape: Sequence[int] | None = None,
        device: torch.device | str | None = None,
        mode: BlendMode | str = BlendMode.GAUSSIAN,
        sigma_scale: Sequence[float] | float = 0.125,
        region: Region | None = None,
        store: PartialStore | None = None,
        key: Sequence[int] | None = None,
    ) -> None:
        super().__init__(merged_shape, cropped_shape, "cpu" if device is None else device)
        if len(self.merged_shape) < 3:
            raise ValueError(f"merged_shape {self.merged_shape} must be (1, C, *spatial).")
        spatial = self.cropped_shape[2:]
        self.region = tuple(slice(0, s) for s in spatial) if region is None else tuple(region)
        if len(self.region) != len(spatial) or any(
            not 0 <= r.start < r.stop <= s for r, s in zip(self.region, spatial)
        ):
            raise ValueError(f"region {self.region} must be a non-empty region inside the volume {tuple(spatial)}.")
        if (store is None) != (key is None):
            raise ValueError("store and key go together: give both (out of core) or neither (in memory).")
        self.mode = look_up_option(mode, BlendMode)
        self.sigma_scale = sigma_scale
        self.store = store
        self.key = None if key is None else tuple(int(k) for k in key)
        channels = int(self.merged_shape[1])
        # the weighted sums of every channel, then the summed weights: one buffer, one write
        self.accumulated = torch.zeros(
            (channels + 1, *(r.stop - r.start for r in self.region)), dtype=torch.float32, device=self.device
        )
        self._importance: dict[tuple[int, ...], torch.Tensor] = {}

    def importance_map(self, window: Sequence[int]) -> torch.Tensor:
        """The importance map of a window of size ``window`` (computed once per size)."""
        window = tuple(int(w) for w in window)
        if window not in self._importance:
            self._importance[window] = compute_importance_map(
                window, mode=self.mode, sigma_scale=self.sigma_scale, device=self.device, dtype=torch.float32
            )
        return self._importance[window]

    def aggregate(self, values: torch.Tensor, location: Sequence[int]) -> None:
        """Add one window ``(1, C, *window)`` whose first voxel is at ``location``."""
        if self.is_finalized:
            raise ValueError("GaussianWeightedMerger is finalized; create a new one to aggregate more windows.")
        if values.ndim != len(self.region) + 2 or values.shape[0] != 1 or values.shape[1] + 1 != len(self.accumulated):
            raise ValueError(
                f"values of shape {tuple(values.shape)} must be one window (1, {len(self.accumulated) - 1}, "
                f"*window) of {len(self.region)} spatial axes."
            )
        window = values.shape[2:]
        in_window, in_region = [], []
        for start, size, r in zip(location, window, self.region):
            first, last = max(int(start), r.start), min(int(start) + size, r.stop)
            if first >= last:
                return
            in_window.append(slice(first - start, last - start))
            in_region.append(slice(first - r.start, last - r.start))
        importance = self.importance_map(window)[tuple(in_window)]
        target = self.accumulated[(slice(None, -1), *in_region)]
        target.addcmul_(values[0][(slice(None), *in_window)].to(self.device, torch.float32), importance)
        self.accumulated[(-1, *in_region)] += importance

    def finalize(self) -> torch.Tensor | Region:
        """In memory: the blended output ``(1, C, *region)``. Out of core: write the partial, return ``region``."""
        if self.store is not None:
            if not self.is_finalized:
                self.store.write(self.key, self.accumulated.cpu().numpy())
                self.is_finalized = True
            return self.region
        if not self.is_finalized:
            self.accumulated = self.accumulated[:-1].div_(self.accumulated[-1:])[None]
            self.is_finalized = True
        return self.accumulated
