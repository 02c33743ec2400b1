"""The global window grid and Gaussian importance map of MONAI's sliding-window inference, for block-wise use."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from monai.data.utils import compute_importance_map, dense_patch_slices, get_valid_patch_size
from monai.inferers.utils import _get_scan_interval
from monai.utils import BlendMode, ensure_tuple_rep, look_up_option

__all__ = ["WindowGrid"]

Region = tuple[slice, ...]


class WindowGrid:
    """The windows and blending weights that ``monai.inferers.sliding_window_inference`` uses for one image.

    MONAI pads an image smaller than the roi (half before, half after, per axis), computes the scan interval
    ``int(roi * (1 - overlap))`` and lays windows with ``dense_patch_slices``; every window's prediction is
    multiplied by the importance map (``compute_importance_map``) and the sum is divided by the summed map.
    This class reproduces that grid with MONAI's own helpers, in the coordinates of the *unpadded* image, so
    that a volume can be predicted window by window in any grouping (blocks) and give the same result.

    Args:
        image_size: spatial size of the image, e.g. ``(Z, Y, X)``.
        roi_size: window size, same length as ``image_size``; non-positive entries take the image size.
        overlap: overlap between windows along each axis, in [0, 1).
        mode: blending mode, ``"gaussian"`` or ``"constant"``.
        sigma_scale: Gaussian sigma as a fraction of the window size.

    Example:
        >>> grid = WindowGrid((10, 20, 20), (8, 16, 16), overlap=0.25)
        >>> len(grid.windows), grid.importance_map.shape
        (8, torch.Size([8, 16, 16]))
    """

    def __init__(
        self,
        image_size: Sequence[int],
        roi_size: Sequence[int],
        overlap: Sequence[float] | float = 0.25,
        mode: BlendMode | str = BlendMode.GAUSSIAN,
        sigma_scale: Sequence[float] | float = 0.125,
    ) -> None:
        self.image_size = tuple(int(s) for s in image_size)
        dims = len(self.image_size)
        if len(roi_size) != dims:
            raise ValueError(f"roi_size {tuple(roi_size)} must have {dims} entries for an image of size {image_size}.")
        self.roi_size = tuple(int(r) if r and r > 0 else s for r, s in zip(roi_size, self.image_size))
        self.overlap = ensure_tuple_rep(overlap, dims)
        for o in self.overlap:
            if not 0 <= o < 1:
                raise ValueError(f"overlap must be in [0, 1); got {overlap}.")
        self.mode = look_up_option(mode, BlendMode)
        self.padded_size = tuple(max(s, r) for s, r in zip(self.image_size, self.roi_size))
        self.pad_before = tuple((p - s) // 2 for p, s in zip(self.padded_size, self.image_size))
        scan_interval = _get_scan_interval(self.padded_size, self.roi_size, dims, self.overlap)
        padded_windows = dense_patch_slices(self.padded_size, self.roi_size, scan_interval)
        # window slices in unpadded image coordinates (may start before 0 / end past the image when padded)
        self.windows: list[Region] = [
            tuple(slice(w.start - p, w.stop - p) for w, p in zip(window, self.pad_before)) for window in padded_windows
        ]
        valid_patch_size = get_valid_patch_size(self.padded_size, self.roi_size)
        self.importance_map: torch.Tensor = compute_importance_map(
            valid_patch_size, mode=self.mode, sigma_scale=sigma_scale, device="cpu", dtype=torch.float32
        )

    @property
    def is_padded(self) -> bool:
        """Whether the roi is larger than the image along some axis (the image is padded with zeros)."""
        return self.padded_size != self.image_size

    def windows_starting_in(self, region: Region) -> list[int]:
        """Indices of the windows whose first voxel inside the image lies in ``region`` (a partition of windows)."""
        indices = []
        for index, window in enumerate(self.windows):
            if all(r.start <= max(w.start, 0) < r.stop for w, r in zip(window, region)):
                indices.append(index)
        return indices

    def windows_intersecting(self, region: Region) -> Iterator[int]:
        """Indices of the windows that overlap ``region``, in grid order."""
        for index, window in enumerate(self.windows):
            if all(w.start < r.stop and r.start < w.stop for w, r in zip(window, region)):
                yield index

    def clip(self, window: Region, region: Region) -> tuple[Region, Region] | None:
        """Intersection of ``window`` with ``region``: (slices relative to the window, slices relative to region)."""
        in_window, in_region = [], []
        for w, r in zip(window, region):
            start, stop = max(w.start, r.start), min(w.stop, r.stop)
            if start >= stop:
                return None
            in_window.append(slice(start - w.start, stop - w.start))
            in_region.append(slice(start - r.start, stop - r.start))
        return tuple(in_window), tuple(in_region)

    def weight_sum(self, region: Region) -> np.ndarray:
        """Sum of the importance maps of all windows over ``region`` (MONAI's count map), float32."""
        shape = tuple(r.stop - r.start for r in region)
        total = torch.zeros(shape, dtype=torch.float32)
        for index in self.windows_intersecting(region):
            clipped = self.clip(self.windows[index], region)
            if clipped is not None:
                in_window, in_region = clipped
                total[in_region] += self.importance_map[in_window]
        return total.numpy()

    def bounding_region(self, indices: Sequence[int]) -> Region:
        """Smallest region of the image holding the given windows (clipped to the image)."""
        starts = np.min([[w.start for w in self.windows[i]] for i in indices], axis=0)
        stops = np.max([[w.stop for w in self.windows[i]] for i in indices], axis=0)
        return tuple(slice(max(int(a), 0), min(int(b), s)) for a, b, s in zip(starts, stops, self.image_size))
